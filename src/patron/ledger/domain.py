"""The points ledger as plain data and pure functions.

Every earn creates a *lot*: its own points, its own remainder and its own
expiry. Spends consume lots soonest-expiring first (then oldest, lots that
never expire last), because a member would rather spend the points that are
about to vanish. Purchase points start *pending* for the program's return
window: they can be clawed back by a return, so they are neither spendable nor
expirable until released.

Balances follow from the entries:

- available = Σ points of ``posted`` entries = Σ remainders of open lots
- pending   = Σ points of ``pending`` entries − Σ points of ``release`` entries
            = Σ remainders of pending lots

A release is a new entry rather than an edit of the earn entry, so the ledger
stays append-only and a member's history reads "earned 120 (pending)", then
"120 points now available".

When a lot expires is the program's rule (``patron.program.expiry``): the
program document builds the policy, the ledger applies it to each new lot.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from patron.errors import Conflict
from patron.program.expiry import ExpiryPolicy, lot_expiry

FAR_FUTURE = datetime.max.replace(tzinfo=timezone.utc)


class InsufficientPoints(Conflict):
    code = "insufficient_points"
    title = "Insufficient points"


class LotState(StrEnum):
    PENDING = "pending"
    OPEN = "open"
    CLOSED = "closed"
    EXPIRED = "expired"
    DEBT = "debt"
    """Points owed after a return took back points already spent (``remaining`` < 0)."""


class EntryKind(StrEnum):
    EARN = "earn"
    SPEND = "spend"
    RELEASE = "release"
    EXPIRE = "expire"
    ADJUST = "adjust"
    REVERSE = "reverse"
    SETTLE = "settle"
    TRANSFER = "transfer"
    """Points moving between two accounts: a member joining or leaving a household pool,
    or giving points to another member."""


class EntryStatus(StrEnum):
    PENDING = "pending"
    POSTED = "posted"


ROUNDING_MODES = {
    "floor": ROUND_FLOOR,
    "ceiling": ROUND_CEILING,
    "half_up": ROUND_HALF_UP,
    "half_even": ROUND_HALF_EVEN,
}


@dataclass
class Lot:
    id: int
    points: int
    remaining: int
    state: LotState
    earned_at: datetime
    available_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True)
class Posting:
    """What one ledger entry does: its signed points and the lots it moves."""

    kind: EntryKind
    points: int
    status: EntryStatus
    available_delta: int = 0
    pending_delta: int = 0
    lifetime_delta: int = 0
    moves: tuple[tuple[int, int], ...] = ()
    """``(lot_id, delta of that lot's remainder)`` pairs."""


def spend_order(lot: Lot) -> tuple[bool, datetime, datetime, int]:
    """Soonest-expiring first, then oldest; lots that never expire last."""
    return (lot.expires_at is None, lot.expires_at or FAR_FUTURE, lot.earned_at, lot.id)


def pending_until(occurred_at: datetime, pending_days: int) -> datetime:
    return occurred_at + timedelta(days=pending_days)


def points_for_amount(amount_minor: int, minor_exponent: int, points_per_unit: Decimal,
                      rounding: str) -> int:
    """Points for a money amount, computed in Decimal and rounded once."""
    units = Decimal(amount_minor).scaleb(-minor_exponent)
    return int((units * points_per_unit).to_integral_value(rounding=ROUNDING_MODES[rounding]))


def earn(points: int, *, pending: bool) -> Posting:
    if points <= 0:
        raise ValueError("an earn is positive")
    if pending:
        return Posting(EntryKind.EARN, points, EntryStatus.PENDING,
                       pending_delta=points, lifetime_delta=points)
    return Posting(EntryKind.EARN, points, EntryStatus.POSTED,
                   available_delta=points, lifetime_delta=points)


def new_lot(lot_id: int, points: int, *, occurred_at: datetime, pending_days: int | None,
            policy: ExpiryPolicy) -> Lot:
    """The lot an earn creates; pending lots start their expiry clock on release."""
    if pending_days:
        available_at = pending_until(occurred_at, pending_days)
        state = LotState.PENDING
    else:
        available_at = occurred_at
        state = LotState.OPEN
    return Lot(lot_id, points, points, state, occurred_at, available_at,
               lot_expiry(available_at, policy))


def plan_spend(lots: Iterable[Lot], points: int) -> tuple[tuple[int, int], ...]:
    """Which lots a spend of ``points`` consumes, as ``(lot_id, -taken)`` moves."""
    if points <= 0:
        raise ValueError("a spend is positive")
    open_lots = sorted((lot for lot in lots if lot.state == LotState.OPEN and lot.remaining > 0),
                       key=spend_order)
    available = sum(lot.remaining for lot in open_lots)
    if available < points:
        raise InsufficientPoints(
            f"{points} points requested but only {available} are available",
            available=available, requested=points)
    moves: list[tuple[int, int]] = []
    left = points
    for lot in open_lots:
        take = min(lot.remaining, left)
        moves.append((lot.id, -take))
        left -= take
        if left == 0:
            break
    return tuple(moves)


def spend(lots: Iterable[Lot], points: int, kind: EntryKind = EntryKind.SPEND) -> Posting:
    moves = plan_spend(lots, points)
    return Posting(kind, -points, EntryStatus.POSTED, available_delta=-points, moves=moves)


def release(lot: Lot) -> Posting | None:
    """Make a pending lot spendable; nothing to post when returns took it all."""
    if lot.state != LotState.PENDING:
        raise ValueError("only a pending lot is released")
    if lot.remaining == 0:
        return None
    return Posting(EntryKind.RELEASE, lot.remaining, EntryStatus.POSTED,
                   available_delta=lot.remaining, pending_delta=-lot.remaining)


def expire(due: Sequence[Lot]) -> Posting | None:
    """One expiry entry for lots that ran out (see ``expiries`` for how they are grouped)."""
    moves = tuple((lot.id, -lot.remaining) for lot in due if lot.remaining > 0)
    total = -sum(delta for _, delta in moves)
    if total == 0:
        return None
    return Posting(EntryKind.EXPIRE, -total, EntryStatus.POSTED, available_delta=-total,
                   moves=moves)


@dataclass(frozen=True)
class Expiry:
    """An account's lots that expired on one day, and the entry that takes their points."""

    at: datetime
    """When the last of these lots expired: the entry's date."""
    lots: tuple[Lot, ...]
    posting: Posting | None
    """None when the lots had nothing left (all spent or clawed back)."""


def expiries(due: Sequence[Lot], zone: ZoneInfo) -> list[Expiry]:
    """Due lots by the day they expired (in the program's timezone), oldest day first.

    A sweep that runs late, or catches up on imported history, still dates each
    expiry when the points were lost: one entry per expiry day, dated at the last
    of that day's lot expiries, so the points report puts expired points in the
    month they expired rather than all in the month of the latest lot.
    """
    days: dict[date, list[Lot]] = {}
    for lot in sorted(due, key=lambda lot: (lot.expires_at or FAR_FUTURE, lot.id)):
        if lot.expires_at is None:
            raise ValueError(f"lot {lot.id} never expires")
        days.setdefault(lot.expires_at.astimezone(zone).date(), []).append(lot)
    return [Expiry(max(lot.expires_at or FAR_FUTURE for lot in lots), tuple(lots), expire(lots))
            for _, lots in sorted(days.items())]


@dataclass(frozen=True)
class ExpiringDay:
    """What is left of an account's lots that expire on one day (program timezone)."""

    account_id: int
    day: date
    points: int
    expires_at: datetime
    """The first of that day's lot expiries."""


def expiring_days(lots_left: Iterable[tuple[int, int, datetime]],
                  zone: ZoneInfo) -> list[ExpiringDay]:
    """``(account_id, remaining, expires_at)`` of open lots, by account and expiry day.

    A member is told once per day their points expire rather than once per lot: lots
    earned on many days that expire together (end of month) make one notice.
    """
    days: dict[tuple[int, date], list[tuple[int, datetime]]] = {}
    for account_id, remaining, expires_at in lots_left:
        if remaining > 0:
            days.setdefault((account_id, expires_at.astimezone(zone).date()), []).append(
                (remaining, expires_at))
    return [ExpiringDay(account_id, day, sum(p for p, _ in found), min(at for _, at in found))
            for (account_id, day), found in sorted(days.items())]


@dataclass(frozen=True)
class Clawback:
    """What taking back ``points`` of an earn does: up to two postings and a shortfall.

    Points come from the earn's own lot first (still pending, or open), then from
    the member's other available points, soonest-expiring first. What is still
    missing becomes a debt (a lot with a negative remainder, paid off by later
    earnings) when the program allows a negative balance, and is forgiven
    otherwise. The pending part and the available part are separate entries so
    that both balances stay sums of their entries.
    """

    pending: Posting | None
    posted: Posting | None
    debt: int
    forgiven: int


def claw_back(lots: dict[int, Lot], own_lot_id: int | None, points: int, *,
              allow_negative: bool) -> Clawback:
    if points <= 0:
        raise ValueError("a clawback is positive")
    own = lots.get(own_lot_id) if own_lot_id is not None else None
    from_pending = from_own_open = 0
    if own is not None and own.remaining > 0:
        if own.state == LotState.PENDING:
            from_pending = min(own.remaining, points)
        elif own.state == LotState.OPEN:
            from_own_open = min(own.remaining, points)
    left = points - from_pending - from_own_open
    open_moves: list[tuple[int, int]] = [(own.id, -from_own_open)] if from_own_open else []
    others = sorted((lot for lot in lots.values() if lot.state == LotState.OPEN
                     and lot.remaining > 0 and lot.id != own_lot_id), key=spend_order)
    for lot in others:
        if left == 0:
            break
        take = min(lot.remaining, left)
        open_moves.append((lot.id, -take))
        left -= take
    debt = left if allow_negative else 0
    taken = sum(-delta for _, delta in open_moves)
    pending_posting = None
    if from_pending:
        pending_posting = Posting(EntryKind.REVERSE, -from_pending, EntryStatus.PENDING,
                                  pending_delta=-from_pending, lifetime_delta=-from_pending,
                                  moves=((own.id, -from_pending),))
    posted = None
    if taken or debt:
        posted = Posting(EntryKind.REVERSE, -(taken + debt), EntryStatus.POSTED,
                         available_delta=-(taken + debt),
                         lifetime_delta=-(points - from_pending), moves=tuple(open_moves))
    elif pending_posting is not None and left:
        pending_posting = replace(pending_posting,
                                  lifetime_delta=pending_posting.lifetime_delta - left)
    elif left:
        posted = Posting(EntryKind.REVERSE, 0, EntryStatus.POSTED, lifetime_delta=-left)
    return Clawback(pending_posting, posted, debt, left - debt)


def settle(lots: Iterable[Lot]) -> Posting | None:
    """Pay debts off with open points, soonest-expiring first; the balance is unchanged."""
    lots = list(lots)
    debts = sorted((lot for lot in lots if lot.state == LotState.DEBT and lot.remaining < 0),
                   key=lambda lot: lot.id)
    owed = -sum(lot.remaining for lot in debts)
    have = sum(lot.remaining for lot in lots if lot.state == LotState.OPEN and lot.remaining > 0)
    paid = min(owed, have)
    if paid == 0:
        return None
    moves = list(plan_spend(lots, paid))
    left = paid
    for lot in debts:
        pay = min(-lot.remaining, left)
        moves.append((lot.id, pay))
        left -= pay
        if left == 0:
            break
    return Posting(EntryKind.SETTLE, 0, EntryStatus.POSTED, moves=tuple(moves))


@dataclass(frozen=True)
class Transfer:
    """Moving lots from one account to another, as a pair of entries on each side.

    The giving side closes the lots it hands over; the receiving side gets a copy
    of each with the same remainder, state, earn date, availability and expiry, so
    moving points never changes when they can be spent or when they run out.
    Posted (open and debt) and pending lots go in separate entries so that both
    balances stay sums of their entries. Lifetime totals do not move: they say
    what an account's holder earned, not what the account holds.
    """

    out_posted: Posting | None
    out_pending: Posting | None
    in_posted: Posting | None
    in_pending: Posting | None
    copies: tuple[tuple[int, Lot], ...] = ()
    """``(source lot id, the copy to create)``, posted lots first, each group by id."""

    @property
    def available(self) -> int:
        return self.in_posted.points if self.in_posted else 0

    @property
    def pending(self) -> int:
        return self.in_pending.points if self.in_pending else 0


TRANSFERABLE = (LotState.OPEN, LotState.DEBT, LotState.PENDING)


def transfer(lots: Iterable[Lot]) -> Transfer:
    """Hand over every live remainder of ``lots`` (open, pending and debt)."""
    live = sorted((lot for lot in lots if lot.state in TRANSFERABLE and lot.remaining != 0),
                  key=lambda lot: lot.id)
    posted = [lot for lot in live if lot.state != LotState.PENDING]
    pending = [lot for lot in live if lot.state == LotState.PENDING]

    def pair(group: list[Lot], status: EntryStatus) -> tuple[Posting | None, Posting | None]:
        if not group:
            return None, None
        total = sum(lot.remaining for lot in group)
        deltas = ({"available_delta": total} if status == EntryStatus.POSTED
                  else {"pending_delta": total})
        out = Posting(EntryKind.TRANSFER, -total, status,
                      **{k: -v for k, v in deltas.items()},
                      moves=tuple((lot.id, -lot.remaining) for lot in group))
        return out, Posting(EntryKind.TRANSFER, total, status, **deltas)

    out_posted, in_posted = pair(posted, EntryStatus.POSTED)
    out_pending, in_pending = pair(pending, EntryStatus.PENDING)
    copies = tuple((lot.id, replace(lot, id=0, points=lot.remaining)) for lot in posted + pending)
    return Transfer(out_posted, out_pending, in_posted, in_pending, copies)


def closed_by_transfer(lot: Lot) -> Lot:
    """A lot whose whole remainder moved to another account."""
    return replace(lot, remaining=0, state=LotState.CLOSED)


@dataclass(frozen=True)
class PointsTransfer:
    """Giving some of one account's available points to another account.

    The giving side pays like any spend: open lots only (pending points can
    still be clawed back by a return), soonest-expiring first, never more than
    is there. The receiving side gets a new lot for each piece taken, with that
    piece's expiry, availability and earn date, so given points run out exactly
    when they would have in the giver's hands. Lifetime totals do not move: the
    receiver did not earn these points and the giver did not lose an earning.
    """

    out: Posting
    into: Posting
    pieces: tuple[tuple[int, Lot], ...]
    """``(source lot id, the receiver's new lot)``, in the order the spend took them."""


def transfer_points(lots: Iterable[Lot], points: int) -> PointsTransfer:
    """Plan giving ``points`` from the account holding ``lots``; ``InsufficientPoints``
    when fewer are available."""
    lots = list(lots)
    moves = plan_spend(lots, points)
    by_id = {lot.id: lot for lot in lots}
    pieces = tuple((lot_id, replace(by_id[lot_id], id=0, points=-delta, remaining=-delta))
                   for lot_id, delta in moves)
    return PointsTransfer(
        Posting(EntryKind.TRANSFER, -points, EntryStatus.POSTED, available_delta=-points,
                moves=moves),
        Posting(EntryKind.TRANSFER, points, EntryStatus.POSTED, available_delta=points),
        pieces)


def due_for_release(lots: Iterable[Lot], now: datetime) -> list[Lot]:
    return [lot for lot in lots if lot.state == LotState.PENDING and lot.available_at <= now]


def due_for_expiry(lots: Iterable[Lot], now: datetime) -> list[Lot]:
    return [lot for lot in lots
            if lot.state == LotState.OPEN and lot.expires_at is not None and lot.expires_at <= now]


def state_after(lot: Lot, delta: int) -> Lot:
    """A lot after a move: closed once a spend has taken its last point."""
    remaining = lot.remaining + delta
    if lot.state == LotState.DEBT:
        if remaining > 0:
            raise ValueError(f"debt {lot.id} would be overpaid")
        return replace(lot, remaining=remaining,
                       state=LotState.CLOSED if remaining == 0 else LotState.DEBT)
    if remaining < 0:
        raise ValueError(f"lot {lot.id} would go negative")
    state = lot.state
    if state == LotState.OPEN and remaining == 0:
        state = LotState.CLOSED
    elif state == LotState.CLOSED and remaining > 0:
        state = LotState.OPEN
    return replace(lot, remaining=remaining, state=state)


def expiring_summary(lots: Iterable[Lot]) -> list[tuple[int, datetime]]:
    """Available points grouped by expiry instant, soonest first."""
    totals: dict[datetime, int] = {}
    for lot in lots:
        if lot.state == LotState.OPEN and lot.remaining > 0 and lot.expires_at is not None:
            totals[lot.expires_at] = totals.get(lot.expires_at, 0) + lot.remaining
    return sorted(((points, at) for at, points in totals.items()), key=lambda pair: pair[1])


@dataclass
class Account:
    """An account held in memory: the model the property tests drive.

    The service applies the same postings to the database; this class applies
    them to plain lists so the invariants can be checked after any sequence.
    """

    policy: ExpiryPolicy = field(default_factory=ExpiryPolicy)
    lots: dict[int, Lot] = field(default_factory=dict)
    entries: list[Posting] = field(default_factory=list)
    available: int = 0
    pending: int = 0
    lifetime_earned: int = 0

    def apply(self, posting: Posting) -> Posting:
        for lot_id, delta in posting.moves:
            self.lots[lot_id] = state_after(self.lots[lot_id], delta)
        self.available += posting.available_delta
        self.pending += posting.pending_delta
        self.lifetime_earned += posting.lifetime_delta
        self.entries.append(posting)
        return posting

    def earn(self, points: int, at: datetime, pending_days: int | None = None) -> Posting:
        lot = new_lot(len(self.lots) + 1, points, occurred_at=at, pending_days=pending_days,
                      policy=self.policy)
        self.lots[lot.id] = lot
        return self.apply(earn(points, pending=lot.state == LotState.PENDING))

    def spend(self, points: int) -> Posting:
        return self.apply(spend(self.lots.values(), points))

    def give(self, points: int, to: Account) -> PointsTransfer:
        plan = transfer_points(self.lots.values(), points)
        self.apply(plan.out)
        for _, piece in plan.pieces:
            lot_id = len(to.lots) + 1
            to.lots[lot_id] = replace(piece, id=lot_id)
        to.apply(plan.into)
        return plan

    def release_due(self, now: datetime) -> list[Posting]:
        postings = []
        for lot in due_for_release(self.lots.values(), now):
            posting = release(lot)
            new_state = LotState.OPEN if lot.remaining > 0 else LotState.CLOSED
            self.lots[lot.id] = replace(lot, state=new_state)
            if posting:
                postings.append(self.apply(posting))
        return postings

    def expire_due(self, now: datetime) -> list[Posting]:
        """One posting per day lots expired, as the sweep writes them."""
        due = due_for_expiry(self.lots.values(), now)
        postings = [self.apply(e.posting)
                    for e in expiries(due, ZoneInfo(self.policy.timezone)) if e.posting]
        for lot in due:
            self.lots[lot.id] = replace(self.lots[lot.id], state=LotState.EXPIRED)
        return postings
