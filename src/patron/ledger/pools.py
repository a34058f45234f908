"""Where a member's points are held, as the ledger is told it.

The ledger keeps accounts, not families. A member's points are in their own
account unless a *pool directory* says the member sits in a pool (a household's
shared account) and the program pools points. Patron's households answer for
the directory (``patron.households.directory``); it is registered once, at
wiring time, in ``patron.flows.subscribers``. Until one is registered nobody
sits in a pool and every member earns and spends in their own account.

The ledger asks for a batch of members at once, so ingest asks once per batch.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection

from patron.errors import Forbidden
from patron.ledger import repository
from patron.program.service import Program


class HouseholdRoleForbidden(Forbidden):
    """A member whose place in a household does not let them spend its pool.

    Defined here because the ledger is what refuses the spend;
    ``patron.households.domain`` knows it by the same name.
    """

    code = "household_role_forbidden"
    title = "The member's household role does not allow this"


@dataclass(frozen=True)
class PoolSeat:
    """One member's place towards a household pool."""

    household_id: int
    pool_account_id: int
    """The pool's ledger account."""
    role: str | None
    """owner, adult or child; None for the member row that holds the pool."""
    may_spend: bool
    """Whether the role lets the member spend the pool's points."""
    holder: bool = False
    """The member row is the household's pool holder, not a person."""


class PoolDirectory(Protocol):
    """What the ledger asks about pools; the households domain answers.

    ``accounts`` reads members' own accounts together with their seats, so finding
    where a batch's points are held stays one query.
    """

    def accounts(self, conn: Connection, program_id: int, member_ids: Collection[int], *,
                 lock: bool = False) -> tuple[Mapping[int, Any], Mapping[int, PoolSeat]]:
        """Each member's own account row, and the seats of those that have one;
        ``lock`` (PostgreSQL, at most ``LOCK_AT_ONCE`` members) locks the accounts in id
        order in the same statement."""
        ...

    def pools_points(self, conn: Connection, program: Program) -> bool:
        """Whether the program currently pools its households' points."""
        ...


class NoPools:
    """The directory of a ledger without households: every member holds their own points."""

    def accounts(self, conn: Connection, program_id: int, member_ids: Collection[int], *,
                 lock: bool = False) -> tuple[Mapping[int, Any], Mapping[int, PoolSeat]]:
        own = repository.accounts_by_member(conn, program_id, member_ids)
        if lock:
            locked = repository.accounts_by_id(conn, [a.id for a in own.values()], lock=True)
            own = {member_id: locked[row.id] for member_id, row in own.items()}
        return own, {}

    def pools_points(self, conn: Connection, program: Program) -> bool:
        return False


_directory: list[PoolDirectory] = [NoPools()]


def use_directory(directory: PoolDirectory) -> None:
    """Make ``directory`` the one the ledger asks (wiring time, once)."""
    _directory[0] = directory


def directory() -> PoolDirectory:
    return _directory[0]
