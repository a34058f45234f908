"""Event ingest: the one door through which channels report what members did.

A batch is one transaction. Each event is resolved to a member (enrolling an
unknown identity where the program allows), checked, evaluated by the program
version current at its ``occurred_at`` (see ``patron.flows.earning``), and written
with its ledger earns. Returns take back what the returned lines earned. An
event id already seen returns its first outcome and writes nothing; an event
that cannot be processed is rejected with a problem and not recorded, so it can
be fixed and sent again. An event id sent again with another event behind it
(see :mod:`patron.events.domain`) is rejected as ``idempotency_key_reused``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection

from patron.earning import repository as earning_repository
from patron.flows.returns import PlannedReturn, plan_return, return_gifts, write_return
from patron.flows.earning import BatchEarning, Earned, notes_of
from patron.errors import Conflict, IdempotencyKeyReused, InvalidInput, NotFound, PatronError
from patron.events import repository
from patron.events.domain import Recorded, differences, repeat_differences
from patron.events.schemas import (Award, EventIn, EventOutcome, GiftOutcome, Note, PaymentData,
                                   PurchaseData, ReturnData, TierMove)
from patron.members import repository as member_repository
from patron import hooks
from patron.flows import enrolment
from patron.members import service as member_service
from patron.memberships.service import record_payment
from patron.program.service import Program

CLOCK_SKEW = timedelta(minutes=5)
ENROLLING_TYPES = {"purchase", "sign_up"}


class UnknownMember(NotFound):
    code = "member_not_found"
    title = "Member not found"


class DuplicateOrder(Conflict):
    code = "duplicate_order"
    title = "Order already recorded"


class CurrencyMismatch(InvalidInput):
    code = "currency_mismatch"
    title = "Currency differs from the program's"


class OccurredInFuture(InvalidInput):
    code = "occurred_in_future"
    title = "Event dated in the future"


@dataclass
class Pending:
    """An event on its way through a batch."""

    index: int
    event: EventIn
    member_id: int | None = None
    enrolled: bool = False
    purchase: PurchaseData | None = None
    returned: ReturnData | None = None
    payment: PaymentData | None = None
    identity: tuple[str, str, str | None] | None = None
    earned: Earned | None = None
    awards: list[Award] = field(default_factory=list)
    gifts: list[GiftOutcome] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    """A return's notes (a cancelled gift that was already sent)."""


def _data(model: type[BaseModel], event: EventIn) -> BaseModel:
    try:
        return model.model_validate(event.data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in ("data", *first["loc"]))
        raise InvalidInput(f"{where}: {first['msg']}", field=where) from None


def _check(item: Pending, program: Program, now: datetime) -> None:
    event = item.event
    if event.occurred_at > now + CLOCK_SKEW:
        raise OccurredInFuture(f"event {event.id} is dated {event.occurred_at.isoformat()}, "
                               "after the current time", field="occurred_at")
    if event.type == "return":
        item.returned = _data(ReturnData, event)
    if event.type == "membership_payment":
        item.payment = _data(PaymentData, event)
    if event.type == "purchase":
        item.purchase = _data(PurchaseData, event)
        if item.purchase.currency != program.settings.currency:
            raise CurrencyMismatch(f"order is in {item.purchase.currency} but the program "
                                   f"counts in {program.settings.currency}", field="data.currency")
    if event.member.identity is not None:
        [item.identity] = member_service.normalised(program, [event.member.identity])


def _resolve_members(conn: Connection, program: Program, items: list[Pending], now: datetime,
                     rejected: dict[int, PatronError]) -> None:
    """Find each event's member, enrolling unknown identities the batch may enrol.

    Events resolve as if processed one by one: an event of a type that cannot enrol
    (a review, a custom type) finds the member an earlier purchase or sign-up of the
    batch enrols for its identity, as it would if sent in the next batch. One placed
    before that enrolling event finds the member too: every event carries its own
    time, so the order a channel lists them in does not decide whether they count. Only
    an event that can enrol dates the new member (``_enrol``).
    """
    by_id = member_repository.existing_member_ids(
        conn, program.id, [i.event.member.id for i in items if i.event.member.id])
    keys = [(i.identity[0], i.identity[1]) for i in items if i.identity]
    known = member_repository.members_by_identity(conn, program.id, keys)
    to_enrol: dict[tuple[str, str], Pending] = {}
    waiting: list[Pending] = []
    for item in items:
        if item.event.member.id is not None:
            if item.event.member.id in by_id:
                item.member_id = item.event.member.id
            else:
                rejected[item.index] = UnknownMember(
                    f"member {item.event.member.id} does not exist in this program")
            continue
        if item.identity[:2] in known:
            item.member_id = known[item.identity[:2]]
        elif _enrols(program, item):
            to_enrol.setdefault(item.identity[:2], item)
        else:
            waiting.append(item)  # unless an event of the batch enrols its identity
    for item in waiting:
        if item.identity[:2] not in to_enrol:
            kind, value, _ = item.identity
            rejected[item.index] = UnknownMember(
                f"no member has identity {kind}:{value}", identity={"type": kind, "value": value})
    _enrol(conn, program, [i for i in items if i.member_id is None and i.index not in rejected
                           and _enrols(program, i)], to_enrol, known, now)
    for item in items:
        if item.member_id is None and item.identity and item.index not in rejected:
            item.member_id = known[item.identity[:2]]
            item.enrolled = to_enrol.get(item.identity[:2]) is item


def _enrols(program: Program, item: Pending) -> bool:
    """Whether the event may enrol an unknown identity."""
    return program.settings.auto_enrol and item.event.type in ENROLLING_TYPES


def _enrol(conn: Connection, program: Program, items: list[Pending],
           to_enrol: dict[tuple[str, str], Pending], known: dict[tuple[str, str], int],
           now: datetime) -> None:
    """Enrol unknown identities, each dated at its earliest event of the batch that may enrol."""
    firsts = list(to_enrol.values())
    joined = {key: now for key in to_enrol}
    for item in items:
        key = item.identity[:2] if item.identity else None
        if key in joined and item.event.occurred_at < joined[key]:
            joined[key] = item.event.occurred_at
    ids = enrolment.enrol(
        conn, program, now,
        [dict(join_channel=p.event.channel) for p in firsts], [[p.identity] for p in firsts],
        joined=list(joined.values()))
    for key, member_id in zip(to_enrol, ids):
        known[key] = member_id


def _named_members(conn: Connection, program: Program,
                   events: list[EventIn]) -> list[int | None]:
    """The member each event names, in order (None: an identity nobody has)."""
    keys = [_identity_key(program, event) for event in events]
    owners = member_repository.members_by_identity(conn, program.id,
                                                   [key for key in keys if key])
    return [event.member.id if event.member.id is not None else owners.get(key) if key else None
            for event, key in zip(events, keys)]


def _identity_key(program: Program, event: EventIn) -> tuple[str, str] | None:
    """The normalised identity an event names its member by (None: by id, or invalid)."""
    if event.member.identity is None:
        return None
    try:
        [(kind, value, _)] = member_service.normalised(program, [event.member.identity])
    except InvalidInput:
        return None
    return kind, value


def _reused(event: EventIn, differ: list[str]) -> IdempotencyKeyReused:
    return IdempotencyKeyReused(
        f"event id {event.id!r} was already used for another event ({', '.join(differ)} "
        "differ); send a new event with a new id", event_id=event.id, differs=differ)


def _rejected(event: EventIn, error: PatronError) -> EventOutcome:
    return EventOutcome(id=event.id, status="rejected", type=event.type, error=error.problem())


def _recorded(conn: Connection, program: Program, batch: list[EventIn],
              indices: list[int]) -> dict[int, EventOutcome]:
    """The answers for those of ``batch[indices]`` whose id is recorded: the first outcome
    as a duplicate, or ``idempotency_key_reused`` when another event was recorded under it."""
    stored = repository.recorded_events(conn, program.id, [batch[i].id for i in indices])
    found = [i for i in indices if batch[i].id in stored]
    named = _named_members(conn, program, [batch[i] for i in found])
    answers: dict[int, EventOutcome] = {}
    for index, member_id in zip(found, named):
        event, row = batch[index], stored[batch[index].id]
        differ = differences(event, member_id, Recorded(
            row.type, row.member_id, row.occurred_at, row.channel, row.data))
        answers[index] = (_rejected(event, _reused(event, differ)) if differ
                          else EventOutcome(**row.outcome, status="duplicate"))
    return answers


def _refuse_known_orders(conn: Connection, program: Program, items: list[Pending],
                         rejected: dict[int, PatronError]) -> None:
    orders = [i.purchase.order_id for i in items if i.purchase]
    known = repository.known_orders(conn, program.id, orders)
    for item in items:
        if item.purchase is None:
            continue
        if item.purchase.order_id in known:
            rejected[item.index] = DuplicateOrder(
                f"order {item.purchase.order_id} was already recorded by another event",
                order_id=item.purchase.order_id)
        known.add(item.purchase.order_id)


def _outcome(item: Pending, tier: TierMove | None = None) -> EventOutcome:
    earned = item.earned
    return EventOutcome(id=item.event.id, status="processed", type=item.event.type,
                        member_id=item.member_id, enrolled=item.enrolled,
                        points=sum(a.points for a in item.awards),
                        program_version=earned.version if earned else None,
                        awards=item.awards, gifts=item.gifts,
                        notes=(notes_of(earned.evaluation) if earned else []) + item.notes,
                        tier=tier)


def _event_row(program: Program, item: Pending, outcome: EventOutcome,
               now: datetime) -> dict:
    event = item.event
    return dict(program_id=program.id, external_id=event.id, type=event.type,
                member_id=item.member_id, channel=event.channel, occurred_at=event.occurred_at,
                received_at=now, data=event.data,
                outcome=outcome.model_dump(mode="json", exclude={"status"}))


def _write(conn: Connection, program: Program, earning: BatchEarning, items: list[Pending],
           now: datetime, actor: str) -> list[EventOutcome]:
    """Record the events, their orders and earns; returns their outcomes."""
    outcomes = [_outcome(item, earning.tier_changes.get(item.event.id)) for item in items]
    event_ids = repository.insert_events(conn, [_event_row(program, i, o, now)
                                                for i, o in zip(items, outcomes)])
    purchases = [(i, pk) for i, pk in zip(items, event_ids) if i.purchase]
    repository.insert_orders(
        conn,
        [dict(program_id=program.id, order_id=i.purchase.order_id, member_id=i.member_id,
              event_id=pk, channel=i.event.channel, currency=i.purchase.currency,
              total=i.purchase.total, occurred_at=i.event.occurred_at) for i, pk in purchases],
        [[dict(line_no=n, **line.model_dump()) for n, line in enumerate(i.purchase.lines)]
         for i, _ in purchases])
    earning.write([(i.earned, pk, i.event) for i, pk in zip(items, event_ids) if i.earned],
                  actor=actor, now=now)
    _announce(conn, program, items, event_ids)
    return outcomes


def _announce(conn: Connection, program: Program, items: list[Pending],
              event_ids: list[int]) -> None:
    """Tell the subscribers which events were recorded (``hooks.EventsRecorded``)."""
    if items:
        hooks.emit(conn, hooks.EventsRecorded(program, tuple(
            hooks.RecordedEvent(
                event_id=pk, external_id=i.event.id, type=i.event.type, member_id=i.member_id,
                occurred_at=i.event.occurred_at, channel=i.event.channel, data=i.event.data,
                order_id=i.purchase.order_id if i.purchase else None,
                order_total=i.purchase.total if i.purchase else None)
            for i, pk in zip(items, event_ids, strict=True))))


def _process_return(conn: Connection, program: Program, item: Pending, now: datetime,
                    actor: str) -> EventOutcome:
    """One return, after the batch's purchases are written (it may return one of them)."""
    planned: PlannedReturn = plan_return(conn, program, item.member_id, item.event,
                                         item.returned)
    [event_pk] = repository.insert_events(conn, [_event_row(program, item, EventOutcome(
        id=item.event.id, status="processed"), now)])
    item.awards = write_return(conn, program, planned, item.event, event_pk, actor=actor,
                               now=now)
    item.gifts, item.notes = return_gifts(conn, program, planned, now)
    outcome = _outcome(item)
    repository.set_outcome(conn, event_pk, outcome.model_dump(mode="json", exclude={"status"}))
    _announce(conn, program, [item], [event_pk])
    return outcome


def _process_payment(conn: Connection, program: Program, item: Pending, now: datetime,
                     actor: str) -> EventOutcome:
    """A ``membership_payment``: pays the member's live membership (once per reference)."""
    payment = item.payment
    paid = record_payment(conn, program, item.member_id, payment.reference, payment.amount,
                          min(item.event.occurred_at, now), currency=payment.currency,
                          actor=actor)
    outcome = _outcome(item).model_copy(update={"membership": paid.model_dump(mode="json")})
    event_ids = repository.insert_events(conn, [_event_row(program, item, outcome, now)])
    _announce(conn, program, [item], event_ids)
    return outcome


def ingest(conn: Connection, program: Program, batch: list[EventIn], *, now: datetime,
           actor: str, earn_before_start: bool = True) -> list[EventOutcome]:
    """Process a batch of events; returns one outcome per event, in order.

    ``earn_before_start=False`` records events dated before the program began
    (imported history) without awarding points for them; such an event may be of a
    custom type the current version declares though its own version did not.
    """
    results = _recorded(conn, program, batch, list(range(len(batch))))
    first_seen: dict[str, int] = {}
    repeats: dict[int, int] = {}
    items: list[Pending] = []
    for index, event in enumerate(batch):
        if index in results:
            continue
        if event.id in first_seen:
            repeats[index] = first_seen[event.id]
        else:
            first_seen[event.id] = index
            items.append(Pending(index, event))
    rejected: dict[int, PatronError] = {}
    for item in items:
        try:
            _check(item, program, now)
        except PatronError as exc:
            rejected[item.index] = exc
    items = [i for i in items if i.index not in rejected]
    _refuse_known_orders(conn, program, items, rejected)
    items = [i for i in items if i.index not in rejected]
    _resolve_members(conn, program, items, now, rejected)
    items = [i for i in items if i.index not in rejected]
    earning_repository.lock_accounts(conn, program.id, [i.member_id for i in items])
    earning = BatchEarning(conn, program, [(i.member_id, i.event) for i in items], now)
    for position, item in enumerate(items):
        earns = item.returned is None and item.payment is None and (earn_before_start
                                           or item.event.occurred_at >= program.created_at)
        try:
            item.earned = earning.evaluate(position, item.member_id, item.event, now,
                                           earn=earns)
            item.awards, item.gifts = item.earned.outcome, item.earned.gifts
        except PatronError as exc:
            rejected[item.index] = exc
    items = [i for i in items if i.index not in rejected]
    returns = [i for i in items if i.returned is not None]
    payments = [i for i in items if i.payment is not None]
    items = [i for i in items if i.returned is None and i.payment is None]
    for item, outcome in zip(items, _write(conn, program, earning, items, now, actor)):
        results[item.index] = outcome
    for item in returns:
        try:
            results[item.index] = _process_return(conn, program, item, now, actor)
        except PatronError as exc:
            rejected[item.index] = exc
    for item in payments:
        try:
            with conn.begin_nested():  # a refused payment leaves no trace
                results[item.index] = _process_payment(conn, program, item, now, actor)
        except PatronError as exc:
            rejected[item.index] = exc
    _settle(conn, program, batch, rejected, results)
    for index, first in repeats.items():
        differ = repeat_differences(batch[first], batch[index])
        if differ:
            results[index] = _rejected(batch[index], _reused(batch[index], differ))
            continue
        first_result = results[first]
        results[index] = first_result.model_copy(
            update={"status": "duplicate" if first_result.status != "rejected" else "rejected"})
    return [results[i] for i in range(len(batch))]


def _settle(conn: Connection, program: Program, batch: list[EventIn],
            rejected: dict[int, PatronError], results: dict[int, EventOutcome]) -> None:
    """Answer the rejected events, unless the same event won a race to be recorded.

    A retry sent while the first send is still in flight can find what that send
    wrote (its order, its member, its return's lines) without seeing the event
    itself, and be refused for it (``duplicate_order``). It is the same request, so
    once its id is recorded it answers the first outcome, as any retry does.
    """
    settled = _recorded(conn, program, batch, list(rejected)) if rejected else {}
    for index, error in rejected.items():
        results[index] = settled.get(index) or _rejected(batch[index], error)
