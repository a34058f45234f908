"""Ledger queries. Every balance change goes through the account row first,
which serialises writers of one account (a row lock on PostgreSQL; SQLite's
``BEGIN IMMEDIATE`` already serialises all writers).

Lock order, so that no two transactions wait for each other in a circle: a
household row (membership changes only), then members' own accounts in id
order, then household pool accounts in id order."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import json

from sqlalchemy import (ARRAY, BigInteger, Connection, Text, and_, bindparam, case, cast, func,
                        insert, literal, or_, select, update)
from sqlalchemy.dialects.postgresql import REGCLASS

from patron.db.engine import (BULK_ROWS, _reserve_ids, chunks, insert_rows,
                              insert_rows_returning_ids, one_of, rows_of)
from patron.ledger.domain import Lot, LotState
from patron.ledger.tables import (accounts, expiry_notices, ledger_entries, lot_moves,
                                  lot_transfers, lots)


def open_accounts(conn: Connection, program_id: int, member_ids: Sequence[int],
                  now: datetime) -> None:
    insert_rows(conn, accounts, [
        dict(program_id=program_id, member_id=m, available=0, pending=0, lifetime_earned=0,
             created_at=now) for m in member_ids])


def accounts_by_member(conn: Connection, program_id: int,
                       member_ids: Iterable[int]) -> dict[int, Any]:
    found: dict[int, Any] = {}
    for chunk in chunks(set(member_ids)):
        for row in conn.execute(select(accounts).where(accounts.c.program_id == program_id,
                                                       one_of(conn, accounts.c.member_id, chunk))):
            found[row.member_id] = row
    return found


def accounts_by_id(conn: Connection, account_ids: Iterable[int], *,
                   lock: bool = False) -> dict[int, Any]:
    """Account rows by id; ``lock`` takes their row locks in id order (PostgreSQL)."""
    ids = sorted(set(account_ids))
    if not ids:
        return {}
    query = select(accounts).where(accounts.c.id.in_(ids)).order_by(accounts.c.id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return {row.id: row for row in conn.execute(query)}


def account_row(conn: Connection, account_id: int, *, lock: bool = False) -> Any:
    query = select(accounts).where(accounts.c.id == account_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).first()


def guarded_debit(conn: Connection, account_id: int, points: int) -> bool:
    """Take ``points`` from the available balance only if they are there."""
    result = conn.execute(update(accounts).where(accounts.c.id == account_id,
                                                 accounts.c.available >= points)
                          .values(available=accounts.c.available - points))
    return result.rowcount == 1


_DEBIT_UNLESS_RECORDED = (
    update(accounts)
    .where(accounts.c.id == bindparam("debit_account"),
           accounts.c.available >= bindparam("debit_points"),
           ~select(ledger_entries.c.id).where(
               ledger_entries.c.account_id == bindparam("debit_account"),
               ledger_entries.c.idempotency_key == bindparam("debit_key")).exists())
    .values(available=accounts.c.available - bindparam("debit_points"))
    .returning(accounts.c.available, accounts.c.pending, accounts.c.lifetime_earned))


def debit_unless_recorded(conn: Connection, account_id: int, points: int, key: str) -> Any:
    """Take ``points`` from the available balance only if they are there and no entry of
    the account holds ``key`` yet; the account's balances after, or None when it did not.

    One round trip for what a spend checks first (the replay, the balance); a retry
    racing its first request still meets ``UNIQUE(account_id, idempotency_key)``.
    The statement is built once: building it cost more Python than running it.
    """
    found = rows_of(conn, _DEBIT_UNLESS_RECORDED, dict(
        debit_account=account_id, debit_points=points, debit_key=key))
    return found[0] if found else None


def apply_deltas(conn: Connection, deltas: dict[int, tuple[int, int, int]]) -> None:
    """Add (available, pending, lifetime) deltas, in account order to avoid deadlocks."""
    rows = [dict(a_id=a, d_available=d[0], d_pending=d[1], d_lifetime=d[2])
            for a, d in sorted(deltas.items()) if any(d)]
    if not rows:
        return
    if conn.dialect.name == "postgresql" and len(rows) >= BULK_ROWS:
        _apply_deltas_at_once(conn, rows)
        return
    conn.execute(update(accounts).where(accounts.c.id == bindparam("a_id")).values(
        available=accounts.c.available + bindparam("d_available"),
        pending=accounts.c.pending + bindparam("d_pending"),
        lifetime_earned=accounts.c.lifetime_earned + bindparam("d_lifetime")), rows)


_ADD_RETURNING = (update(accounts).where(accounts.c.id == bindparam("a_id")).values(
    available=accounts.c.available + bindparam("d_available"),
    pending=accounts.c.pending + bindparam("d_pending"),
    lifetime_earned=accounts.c.lifetime_earned + bindparam("d_lifetime"))
    .returning(accounts.c.id, accounts.c.available))


def add_to_balances(conn: Connection, deltas: dict[int, tuple[int, int, int]]) -> dict[int, int]:
    """``apply_deltas`` that returns each changed account's available balance after it,
    so a writer needs no balance read beforehand (earns: who still owes points)."""
    rows = [dict(a_id=a, d_available=d[0], d_pending=d[1], d_lifetime=d[2])
            for a, d in sorted(deltas.items()) if any(d)]
    if conn.dialect.name == "postgresql" and len(rows) >= BULK_ROWS:
        return dict(_apply_deltas_at_once(conn, rows, returning=True))
    return {account_id: available for row in rows
            for account_id, available in rows_of(conn, _ADD_RETURNING, row)}


def _apply_deltas_at_once(conn: Connection, rows: list[dict[str, int]], *,
                          returning: bool = False) -> list[Any]:
    """PostgreSQL, many accounts: lock them in id order, then one UPDATE from arrays
    (one statement per account took ~60 ms for a 1,000-event batch); with
    ``returning``, the ids and available balances after it."""
    ids = [r["a_id"] for r in rows]
    conn.execute(select(accounts.c.id).where(one_of(conn, accounts.c.id, ids))
                 .order_by(accounts.c.id).with_for_update())
    columns = ("a_id", "d_available", "d_pending", "d_lifetime")
    delta = func.unnest(*[bindparam(None, [r[c] for r in rows], type_=ARRAY(BigInteger))
                          for c in columns]).table_valued(*columns).render_derived()
    statement = update(accounts).where(accounts.c.id == delta.c.a_id).values(
        available=accounts.c.available + delta.c.d_available,
        pending=accounts.c.pending + delta.c.d_pending,
        lifetime_earned=accounts.c.lifetime_earned + delta.c.d_lifetime)
    if not returning:
        conn.execute(statement)
        return []
    return list(conn.execute(statement.returning(accounts.c.id, accounts.c.available)))


def insert_entries(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    return insert_rows_returning_ids(conn, ledger_entries, rows)


def insert_lots(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    return insert_rows_returning_ids(conn, lots, rows)


def insert_moves(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    insert_rows(conn, lot_moves, rows)


_UPDATE_LOT = update(lots).where(lots.c.id == bindparam("lot_id")).values(
    remaining=bindparam("new_remaining"), state=bindparam("new_state"))


def update_lots(conn: Connection, changed: Sequence[Lot]) -> None:
    rows = [dict(lot_id=lot.id, new_remaining=lot.remaining, new_state=lot.state.value)
            for lot in changed]
    if len(rows) == 1:
        rows_of(conn, _UPDATE_LOT, rows[0])
    elif rows:
        conn.execute(_UPDATE_LOT, rows)


def _lot(row: Any) -> Lot:
    return Lot(row.id, row.points, row.remaining, LotState(row.state), row.earned_at,
               row.available_at, row.expires_at)


_LIVE_LOTS = select(lots).where(
    lots.c.account_id == bindparam("live_account"),
    lots.c.state.in_([bindparam(f"live_{state.value}", state.value)
                      for state in (LotState.OPEN, LotState.PENDING, LotState.DEBT)]))
"""Built once, its states in parameters of their own (a list of values SQLAlchemy renders
anew on every call), so it goes through ``rows_of``."""


def live_lots(conn: Connection, account_id: int) -> list[Lot]:
    """Open, pending and debt lots of one account (the ones a balance is made of)."""
    return [_lot(r) for r in rows_of(conn, _LIVE_LOTS, dict(live_account=account_id))]


def live_lots_by_earner(conn: Connection, account_id: int) -> list[tuple[Lot, int]]:
    """Live lots of one account, each with the member whose entry created it."""
    rows = conn.execute(
        select(lots, ledger_entries.c.member_id.label("earner_id"))
        .join(ledger_entries, ledger_entries.c.id == lots.c.entry_id)
        .where(lots.c.account_id == account_id,
               lots.c.state.in_([LotState.OPEN.value, LotState.PENDING.value,
                                 LotState.DEBT.value])))
    return [(_lot(r), r.earner_id) for r in rows]


def insert_lot_transfers(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    insert_rows(conn, lot_transfers, rows)


def lot_now(conn: Connection, lot_id: int) -> Any:
    """The lot that holds what is left of ``lot_id`` today, after any transfers."""
    seen = {lot_id}
    while True:
        successor = conn.execute(select(lot_transfers.c.to_lot_id)
                                 .where(lot_transfers.c.from_lot_id == lot_id)).scalar()
        if successor is None or successor in seen:
            return conn.execute(select(lots).where(lots.c.id == lot_id)).first()
        seen.add(successor)
        lot_id = successor


def lots_by_id(conn: Connection, lot_ids: Sequence[int]) -> list[Lot]:
    return [_lot(r) for r in conn.execute(select(lots).where(lots.c.id.in_(lot_ids)))]


def accounts_with_due_lots(conn: Connection, state: LotState, column: str, now: datetime,
                           limit: int) -> list[int]:
    due = getattr(lots.c, column)
    query = (select(lots.c.account_id).where(lots.c.state == state.value, due <= now)
             .group_by(lots.c.account_id).order_by(lots.c.account_id).limit(limit))
    return list(conn.execute(query).scalars())


def entry_by_key(conn: Connection, account_id: int, key: str) -> Any:
    return conn.execute(select(ledger_entries).where(
        ledger_entries.c.account_id == account_id,
        ledger_entries.c.idempotency_key == key)).first()


def page_entries(conn: Connection, account_id: int, before: int | None, limit: int, *,
                 member_id: int | None = None, pool_ids: Sequence[int] = ()) -> list[Any]:
    """Entries of one account, newest first; with ``member_id``, also that member's
    entries in the household pools ``pool_ids``."""
    where = ledger_entries.c.account_id == account_id
    if member_id is not None and pool_ids:
        where = or_(where, and_(ledger_entries.c.account_id.in_(list(pool_ids)),
                                ledger_entries.c.member_id == member_id))
    query = select(ledger_entries).where(where)
    if before is not None:
        query = query.where(ledger_entries.c.id < before)
    return list(conn.execute(query.order_by(ledger_entries.c.id.desc()).limit(limit)))


def ledger_totals(conn: Connection, account_id: int) -> dict[str, int]:
    """Balances recomputed from the entries alone, for audits and tests."""
    e = ledger_entries
    row = conn.execute(select(
        func.coalesce(func.sum(e.c.points).filter(e.c.status == "posted"), 0).label("posted"),
        func.coalesce(func.sum(e.c.points).filter(e.c.status == "pending"), 0).label("pending"),
        func.coalesce(func.sum(e.c.points).filter(e.c.kind == "release"), 0).label("released"),
    ).where(e.c.account_id == account_id)).one()
    lot_row = conn.execute(select(
        func.coalesce(func.sum(lots.c.remaining).filter(lots.c.state.in_(["open", "debt"])), 0),
        func.coalesce(func.sum(lots.c.remaining).filter(lots.c.state == "pending"), 0),
    ).where(lots.c.account_id == account_id)).one()
    return {"available": int(row.posted), "pending": int(row.pending) - int(row.released),
            "open_lots": int(lot_row[0]), "pending_lots": int(lot_row[1])}


def moves_of_entry(conn: Connection, entry_id: int) -> list[Any]:
    return list(conn.execute(select(lot_moves.c.lot_id, lot_moves.c.points)
                             .where(lot_moves.c.entry_id == entry_id).order_by(lot_moves.c.id)))


def transfers_of_entries(conn: Connection, entry_ids: Sequence[int]) -> list[tuple[int, int]]:
    """``(from lot, to lot)`` of every lot the transfer entries ``entry_ids`` moved."""
    if not entry_ids:
        return []
    return [(r.from_lot_id, r.to_lot_id) for r in conn.execute(
        select(lot_transfers.c.from_lot_id, lot_transfers.c.to_lot_id)
        .where(lot_transfers.c.entry_id.in_(list(entry_ids))).order_by(lot_transfers.c.id))]


def live_lots_among(conn: Connection, account_id: int, lot_ids: Iterable[int]) -> list[Lot]:
    """The lots of ``lot_ids`` still live (open, pending, debt) in ``account_id``."""
    found: list[Lot] = []
    for chunk in chunks(lot_ids):
        found += [_lot(r) for r in conn.execute(select(lots).where(
            one_of(conn, lots.c.id, chunk), lots.c.account_id == account_id,
            lots.c.state.in_([LotState.OPEN.value, LotState.PENDING.value,
                              LotState.DEBT.value])))]
    return found


def lots_among(conn: Connection, lot_ids: Iterable[int]) -> dict[int, Lot]:
    found: dict[int, Lot] = {}
    for chunk in chunks(lot_ids):
        found.update({r.id: _lot(r) for r in conn.execute(select(lots).where(
            one_of(conn, lots.c.id, chunk)))})
    return found


def taken_from_lots(conn: Connection, lot_ids: Iterable[int], kinds: Sequence[str],
                    after_entry: int) -> dict[int, int]:
    """Points entries of ``kinds`` written after ``after_entry`` took from each lot."""
    taken: dict[int, int] = {}
    for chunk in chunks(lot_ids):
        rows = conn.execute(
            select(lot_moves.c.lot_id, func.sum(lot_moves.c.points))
            .join(ledger_entries, ledger_entries.c.id == lot_moves.c.entry_id)
            .where(one_of(conn, lot_moves.c.lot_id, chunk), lot_moves.c.points < 0,
                   ledger_entries.c.kind.in_(list(kinds)), ledger_entries.c.id > after_entry)
            .group_by(lot_moves.c.lot_id))
        taken.update({lot_id: -int(points) for lot_id, points in rows})
    return taken


def entry_ids_by_keys(conn: Connection, account_id: int, keys: Sequence[str]) -> list[int]:
    return list(conn.execute(select(ledger_entries.c.id).where(
        ledger_entries.c.account_id == account_id,
        ledger_entries.c.idempotency_key.in_(list(keys))).order_by(ledger_entries.c.id))
        .scalars())



# Moving many lots at once (a merge): the lots are named by id, the copies are made by
# the database from the lots themselves, so no lot's dates pass through Python.

def movable_lots(conn: Connection, account_id: int,
                 entry_ids: Sequence[int] | None = None) -> list[tuple[int, LotState, int]]:
    """``(id, state, remaining)`` of the account's live lots with something left (only
    those created by ``entry_ids``, when given), by id."""
    query = select(lots.c.id, lots.c.state, lots.c.remaining).where(
        lots.c.account_id == account_id, lots.c.remaining != 0,
        lots.c.state.in_([LotState.OPEN.value, LotState.PENDING.value, LotState.DEBT.value]))
    if entry_ids is not None:
        query = query.where(lots.c.entry_id.in_(list(entry_ids)))
    states = {state.value: state for state in LotState}
    return [(i, states[s], r) for i, s, r in conn.execute(query.order_by(lots.c.id)).all()]


def reserve_lot_ids(conn: Connection, count: int) -> list[int]:
    """``count`` new lot ids, ascending, that nobody else can take (see ``_reserve_ids``);
    on PostgreSQL as one text value: 10,000 rows of one id each took 0.4 s to fetch."""
    if not count:
        return []
    if conn.dialect.name != "postgresql":
        return _reserve_ids(conn, lots, count)
    sequence = select(func.pg_get_serial_sequence(lots.name, "id")).scalar_subquery()
    ids = conn.execute(select(func.array_to_string(func.array_agg(
        func.nextval(cast(sequence, REGCLASS))), ",")).select_from(
        func.generate_series(1, count))).scalar_one()
    return sorted(int(i) for i in ids.split(","))


def _bigints(values: Sequence[int]) -> Any:
    """A ``BIGINT[]`` parameter sent as text: psycopg dumps a list element by element
    (0.6 s for the two arrays of 10,000 ids a merge sends)."""
    return cast(bindparam(None, "{" + ",".join(map(str, values)) + "}", type_=Text),
                ARRAY(BigInteger))


def _pairs(conn: Connection, old_ids: Sequence[int], new_ids: Sequence[int]) -> Any:
    """``(old_id, new_id)`` rows as a table: two arrays on PostgreSQL; on SQLite one JSON
    array, the new ids being consecutive there (see ``_reserve_ids``)."""
    if conn.dialect.name == "postgresql":
        return func.unnest(_bigints(old_ids), _bigints(new_ids)).table_valued(
            "old_id", "new_id").render_derived()
    assert list(new_ids) == list(range(new_ids[0], new_ids[0] + len(new_ids))), new_ids
    each = func.json_each(json.dumps(list(old_ids))).table_valued("key", "value")
    return select(each.c.value.label("old_id"),
                  (each.c.key + new_ids[0]).label("new_id")).subquery()


def _by_state(posted: int | None, pending: int | None) -> Any:
    """The entry id for a lot: ``pending`` for a pending lot, else ``posted``."""
    return case((lots.c.state == LotState.PENDING.value, literal(pending, BigInteger)),
                else_=literal(posted, BigInteger))


def hand_over_lots(conn: Connection, old_ids: Sequence[int], new_ids: Sequence[int],
                   target_account_id: int, out_entries: tuple[int | None, int | None],
                   in_entries: tuple[int | None, int | None]) -> None:
    """Move each lot ``old_ids[i]``'s whole remainder to ``target_account_id`` as the new
    lot ``new_ids[i]``, in four statements whatever the number of lots: the giving
    entry's moves (``out_entries``: posted, pending), the copies (same remainder as
    points, state, earn date, availability and expiry; created by ``in_entries``),
    their ``lot_transfers`` links, and the old lots closed. Rows go in the order of
    ``old_ids``, as they would one by one."""
    if not old_ids:
        return
    pairs = _pairs(conn, old_ids, new_ids)

    def each(*columns: Any) -> Any:
        return select(*columns).join_from(pairs, lots, lots.c.id == pairs.c.old_id).order_by(
            pairs.c.new_id)
    conn.execute(insert(lot_moves).from_select(["entry_id", "lot_id", "points"], each(
        _by_state(*out_entries), lots.c.id, -lots.c.remaining)))
    conn.execute(insert(lots).from_select(
        ["id", "program_id", "account_id", "entry_id", "points", "remaining", "state",
         "earned_at", "available_at", "expires_at"],
        each(pairs.c.new_id, lots.c.program_id, literal(target_account_id, BigInteger),
             _by_state(*in_entries), lots.c.remaining, lots.c.remaining, lots.c.state,
             lots.c.earned_at, lots.c.available_at, lots.c.expires_at)))
    conn.execute(insert(lot_transfers).from_select(["from_lot_id", "to_lot_id", "entry_id"], each(
        pairs.c.old_id, pairs.c.new_id, _by_state(*in_entries))))
    conn.execute(update(lots).where(lots.c.id.in_(select(pairs.c.old_id)))
                 .values(remaining=0, state=LotState.CLOSED.value))


def taken_from_copies(conn: Connection, account_id: int, entry_ids: Sequence[int],
                      kinds: Sequence[str], after_entry: int) -> dict[int, int]:
    """``taken_from_lots`` for the lots of ``account_id`` that its entries ``entry_ids``
    created (the copies a transfer made), found by the account's index in one query."""
    if not entry_ids:
        return {}
    rows = conn.execute(
        select(lot_moves.c.lot_id, func.sum(lot_moves.c.points))
        .join(lots, lots.c.id == lot_moves.c.lot_id)
        .join(ledger_entries, ledger_entries.c.id == lot_moves.c.entry_id)
        .where(lots.c.account_id == account_id, lots.c.entry_id.in_(list(entry_ids)),
               lot_moves.c.points < 0, ledger_entries.c.kind.in_(list(kinds)),
               ledger_entries.c.id > after_entry)
        .group_by(lot_moves.c.lot_id))
    return {lot_id: -int(points) for lot_id, points in rows}


def entry_ids_of_events(conn: Connection, account_id: int, event_ids: Sequence[int]) -> list[int]:
    """The account's entries written for the events ``event_ids``."""
    found: list[int] = []
    for chunk in chunks(event_ids):
        found += conn.execute(select(ledger_entries.c.id).where(
            ledger_entries.c.account_id == account_id,
            one_of(conn, ledger_entries.c.event_id, chunk))).scalars()
    return sorted(found)


def drop_detail(conn: Connection, entry_ids: Sequence[int], key: str) -> None:
    """Remove ``key`` from the entries' ``details``: a quote of someone's words (a transfer's
    message) that an erasure takes out. Points, kinds, reasons and dates never change."""
    if not entry_ids:
        return
    rows = conn.execute(select(ledger_entries.c.id, ledger_entries.c.details).where(
        ledger_entries.c.id.in_(list(entry_ids)))).all()
    changed = [{"entry": row.id, "kept": {k: v for k, v in row.details.items() if k != key}}
               for row in rows if isinstance(row.details, dict) and key in row.details]
    if changed:
        conn.execute(update(ledger_entries).where(ledger_entries.c.id == bindparam("entry"))
                     .values(details=bindparam("kept")), changed)


# --------------------------------------------------------------------------- expiry notices

def accounts_expiring(conn: Connection, start: datetime, end: datetime, after: int,
                      limit: int) -> list[int]:
    """Accounts with open lots expiring in ``(start, end]``, after ``after``, in id order."""
    query = (select(lots.c.account_id)
             .where(lots.c.state == LotState.OPEN.value, lots.c.expires_at > start,
                    lots.c.expires_at <= end, lots.c.remaining > 0, lots.c.account_id > after)
             .group_by(lots.c.account_id).order_by(lots.c.account_id).limit(limit))
    return list(conn.execute(query).scalars())


def lots_expiring(conn: Connection, account_ids: Sequence[int], start: datetime,
                  end: datetime) -> list[Any]:
    """``program_id, member_id, account_id, remaining, expires_at`` of those accounts'
    open lots expiring in ``(start, end]``."""
    return conn.execute(
        select(accounts.c.program_id, accounts.c.member_id, lots.c.account_id,
               lots.c.remaining, lots.c.expires_at)
        .join(accounts, accounts.c.id == lots.c.account_id)
        .where(one_of(conn, lots.c.account_id, account_ids),
               lots.c.state == LotState.OPEN.value, lots.c.expires_at > start,
               lots.c.expires_at <= end, lots.c.remaining > 0)).all()


def noticed_days(conn: Connection, account_ids: Sequence[int], since: Any) -> set[tuple[int, Any]]:
    """``(account_id, day)`` already told of, from ``since`` on."""
    rows = conn.execute(select(expiry_notices.c.account_id, expiry_notices.c.day)
                        .where(one_of(conn, expiry_notices.c.account_id, account_ids),
                               expiry_notices.c.day >= since))
    return {(row.account_id, row.day) for row in rows}


def insert_notices(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    return insert_rows_returning_ids(conn, expiry_notices, rows)
