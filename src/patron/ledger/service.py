"""Ledger use cases: earn, spend, adjust and the balance, on top of ``domain``.

The arithmetic lives in ``domain``; this module loads the lots, asks the domain
what to do, and writes it down. It never commits.

A member's points live in their own account, or, while they belong to a
household and the program pools households' points, in the household's pool:
``patron.ledger.holdings`` says which, as the pool directory tells it.
Entries always name the member they are for, so a pool's ledger still says who
earned and who spent.

Earning, spending and adjusting are announced (``hooks.PointsEarned`` and
``hooks.PointsSpent``, see there which entries) in the writing transaction, and so is
an available balance that went up, with its value before and after
(``hooks.PointsAvailable``: what a reward's "you can now redeem it" is read from).

Pages of entries name only the event row behind an entry; a statement that
names the events is composed in ``patron.flows.statement``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection

from patron import hooks
from patron.errors import IdempotencyKeyReused, InvalidInput
from patron.ledger import domain, repository
from patron.ledger.domain import EntryKind, InsufficientPoints, Lot, Posting
from patron.ledger.holdings import (AccountNotFound, Holding, account_of,  # noqa: F401
                                    holding_of, holdings, lock_points_accounts, locked_holding,
                                    refuse_spend, writing_holding)
from patron.ledger.schemas import Balance, EntrySource, Expiring, LedgerEntry, LotMove, Posted
from patron.program.service import Program


@dataclass(frozen=True)
class EntryMeta:
    """Why an entry exists: the part of a ledger line that is not arithmetic."""

    occurred_at: datetime
    key: str
    reason: str
    actor: str
    event_pk: int | None = None
    order_id: str | None = None
    available_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)


def moved(member_id: int, points: int, meta: EntryMeta, account_id: int, kind: EntryKind,
          entry_id: int) -> hooks.PointsMoved:
    """One entry as ``hooks.PointsEarned``, ``PointsSpent`` and ``PointsExpired`` tell it."""
    return hooks.PointsMoved(member_id, points, meta.occurred_at, account_id, meta.reason,
                             kind.value, entry_id)


def entry_row(program_id: int, account: Any, posting: Posting, meta: EntryMeta,
              now: datetime, member_id: int | None = None) -> dict[str, Any]:
    member_id = account.member_id if member_id is None else member_id
    return dict(program_id=program_id, account_id=account.id, member_id=member_id,
                kind=posting.kind.value, points=posting.points, status=posting.status.value,
                occurred_at=meta.occurred_at, recorded_at=now, available_at=meta.available_at,
                event_id=meta.event_pk, idempotency_key=meta.key, order_id=meta.order_id,
                reason=meta.reason, actor=meta.actor, details=meta.details)


def write_posting(conn: Connection, program_id: int, account: Any, posting: Posting,
                  meta: EntryMeta, lots_by_id: dict[int, Lot], now: datetime,
                  member_id: int | None = None) -> int:
    """Insert the entry and move its lots. The account row is the caller's job."""
    return write_entry(conn, entry_row(program_id, account, posting, meta, now, member_id),
                       posting, lots_by_id)


def write_entry(conn: Connection, row: dict[str, Any], posting: Posting,
                lots_by_id: dict[int, Lot]) -> int:
    """``write_posting`` for an entry row already made."""
    [entry_id] = repository.insert_entries(conn, [row])
    repository.insert_moves(conn, [dict(entry_id=entry_id, lot_id=lot_id, points=delta)
                                   for lot_id, delta in posting.moves])
    repository.update_lots(conn, [domain.state_after(lots_by_id[lot_id], delta)
                                  for lot_id, delta in posting.moves])
    return entry_id


def _replay(conn: Connection, account: Any, key: str, request: dict[str, Any]) -> Any:
    existing = repository.entry_by_key(conn, account.id, key)
    if existing is not None and existing.details.get("request") != request:
        raise IdempotencyKeyReused(f"idempotency_key {key!r} was used for a different request",
                                   key=key)
    return existing


def spend_points(conn: Connection, program: Program, member_id: int, *, points: int,
                 reason: str, key: str, actor: str, now: datetime,
                 order_id: str | None = None, kind: EntryKind = EntryKind.SPEND,
                 admit: Callable[[Holding], None] | None = None) -> Posted:
    """Pay with points: a guarded debit first, so two spends can never both pass.

    A pooled member pays from the household pool, if their role allows it
    (403 ``household_role_forbidden`` otherwise); a debit by adjustment is an
    admin's correction and is not a member's spend. ``admit`` may refuse the
    holding before anything is written (the member's status, read with it).
    """
    holding = writing_holding(conn, program, member_id)
    if admit is not None:
        admit(holding)
    if kind == EntryKind.SPEND:
        refuse_spend(holding)
    return spend_from(conn, program, holding, points=points, reason=reason, key=key,
                      actor=actor, now=now, order_id=order_id, kind=kind)


def spend_from(conn: Connection, program: Program, holding: Holding, *, points: int,
               reason: str, key: str, actor: str, now: datetime,
               order_id: str | None = None, kind: EntryKind = EntryKind.SPEND) -> Posted:
    """Debit ``holding.account`` for ``holding.member_id``; the caller checked the role.

    A new spend answers from what it wrote (no read-back); a replay reads the
    entry and the balance as they are now.
    """
    spent = debit(conn, program, holding, points=points, reason=reason, key=key, actor=actor,
                  now=now, order_id=order_id, kind=kind)
    if spent.written is None:
        return posted(conn, program, holding, spent.entry_id)
    return spent.written.posted(holding, spent.entry_id, spent.lots)


@dataclass(frozen=True)
class Written:
    """What a new debit wrote, enough to answer without reading it back."""

    row: dict[str, Any]
    """The entry row as inserted."""
    totals: Any
    """The account's available, pending and lifetime points after the debit."""
    live_lots: list[Lot]
    """The account's live lots after the debit."""

    def posted(self, holding: Holding, entry_id: int, moves: list[LotMove]) -> Posted:
        row = SimpleNamespace(**self.row, id=entry_id)
        for name in ("occurred_at", "recorded_at"):  # as the database gives them back
            setattr(row, name, getattr(row, name).astimezone(UTC))
        return Posted(entry=entry_out(row), lots=moves,
                      balance=_balance(holding, self.totals, self.live_lots))


@dataclass(frozen=True)
class Debited:
    """The entry a debit wrote (or found, on a retry) and the points it took from each lot."""

    entry_id: int
    lots: list[LotMove]
    written: Written | None = None
    """What a new debit wrote; None for a retry that found its first entry."""


def debit(conn: Connection, program: Program, holding: Holding, *, points: int, reason: str,
          key: str, actor: str, now: datetime, order_id: str | None = None,
          kind: EntryKind = EntryKind.SPEND) -> Debited:
    """``spend_from`` without the answer's model, for callers that record the spend in
    their own row (a redemption, a transfer).

    The guarded debit also checks that ``key`` is new, so a first spend runs one
    statement before its writes; only a refused debit asks whether it was a retry.
    """
    account, member_id = holding.account, holding.member_id
    request = {"kind": kind.value, "points": points, "order_id": order_id, "reason": reason}
    if account.member_id != member_id:
        request["member_id"] = member_id
    totals = repository.debit_unless_recorded(conn, account.id, points, key)
    if totals is None:
        if (existing := _replay(conn, account, key, request)) is not None:
            return Debited(existing.id, [LotMove(lot_id=m.lot_id, points=m.points)
                                         for m in repository.moves_of_entry(conn, existing.id)])
        raise _short(conn, account.id, points)
    lots = {lot.id: lot for lot in repository.live_lots(conn, account.id)}
    posting = domain.spend(lots.values(), points, kind)
    meta = EntryMeta(now, key, reason, actor, order_id=order_id,
                     details={"request": request})
    row = entry_row(program.id, account, posting, meta, now, member_id)
    entry_id = write_entry(conn, row, posting, lots)
    hooks.emit(conn, hooks.PointsSpent(program, (moved(member_id, points, meta, account.id,
                                                       kind, entry_id),)))
    after = {**lots, **{lot.id: lot for lot in (domain.state_after(lots[lot_id], delta)
                                                for lot_id, delta in posting.moves)}}
    return Debited(entry_id, [LotMove(lot_id=lot_id, points=delta)
                              for lot_id, delta in posting.moves],
                   Written(row, totals, list(after.values())))


def _short(conn: Connection, account_id: int, points: int) -> InsufficientPoints:
    current = repository.account_row(conn, account_id)
    return InsufficientPoints(
        f"{points} points requested but only {current.available} are available",
        available=current.available, requested=points)


def take_available(conn: Connection, account_id: int, points: int) -> dict[int, Lot]:
    """Debit ``points`` from the account's available balance behind a guard, so two
    debits can never both take the same points (409 ``insufficient_points`` when it
    holds fewer); then its live lots, by id, for the caller to plan which ones pay."""
    if not repository.guarded_debit(conn, account_id, points):
        raise _short(conn, account_id, points)
    return {lot.id: lot for lot in repository.live_lots(conn, account_id)}


def credit_points(conn: Connection, program: Program, member_id: int, *, points: int,
                  reason: str, key: str, actor: str, now: datetime) -> Posted:
    """A manual credit: a new lot, available at once, expiring like any other."""
    holding = writing_holding(conn, program, member_id)
    account = holding.account
    request = {"kind": "adjust", "points": points, "reason": reason}
    if account.member_id != member_id:
        request["member_id"] = member_id
    if (existing := _replay(conn, account, key, request)) is not None:
        return posted(conn, program, holding, existing.id)
    posting = domain.Posting(EntryKind.ADJUST, points, domain.EntryStatus.POSTED,
                             available_delta=points, lifetime_delta=points)
    meta = EntryMeta(now, key, reason, actor, details={"request": request})
    [entry_id] = repository.insert_entries(conn, [entry_row(program.id, account, posting,
                                                            meta, now, member_id)])
    lot = domain.new_lot(0, points, occurred_at=now, pending_days=None,
                         policy=program.settings.expiry_policy)
    repository.insert_lots(conn, [lot_row(program.id, account.id, entry_id, lot)])
    after = repository.add_to_balances(conn, {account.id: (points, 0, points)})[account.id]
    if after - points < 0:
        settle_debts(conn, program.id, [account], now)
    hooks.emit(conn, hooks.PointsEarned(program, (moved(member_id, points, meta, account.id,
                                                        EntryKind.ADJUST, entry_id),)))
    announce_rises(conn, program, [hooks.BalanceRise(account.member_id, account.id,
                                                     after - points, after, now)])
    return posted(conn, program, holding, entry_id)


def adjust_points(conn: Connection, program: Program, member_id: int, *, points: int,
                  reason: str, key: str, actor: str, now: datetime) -> Posted:
    if points == 0:
        raise InvalidInput("an adjustment of 0 points changes nothing", field="points")
    if points > 0:
        return credit_points(conn, program, member_id, points=points, reason=reason, key=key,
                             actor=actor, now=now)
    return spend_points(conn, program, member_id, points=-points, reason=reason, key=key,
                        actor=actor, now=now, kind=EntryKind.ADJUST)


def lot_row(program_id: int, account_id: int, entry_id: int, lot: Lot) -> dict[str, Any]:
    return dict(program_id=program_id, account_id=account_id, entry_id=entry_id,
                points=lot.points, remaining=lot.remaining, state=lot.state.value,
                earned_at=lot.earned_at, available_at=lot.available_at,
                expires_at=lot.expires_at)


@dataclass(frozen=True)
class Earn:
    """One earn to write in bulk: used by event ingest.

    ``settings`` are those of the program version that awarded it (pending window,
    expiry); the program's current settings by default.
    """

    member_id: int
    points: int
    pending: bool
    meta: EntryMeta
    settings: Any = None
    lot: Lot | None = None
    """The lot to create, when the caller already worked it out."""


def earn_many(conn: Connection, program: Program, earns: Sequence[Earn],
              now: datetime, *, held: Mapping[int, Holding] | None = None
              ) -> list[dict[str, Any]]:
    """Write many earns in a few statements: entries, lots, then account totals.

    Returns, per earn, its ``entry_id``, ``lot_id``, ``account_id`` and ``lot``.
    A pooled member earns into the household pool; the entry still names them.
    Accounts that owe points (a negative balance after a return) pay them off at
    once from what became available.

    ``held``: the members' holdings as the caller locked them in this transaction
    (ingest), so they are not read again; only the accounts' ids are taken from them,
    balances come back from the update.
    """
    members = {e.member_id for e in earns}
    if held is None or not members <= held.keys():
        held = holdings(conn, program, members)
    account_rows = {member_id: held[member_id].account for member_id in members}
    entry_rows, new_lots = [], []
    deltas: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for item in earns:
        account = account_rows[item.member_id]
        lot = item.lot
        if lot is None:
            settings = item.settings or program.settings
            lot = domain.new_lot(0, item.points, occurred_at=item.meta.occurred_at,
                                 pending_days=settings.pending_days if item.pending else None,
                                 policy=settings.expiry_policy)
        posting = domain.earn(item.points, pending=lot.state == domain.LotState.PENDING)
        meta = item.meta
        if posting.status == domain.EntryStatus.PENDING:
            meta = EntryMeta(**{**meta.__dict__, "available_at": lot.available_at})
        entry_rows.append(entry_row(program.id, account, posting, meta, now, item.member_id))
        new_lots.append((account.id, lot))
        d = deltas[account.id]
        d[0] += posting.available_delta
        d[1] += posting.pending_delta
        d[2] += posting.lifetime_delta
    available = repository.add_to_balances(conn, {a: (d[0], d[1], d[2])
                                                  for a, d in deltas.items()})
    entry_ids = repository.insert_entries(conn, entry_rows)
    lot_ids = repository.insert_lots(conn, [lot_row(program.id, account_id, entry_id, lot)
                                            for (account_id, lot), entry_id
                                            in zip(new_lots, entry_ids)])
    touched = {a.id: a for a in account_rows.values()}
    in_debt = [a for a in touched.values()
               if deltas[a.id][0] > 0 and available[a.id] - deltas[a.id][0] < 0]
    if in_debt:
        settle_debts(conn, program.id, in_debt, now)
    _announce_earns(conn, program, earns, [a for a, _ in new_lots], entry_ids)
    announce_rises(conn, program, [
        hooks.BalanceRise(a.member_id, a.id, available[a.id] - deltas[a.id][0],
                          available[a.id], now)
        for a in touched.values() if deltas[a.id][0] > 0])
    return [dict(entry_id=entry_id, lot_id=lot_id, account_id=account_id, lot=lot)
            for (account_id, lot), entry_id, lot_id in zip(new_lots, entry_ids, lot_ids)]


def announce_rises(conn: Connection, program: Program,
                   rises: Sequence[hooks.BalanceRise]) -> None:
    """``hooks.PointsAvailable`` for the accounts whose available points went up."""
    if rises:
        hooks.emit(conn, hooks.PointsAvailable(program, tuple(rises)))


def _announce_earns(conn: Connection, program: Program, earns: Sequence[Earn],
                    account_ids: Sequence[int], entry_ids: Sequence[int]) -> None:
    """One ``PointsEarned`` for the whole batch, a move per earn entry."""
    if earns:
        hooks.emit(conn, hooks.PointsEarned(program, tuple(
            moved(item.member_id, item.points, item.meta, account_id, EntryKind.EARN, entry_id)
            for item, account_id, entry_id in zip(earns, account_ids, entry_ids))))


def settle_debts(conn: Connection, program_id: int, accounts: Sequence[Any],
                 now: datetime) -> int:
    """Pay off what accounts owe with their open points; returns the points settled."""
    settled = 0
    for account in accounts:
        lots = {lot.id: lot for lot in repository.live_lots(conn, account.id)}
        posting = domain.settle(lots.values())
        if posting is None:
            continue
        paid = sum(delta for lot_id, delta in posting.moves
                   if lots[lot_id].state == domain.LotState.DEBT)
        key = f"settle:{','.join(str(lot_id) for lot_id, _ in posting.moves)}:{now.isoformat()}"
        meta = EntryMeta(now, key[:200], f"{paid} points paid off the balance owed after a "
                         "return", "system:settle", details={"paid": paid})
        write_posting(conn, program_id, account, posting, meta, lots, now)
        settled += paid
    return settled


@dataclass(frozen=True)
class ClawedBack:
    """What one clawback did: entries written, points taken, owed and forgiven."""

    entry_ids: tuple[int, ...]
    taken_pending: int
    taken_available: int
    debt: int
    forgiven: int


def claw_back(conn: Connection, program: Program, member_id: int, *, points: int,
              own_lot_id: int | None, meta: EntryMeta, now: datetime,
              explain: Callable[[int, int, int], str]) -> ClawedBack:
    """Take back earned points (a return): see ``domain.claw_back`` for the order.

    Each entry's reason is ``explain(taken, forgiven, owed)`` for the points that
    entry moved, so a ledger line never reads as more than it took; what was
    forgiven or owed is told on the last entry written.

    Points come back from where they are now: if the earn's lot (or the copy a
    household transfer made of it) still holds points, from the account holding
    it, which is the pool the member earned into even after they left it;
    otherwise from the member's points today (their pool when pooled). The
    caller holds the member's own account lock (ingest locks its members'
    accounts); any other account is locked here.
    """
    holding = holding_of(conn, program, member_id)
    account_id = holding.account.id
    if own_lot_id is not None and (current := repository.lot_now(conn, own_lot_id)):
        own_lot_id = current.id
        if current.remaining > 0 and current.state in (domain.LotState.OPEN.value,
                                                        domain.LotState.PENDING.value):
            account_id = current.account_id
    account = (holding.own if account_id == holding.own.id
               else repository.account_row(conn, account_id, lock=True))
    lots = {lot.id: lot for lot in repository.live_lots(conn, account.id)}
    if own_lot_id is not None and own_lot_id not in lots:
        lots.update({lot.id: lot for lot in repository.lots_by_id(conn, [own_lot_id])})
    allow_negative = program.settings.negative_balance == "allow_negative"
    plan = domain.claw_back(lots, own_lot_id, points, allow_negative=allow_negative)
    entry_ids = []
    available = pending = lifetime = 0
    last = plan.posted or plan.pending
    for part, suffix in ((plan.pending, "pending"), (plan.posted, "posted")):
        if part is None:
            continue
        details = {**meta.details, "forgiven": plan.forgiven, "debt": plan.debt}
        reason = (explain(-part.points, plan.forgiven, plan.debt) if part is last
                  else explain(-part.points, 0, 0))
        part_meta = EntryMeta(**{**meta.__dict__, "key": f"{meta.key}:{suffix}",
                                 "reason": reason, "details": details})
        entry_id = write_posting(conn, program.id, account, part, part_meta, lots, now,
                                 member_id)
        entry_ids.append(entry_id)
        available += part.available_delta
        pending += part.pending_delta
        lifetime += part.lifetime_delta
        if part is plan.posted and plan.debt:
            debt_lot = domain.Lot(0, -plan.debt, -plan.debt, domain.LotState.DEBT, now, now, None)
            [lot_id] = repository.insert_lots(conn, [lot_row(program.id, account.id, entry_id,
                                                             debt_lot)])
            repository.insert_moves(conn, [dict(entry_id=entry_id, lot_id=lot_id,
                                                points=-plan.debt)])
    repository.apply_deltas(conn, {account.id: (available, pending, lifetime)})
    taken_available = -(plan.posted.available_delta if plan.posted else 0) - plan.debt
    return ClawedBack(tuple(entry_ids), -(plan.pending.points if plan.pending else 0),
                      taken_available, plan.debt, plan.forgiven)


def balance(conn: Connection, program: Program, member_id: int) -> Balance:
    """The points a member earns into and spends from: a pooled member sees the pool."""
    return holding_balance(conn, holding_of(conn, program, member_id))


def holding_balance(conn: Connection, holding: Holding) -> Balance:
    account = repository.account_row(conn, holding.account.id)
    return _balance(holding, account, repository.live_lots(conn, account.id))


def _balance(holding: Holding, totals: Any, lots: Sequence[Lot]) -> Balance:
    """The balance as ``holding`` shows it, from the account's totals and live lots."""
    return Balance(member_id=holding.member_id, available=totals.available,
                   pending=totals.pending, lifetime_earned=totals.lifetime_earned,
                   expiring=[Expiring(points=p, expires_at=at)
                             for p, at in domain.expiring_summary(lots)],
                   household_id=holding.household_id or holding.holds_household_id,
                   household_role=holding.role, pooled=holding.pooled,
                   can_spend=holding.can_spend)


EventName = tuple[str, str]
"""An event's external id and type, as the entries it caused show them."""


def entry_out(row: Any, event: EventName | None = None) -> LedgerEntry:
    """One ledger line as the API shows it; ``event`` names the event behind it.

    The ledger keeps only the event's row id: naming it is the caller's part
    (``patron.flows.statement`` looks the events up).
    """
    if row.event_id is not None:
        external_id, event_type = event if event is not None else (None, None)
        source = EntrySource(type="event", id=external_id, event_type=event_type)
    elif row.actor.startswith("job:"):
        source = EntrySource(type="job", id=row.actor.removeprefix("job:"))
    else:
        source = EntrySource(type="request", id=row.idempotency_key)
    details = {k: v for k, v in (row.details or {}).items() if k != "request"}
    return LedgerEntry(id=row.id, member_id=row.member_id, kind=row.kind, points=row.points,
                       status=row.status,
                       occurred_at=row.occurred_at, recorded_at=row.recorded_at,
                       available_at=row.available_at, order_id=row.order_id, reason=row.reason,
                       actor=row.actor, source=source, details=details)


@dataclass(frozen=True)
class EntryRows:
    """One page of an account's entry rows, newest first."""

    rows: list[Any]
    next_cursor: int | None


def entry_rows(conn: Connection, account_id: int, before: int | None, limit: int, *,
               member_id: int | None = None, pool_ids: Sequence[int] = ()) -> EntryRows:
    """Entries of one account, newest first; with ``member_id``, also that member's
    entries in the household pools ``pool_ids``."""
    rows = repository.page_entries(conn, account_id, before, limit + 1, member_id=member_id,
                                   pool_ids=pool_ids)
    more = len(rows) > limit
    rows = rows[:limit]
    return EntryRows(rows, rows[-1].id if more and rows else None)


def posted(conn: Connection, program: Program, holding: Holding, entry_id: int) -> Posted:
    """What a spend or an adjustment wrote (never an event's entry) and the balance after."""
    [row] = repository.page_entries(conn, holding.account.id, entry_id + 1, 1)
    moves = repository.moves_of_entry(conn, entry_id)
    return Posted(entry=entry_out(row), lots=[LotMove(lot_id=m.lot_id, points=m.points)
                                              for m in moves],
                  balance=holding_balance(conn, holding))
