"""Event ingest: the one door through which channels report what members did.

A batch is one transaction. Each event is resolved to a member (enrolling an
unknown identity where the program allows), checked, evaluated by the program
version current at its ``occurred_at`` (see ``patron.flows.earning``), and written
with its ledger earns. What an event's type adds to that (a purchase records
its order, a return takes back what the returned lines earned, a payment pays a
membership) is its handler's, found in ``patron.flows.event_types``; this module
never asks which type an event is. An event id already seen returns its first
outcome and writes nothing; an event that cannot be processed is rejected with a
problem and not recorded, so it can be fixed and sent again. An event id sent
again with another event behind it (see :mod:`patron.events.domain`) is rejected
as ``idempotency_key_reused``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection

from patron.db.engine import JSONText
from patron.earning import repository as earning_repository
from patron.errors import IdempotencyKeyReused, InvalidInput, NotFound, PatronError, Refused
from patron.events import repository
from patron.events.domain import Recorded, differences, repeat_differences
from patron.events.schemas import EventIn, EventOutcome, Note
from patron.flows import enrolment
from patron.flows.earning import BatchEarning
from patron.flows.event_types import event_type
from patron.flows.handlers import Handler, Made, Pending, announce, event_row, outcome
from patron.members import repository as member_repository
from patron.members import service as member_service
from patron.members import standing
from patron.program.catalog import PURCHASE
from patron.program.context import InvalidEvent, parse_purchase
from patron.program.service import Program

CLOCK_SKEW = timedelta(minutes=5)


class UnknownMember(NotFound):
    code = "member_not_found"
    title = "Member not found"


class OccurredInFuture(InvalidInput):
    code = "occurred_in_future"
    title = "Event dated in the future"


def _data(model: type[BaseModel], event: EventIn) -> BaseModel:
    try:
        return model.model_validate(event.data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in ("data", *first["loc"]))
        raise InvalidInput(f"{where}: {first['msg']}", field=where) from None


def made_of(event: EventIn, currency: str) -> Made:
    """What ingest can make of an event alone (``Made``), for a caller that has time for
    it before the event's batch is written (an import's parsing process)."""
    purchase = None
    if event.type == PURCHASE:
        try:
            purchase = parse_purchase(event.data, currency)
        except InvalidEvent:
            pass  # the evaluation refuses it, in its words
    return Made(purchase, JSONText(json.dumps(event.data)))


def checked_data(batch: list[EventIn]) -> dict[int, BaseModel]:
    """The events' data as their types' payload models, by place in the batch, for those
    whose data the model takes (pure): what ``ingest`` would build first, built beforehand
    (an import does, for the next batch while this one is written). A data the model
    refuses is left to ingest, which refuses the event in its words."""
    found: dict[int, BaseModel] = {}
    for index, event in enumerate(batch):
        payload = event_type(event.type).data
        if payload is not None:
            try:
                found[index] = _data(payload, event)
            except InvalidInput:
                continue
    return found


def _check(item: Pending, program: Program, now: datetime) -> None:
    """Ingest's own checks of an event (its payload model is built unless it was
    beforehand)."""
    event = item.event
    if event.occurred_at > now + CLOCK_SKEW:
        raise OccurredInFuture(f"event {event.id} is dated {event.occurred_at.isoformat()}, "
                               "after the current time", field="occurred_at")
    payload = event_type(event.type).data
    if payload is not None and item.data is None:
        item.data = _data(payload, event)
    item.handler.check(item, program)
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
    by_id = member_repository.effective_member_ids(
        conn, program.id, [i.event.member.id for i in items if i.event.member.id])
    keys = [(i.identity[0], i.identity[1]) for i in items if i.identity]
    owners = member_repository.identity_owners(conn, program.id, keys)
    known = {key: member_id for key, (member_id, _) in owners.items()}
    to_enrol: dict[tuple[str, str], Pending] = {}
    waiting: list[Pending] = []
    for item in items:
        if item.event.member.id is not None:
            if item.event.member.id in by_id:
                item.member_id = by_id[item.event.member.id]
            else:
                rejected[item.index] = UnknownMember(
                    f"member {item.event.member.id} does not exist in this program")
            continue
        if item.identity[:2] in known:
            item.member_id, item.identity_id = owners[item.identity[:2]]
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
    return program.settings.auto_enrol and event_type(item.event.type).enrols


def _enrol(conn: Connection, program: Program, items: list[Pending],
           to_enrol: dict[tuple[str, str], Pending], known: dict[tuple[str, str], int],
           now: datetime) -> None:
    """Enrol unknown identities, each dated at its earliest event of the batch that may enrol."""
    if not to_enrol:
        return
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


def ingest(conn: Connection, program: Program, batch: list[EventIn], *, now: datetime,
           actor: str, earn_before_start: bool = True,
           checked: Mapping[int, BaseModel] | None = None,
           made: Sequence[Made | None] | None = None) -> list[EventOutcome]:
    """Process a batch of events; returns one outcome per event, in order.

    ``earn_before_start=False`` records events dated before the program began
    (imported history) without awarding points for them; such an event may be of a
    custom type the current version declares though its own version did not.
    ``checked``: the events' payload models, built beforehand (``checked_data``);
    ``made``: what was made of each event beforehand (``made_of``), in the batch's order.
    """
    results = _recorded(conn, program, batch, list(range(len(batch))))
    items, repeats = _firsts(batch, results)
    if checked is not None or made is not None:  # what was built beforehand
        for item in items:
            item.data = checked.get(item.index) if checked is not None else None
            item.made = made[item.index] if made is not None else None
    rejected: dict[int, PatronError] = {}
    items = _admitted(conn, program, items, now, rejected)
    held = earning_repository.lock_accounts(conn, program, [i.member_id for i in items])
    # once locked: who may earn, and the profile rules read, in one statement
    people = earning_repository.member_rows(conn, program.id, [i.member_id for i in items])
    halted = standing.halted_among(people)
    earning = BatchEarning(conn, program, [(i.member_id, i.event) for i in items], now,
                           held=held, members=people)
    items = _evaluated(earning, program, items, now, earn_before_start, rejected, halted)
    with_batch = [i for i in items if i.handler.stage == 0]
    for item, answered in zip(with_batch, _write(conn, program, earning, with_batch, now,
                                                 actor)):
        results[item.index] = answered
    _process_alone(conn, program, [i for i in items if i.handler.stage], now, actor, results,
                   rejected)
    _settle(conn, program, batch, rejected, results)
    _answer_repeats(batch, repeats, results)
    return [results[i] for i in range(len(batch))]


def _firsts(batch: list[EventIn], results: dict[int, EventOutcome]
            ) -> tuple[list[Pending], dict[int, int]]:
    """The batch's events not recorded yet, each id once; and the first index of each
    id the batch repeats, by the repeat's index."""
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
            items.append(Pending(index, event, event_type(event.type).handler))
    return items, repeats


def _admitted(conn: Connection, program: Program, items: list[Pending], now: datetime,
              rejected: dict[int, PatronError]) -> list[Pending]:
    """The events that pass their checks and their handler's, with their members found."""
    for item in items:
        try:
            _check(item, program, now)
        except PatronError as exc:
            rejected[item.index] = refusal(exc)
    items = _kept(items, rejected)
    for handler, group in _by_handler(items).items():
        handler.refuse(conn, program, group, rejected)
    items = _kept(items, rejected)
    _resolve_members(conn, program, items, now, rejected)
    return _kept(items, rejected)


def _evaluated(earning: BatchEarning, program: Program, items: list[Pending], now: datetime,
               earn_before_start: bool, rejected: dict[int, PatronError],
               halted: dict[int, str]) -> list[Pending]:
    """Evaluate the events in order; those the earn step refuses are rejected.

    Every event is evaluated, so the member's counts move on, but only one whose type
    earns (see ``Handler.stage``) gets what the rules give, and then only if it is
    dated after the program began or ``earn_before_start`` allows it, and its member
    may earn (``halted``: blocked or closed; the outcome's note says so).
    """
    for position, item in enumerate(items):
        earns = item.handler.earns and (earn_before_start
                                        or item.event.occurred_at >= program.created_at)
        if item.member_id in halted and item.handler.earns:
            earns = False
            item.notes.append(Note(**standing.earning_note(halted[item.member_id])))
        try:
            item.earned = earning.evaluate(
                position, item.member_id, item.event, now, earn=earns,
                purchase=item.made.purchase if item.made is not None else None)
            item.awards, item.gifts = item.earned.outcome, item.earned.gifts
        except PatronError as exc:
            rejected[item.index] = refusal(exc)
    return _kept(items, rejected)


def _write(conn: Connection, program: Program, earning: BatchEarning, items: list[Pending],
           now: datetime, actor: str) -> list[EventOutcome]:
    """Record the events, what their types bring (a purchase's order) and their earns;
    returns their outcomes."""
    outcomes = [outcome(item, earning.tier_changes.get(item.event.id)) for item in items]
    through = member_repository.identity_ids(  # the identities enrolled by the batch
        conn, program.id, [i.identity[:2] for i in items if i.identity and not i.identity_id])
    event_ids = repository.insert_events(conn, [
        {**event_row(program, i, o, now), "identity_id": i.identity_id or through.get(
            i.identity[:2]) if i.identity else None} for i, o in zip(items, outcomes)])
    for item, event_pk in zip(items, event_ids, strict=True):
        item.event_pk = event_pk
    for handler, group in _by_handler(items).items():
        handler.record(conn, program, group)
    earning.write([(i.earned, i.event_pk, i.event) for i in items if i.earned],
                  actor=actor, now=now)
    announce(conn, program, items)
    return outcomes


def _process_alone(conn: Connection, program: Program, items: list[Pending], now: datetime,
                   actor: str, results: dict[int, EventOutcome],
                   rejected: dict[int, PatronError]) -> None:
    """Record the events that earn nothing, once the batch is written: one at a time,
    lower stages first, in batch order within a stage."""
    for item in sorted(items, key=lambda i: i.handler.stage):
        try:
            results[item.index] = item.handler.process(conn, program, item, now, actor)
        except PatronError as exc:
            rejected[item.index] = refusal(exc)


def _by_handler(items: Sequence[Pending]) -> dict[Handler, list[Pending]]:
    groups: dict[Handler, list[Pending]] = {}
    for item in items:
        groups.setdefault(item.handler, []).append(item)
    return groups


def refusal(exc: PatronError) -> PatronError:
    """A refusal kept for the outcome, as its problem: the exception itself (its
    traceback, its cause's) reaches the frame that caught it, which holds the batch, a
    cycle only the collector frees (an import runs it every few batches)."""
    return Refused(exc.problem())


def _kept(items: list[Pending], rejected: dict[int, PatronError]) -> list[Pending]:
    return [i for i in items if i.index not in rejected]


def _answer_repeats(batch: list[EventIn], repeats: dict[int, int],
                    results: dict[int, EventOutcome]) -> None:
    """An id sent again within the batch answers as a retry would: the first's outcome,
    or ``idempotency_key_reused`` when another event is behind it."""
    for index, first in repeats.items():
        differ = repeat_differences(batch[first], batch[index])
        if differ:
            results[index] = _rejected(batch[index], _reused(batch[index], differ))
            continue
        first_result = results[first]
        results[index] = first_result.model_copy(
            update={"status": "duplicate" if first_result.status != "rejected" else "rejected"})


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
