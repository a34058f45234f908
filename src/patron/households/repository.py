"""Household queries.

A household's pool is a ledger account, so the queries that say which pool a
member's points are in join the ledger's ``accounts`` here: the ledger asks the
households (``patron.households.directory``) and never reads their tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, bindparam, delete, func, insert, select, update

from patron.db.engine import (DIALECTS, FEW, LOCK_AT_ONCE, chunks, one_of,
                              one_of_param, one_of_rows)
from patron.households.tables import household_member_periods, household_members, households
from patron.ledger.tables import accounts
from patron.members.tables import members


def insert_household(conn: Connection, **values: Any) -> int:
    return conn.execute(insert(households).values(**values)
                        .returning(households.c.id)).scalar_one()


def household_row(conn: Connection, program_id: int, household_id: int, *,
                  lock: bool = False) -> Any:
    """The household; ``lock`` serialises membership changes of one household."""
    query = select(households).where(households.c.program_id == program_id,
                                     households.c.id == household_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).first()


def set_dissolved(conn: Connection, household_id: int, now: datetime) -> None:
    conn.execute(update(households).where(households.c.id == household_id)
                 .values(status="dissolved", dissolved_at=now))


def member_status(conn: Connection, program_id: int, member_id: int) -> str | None:
    return conn.execute(select(members.c.status).where(
        members.c.program_id == program_id, members.c.id == member_id)).scalar()


def membership(conn: Connection, member_id: int) -> Any:
    return conn.execute(select(household_members)
                        .where(household_members.c.member_id == member_id)).first()


def current_members(conn: Connection, household_id: int) -> list[Any]:
    return list(conn.execute(select(household_members)
                             .where(household_members.c.household_id == household_id)
                             .order_by(household_members.c.joined_at,
                                       household_members.c.member_id)))


def count_members(conn: Connection, household_id: int) -> int:
    return conn.execute(select(func.count()).select_from(household_members)
                        .where(household_members.c.household_id == household_id)).scalar_one()


def memberships_of(conn: Connection, program_id: int,
                   member_ids: Iterable[int]) -> dict[int, Any]:
    found: dict[int, Any] = {}
    for chunk in chunks(set(member_ids)):
        for row in conn.execute(select(household_members).where(
                household_members.c.program_id == program_id,
                one_of(conn, household_members.c.member_id, chunk))):
            found[row.member_id] = row
    return found


def _accounts_with_households(dialect: str, few: int = 0) -> Select[Any]:
    """The statement for a list of members in ``member_ids``, or (``few``) for that many
    members in scalar parameters ``member_ids_0``…: see ``one_of_few``."""
    pool_of = households.alias("pool_of")
    joined = (accounts
              .outerjoin(household_members, household_members.c.member_id == accounts.c.member_id)
              .outerjoin(households, households.c.id == household_members.c.household_id)
              .outerjoin(pool_of, pool_of.c.account_id == accounts.c.id)
              .join(members, members.c.id == accounts.c.member_id))
    return (select(accounts, members.c.status.label("member_status"), members.c.merged_into,
                   household_members.c.household_id,
                   household_members.c.role.label("household_role"),
                   households.c.account_id.label("pool_account_id"),
                   pool_of.c.id.label("holds_household_id")).select_from(joined)
            .where(accounts.c.program_id == bindparam("program_id"),
                   one_of_param(dialect, accounts.c.member_id, "member_ids", few)))


def _locking(statement: Select[Any]) -> Select[Any]:
    return statement.order_by(accounts.c.id).with_for_update(of=accounts)


_ACCOUNTS_WITH_HOUSEHOLDS = {dialect: _accounts_with_households(dialect) for dialect in DIALECTS}
_LOCKING_ACCOUNTS_WITH_HOUSEHOLDS = _locking(_accounts_with_households("postgresql"))
_FEW_ACCOUNTS = {few: _accounts_with_households("postgresql", few) for few in range(1, FEW + 1)}
_FEW = {False: _FEW_ACCOUNTS,
        True: {few: _locking(statement) for few, statement in _FEW_ACCOUNTS.items()}}
"""On PostgreSQL, one member's accounts (a spend, a redemption) or two (a merge) are most of
the calls: each count has a statement of its own, locking or not, which PostgreSQL plans
once."""


def accounts_with_households(conn: Connection, program_id: int,
                             member_ids: Iterable[int], *, lock: bool = False) -> dict[int, Any]:
    """Members' own accounts, each with the household the member belongs to.

    Extra columns: the member's ``member_status`` and ``merged_into`` (so that a write
    that locks the account reads whether the member may spend with it);
    ``household_id``, ``household_role`` and ``pool_account_id`` (None outside a
    household), and ``holds_household_id``: the household whose pool this account is,
    when the member row is a household's account holder.
    Every ledger write asks this, so the statement is built once. ``lock`` (PostgreSQL)
    also locks the accounts, in account id order, in the same statement: the members'
    household rows cannot change under it, as joining and leaving lock the account too.
    It takes one chunk of members at most, so that the order holds for all of them.
    """
    locking = lock and conn.dialect.name == "postgresql"
    query = (_LOCKING_ACCOUNTS_WITH_HOUSEHOLDS if locking
             else _ACCOUNTS_WITH_HOUSEHOLDS[conn.dialect.name])
    ids = sorted(set(member_ids))
    if locking and len(ids) > LOCK_AT_ONCE:
        raise ValueError(f"lock at most {LOCK_AT_ONCE} members' accounts in one statement")
    return {row.member_id: row for row in one_of_rows(conn, query, _FEW[locking], "member_ids",
                                                      ids, program_id=program_id)}


def pool_accounts_of_member(conn: Connection, member_id: int) -> list[int]:
    """The pools of every household the member belongs or belonged to."""
    return list(conn.execute(
        select(households.c.account_id).distinct()
        .join(household_member_periods,
              household_member_periods.c.household_id == households.c.id)
        .where(household_member_periods.c.member_id == member_id)).scalars())


def add_member(conn: Connection, *, program_id: int, household_id: int, member_id: int,
               role: str, now: datetime, actor: str) -> int:
    """A member joins with a role: the current row and the start of a period (its id)."""
    conn.execute(insert(household_members).values(
        program_id=program_id, household_id=household_id, member_id=member_id, role=role,
        joined_at=now))
    return _open_period(conn, program_id, household_id, member_id, role, now, actor)


def remove_member(conn: Connection, household_id: int, member_id: int, now: datetime,
                  reason: str) -> int:
    """The member leaves; returns the id of the period that ended."""
    conn.execute(delete(household_members).where(
        household_members.c.household_id == household_id,
        household_members.c.member_id == member_id))
    return _close_period(conn, household_id, member_id, now, reason)


def change_role(conn: Connection, *, program_id: int, household_id: int, member_id: int,
                role: str, now: datetime, actor: str) -> None:
    """A new role is a new period: the history says who could spend when."""
    conn.execute(update(household_members).where(
        household_members.c.household_id == household_id,
        household_members.c.member_id == member_id).values(role=role))
    _close_period(conn, household_id, member_id, now, "role_changed")
    _open_period(conn, program_id, household_id, member_id, role, now, actor)


def _open_period(conn: Connection, program_id: int, household_id: int, member_id: int,
                 role: str, now: datetime, actor: str) -> int:
    return conn.execute(insert(household_member_periods).values(
        program_id=program_id, household_id=household_id, member_id=member_id, role=role,
        joined_at=now, actor=actor).returning(household_member_periods.c.id)).scalar_one()


def _close_period(conn: Connection, household_id: int, member_id: int, now: datetime,
                  reason: str) -> int:
    period = household_member_periods.c
    period_id = conn.execute(select(period.id).where(
        period.household_id == household_id, period.member_id == member_id,
        period.left_at.is_(None))).scalar_one()
    conn.execute(update(household_member_periods).where(period.id == period_id)
                 .values(left_at=now, end_reason=reason))
    return period_id


def periods(conn: Connection, household_id: int) -> list[Any]:
    return list(conn.execute(select(household_member_periods)
                             .where(household_member_periods.c.household_id == household_id)
                             .order_by(household_member_periods.c.id)))


def find_households(conn: Connection, program_id: int, text: str, limit: int) -> list[int]:
    """Household ids, newest first: all of them, or those whose name holds ``text``, whose
    id it is, or that a member with that id belongs to."""
    query = select(households.c.id).where(households.c.program_id == program_id)
    text = text.strip()
    if text.isdigit() and int(text) < 2**63:
        member_of = select(household_members.c.household_id).where(
            household_members.c.program_id == program_id,
            household_members.c.member_id == int(text))
        query = query.where((households.c.id == int(text)) | households.c.id.in_(member_of))
    elif text:
        query = query.where(func.lower(households.c.name).contains(text.lower(),
                                                                   autoescape=True))
    return list(conn.execute(query.order_by(households.c.id.desc()).limit(limit)).scalars())
