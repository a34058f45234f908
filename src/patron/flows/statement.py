"""Ledger statements: a member's or a household's entries, each naming the event behind it.

The ledger records which event an entry came from (its ``event_id``) but does
not read the events' tables, and it does not know which households a member
belonged to. A statement is composed here, one floor up: the ledger pages its
entries, the events name theirs (external id and type), and the households say
which pools a member earned or spent in.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from patron.events import repository as events_repository
from patron.households import repository as households_repository
from patron.households import service as households
from patron.ledger import service as ledger
from patron.ledger.schemas import LedgerPage
from patron.program.service import Program


def account_ledger(conn: Connection, account_id: int, before: int | None, limit: int, *,
                   member_id: int | None = None, pool_ids: Sequence[int] = ()) -> LedgerPage:
    """One account's entries, newest first (with ``member_id``, also theirs in ``pool_ids``)."""
    page = ledger.entry_rows(conn, account_id, before, limit, member_id=member_id,
                             pool_ids=pool_ids)
    named = events_repository.names_of(conn, {r.event_id for r in page.rows
                                              if r.event_id is not None})
    return LedgerPage(items=[ledger.entry_out(r, named.get(r.event_id)) for r in page.rows],
                      next_cursor=page.next_cursor)


def ledger_page(conn: Connection, program: Program, member_id: int, before: int | None,
                limit: int) -> LedgerPage:
    """The member's own account's entries and their entries in any household pool."""
    holding = ledger.holding_of(conn, program, member_id)
    pools = ([] if holding.holds_household_id is not None
             else households_repository.pool_accounts_of_member(conn, member_id))
    return account_ledger(conn, holding.own.id, before, limit, member_id=member_id,
                          pool_ids=pools)


def household_ledger(conn: Connection, program: Program, household_id: int,
                     before: int | None, limit: int) -> LedgerPage:
    """The pool's entries, newest first; each names the member it is for."""
    return account_ledger(conn, households.pool_account_id(conn, program, household_id),
                          before, limit)
