"""Where a member's points are held, and what the member may do with them.

A member's points are in their own account, or, while they belong to a
household and the program pools points, in the household's pool. The ledger
does not know households: it asks the pool directory (``patron.ledger.pools``)
and turns the answer into a ``Holding``, which every write starts from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from patron.db.engine import LOCK_AT_ONCE
from patron.errors import NotFound
from patron.ledger import pools, repository
from patron.ledger.pools import HouseholdRoleForbidden, PoolSeat
from patron.program.service import Program


class AccountNotFound(NotFound):
    code = "member_not_found"
    title = "Member not found"


@dataclass(frozen=True)
class Holding:
    """Where one member's points are now, and what the member may do with them."""

    member_id: int
    own: Any
    """The member's own account row."""
    account: Any
    """The account the member's points go to and come from: ``own`` or the pool."""
    household_id: int | None = None
    role: str | None = None
    pooled: bool = False
    """``account`` is the household's pool."""
    holds_household_id: int | None = None
    """The member row is this household's account holder, not a person."""
    role_may_spend: bool = False
    """The member's household role lets them spend the pool (owners and adults)."""

    @property
    def can_spend(self) -> bool:
        if self.holds_household_id is not None:
            return False
        return not self.pooled or self.role_may_spend


def _holding(member_id: int, own: Any, seat: PoolSeat | None,
             pool_accounts: dict[int, Any]) -> Holding:
    if seat is None:
        return Holding(member_id, own, own)
    if seat.holder:
        return Holding(member_id, own, own, holds_household_id=seat.household_id)
    pool = pool_accounts.get(seat.pool_account_id)
    return Holding(member_id, own, pool if pool is not None else own, seat.household_id,
                   seat.role, pool is not None, role_may_spend=seat.may_spend)


def holdings(conn: Connection, program: Program, member_ids: Iterable[int]) -> dict[int, Holding]:
    """Each member's holding; a pooled member's is the household pool.

    The pool directory (``patron.ledger.pools``) says who sits in which pool;
    whether the program pools points is asked only when one of them does.
    """
    own, seats = pools.directory().accounts(conn, program.id, member_ids)
    pool_ids = [s.pool_account_id for s in seats.values() if not s.holder]
    held: dict[int, Any] = {}
    if pool_ids and pools.directory().pools_points(conn, program):
        held = repository.accounts_by_id(conn, pool_ids)
    return {member_id: _holding(member_id, row, seats.get(member_id), held)
            for member_id, row in own.items()}


def locked_holdings(conn: Connection, program: Program,
                    member_ids: Iterable[int]) -> dict[int, Holding]:
    """Each member's holding, their accounts locked as ``lock_points_accounts`` locks them.

    What ingest holds every account a batch writes to with, before it reads limits and
    lots; the holdings stay true until commit, so the batch's earns start from them.
    On PostgreSQL, for up to ``LOCK_AT_ONCE`` members, the own accounts are locked and
    read in one statement. SQLite needs no lock (``BEGIN IMMEDIATE``).
    """
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    if conn.dialect.name != "postgresql":
        return holdings(conn, program, ids)
    if len(ids) > LOCK_AT_ONCE:
        lock_points_accounts(conn, program.id, ids)
        return holdings(conn, program, ids)
    own, seats = pools.directory().accounts(conn, program.id, ids, lock=True)
    pool_ids = [s.pool_account_id for s in seats.values() if not s.holder]
    locked = repository.accounts_by_id(conn, pool_ids, lock=True)
    held = locked if pool_ids and pools.directory().pools_points(conn, program) else {}
    return {member_id: _holding(member_id, row, seats.get(member_id), held)
            for member_id, row in own.items()}


def lock_points_accounts(conn: Connection, program_id: int, member_ids: Iterable[int]) -> None:
    """Lock members' own accounts in id order, then the pools of their households.

    What ingest's ``lock_accounts`` calls to hold every account a batch writes
    to before it reads limits and lots (SQLite needs nothing).
    """
    if conn.dialect.name != "postgresql":
        return
    own, seats = pools.directory().accounts(conn, program_id, member_ids)
    repository.accounts_by_id(conn, [a.id for a in own.values()], lock=True)
    repository.accounts_by_id(conn, [s.pool_account_id for s in seats.values() if not s.holder],
                              lock=True)


def holding_of(conn: Connection, program: Program, member_id: int) -> Holding:
    found = holdings(conn, program, [member_id]).get(member_id)
    if found is None:
        raise AccountNotFound(f"member {member_id} does not exist in this program",
                              member_id=member_id)
    return found


def locked_holding(conn: Connection, program: Program, member_id: int) -> Holding:
    """``holding_of`` with the member's accounts locked as ``locked_holdings`` locks them:
    on PostgreSQL the own account is locked and read in one statement (then a pool's, when
    the member's points are pooled)."""
    found = locked_holdings(conn, program, [member_id]).get(member_id)
    if found is None:
        raise AccountNotFound(f"member {member_id} does not exist in this program",
                              member_id=member_id)
    return found


def account_of(conn: Connection, program: Program, member_id: int) -> Any:
    """The account a member's points are in (their household's pool when pooled)."""
    return holding_of(conn, program, member_id).account


def writing_holding(conn: Connection, program: Program, member_id: int) -> Holding:
    """The member's holding for a write, settled against membership changes.

    A pooled member's own account is locked first (joining and leaving lock it
    too), then the holding is read again: a spend never goes to a pool the
    member has just left, and the role it is checked against is the current one.
    """
    holding = holding_of(conn, program, member_id)
    if holding.household_id is None or conn.dialect.name != "postgresql":
        return holding
    repository.account_row(conn, holding.own.id, lock=True)
    return holding_of(conn, program, member_id)


def refuse_spend(holding: Holding) -> None:
    """Children of a pooled household, and a household's account holder, do not spend."""
    if holding.can_spend:
        return
    if holding.holds_household_id is not None:
        raise HouseholdRoleForbidden(
            f"member {holding.member_id} holds household {holding.holds_household_id}'s pool: "
            "spend through the household, naming the member who spends",
            household_id=holding.holds_household_id)
    raise HouseholdRoleForbidden(
        f"member {holding.member_id} is a {holding.role} of household {holding.household_id} "
        "and may not spend its pooled points", household_id=holding.household_id,
        role=holding.role)
