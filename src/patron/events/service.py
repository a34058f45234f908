"""Event ingest: the one door through which channels report what members did.

A batch is one transaction. Each event is resolved to a member (enrolling an
unknown identity where the program allows), checked, and turned into ledger
earns. An event id already seen returns its first outcome and writes nothing;
an event that cannot be processed is rejected with a problem and not recorded,
so it can be fixed and sent again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection

from patron.errors import Conflict, InvalidInput, NotFound, PatronError
from patron.events import domain, repository
from patron.events.schemas import Award, EventIn, EventOutcome, PurchaseData
from patron.ledger import domain as ledger_domain
from patron.ledger.service import Earn, EntryMeta, earn_many
from patron.members import repository as member_repository
from patron.members import service as member_service
from patron.programs.service import Program

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


class UnsupportedEvent(InvalidInput):
    code = "unsupported_event"
    title = "Event type not supported"


@dataclass
class Pending:
    """An event on its way through a batch."""

    index: int
    event: EventIn
    member_id: int | None = None
    enrolled: bool = False
    purchase: PurchaseData | None = None
    identity: tuple[str, str, str | None] | None = None
    awards: list[tuple[Earn, Award]] = field(default_factory=list)


def _check(item: Pending, program: Program, now: datetime) -> None:
    event = item.event
    if event.occurred_at > now + CLOCK_SKEW:
        raise OccurredInFuture(f"event {event.id} is dated {event.occurred_at.isoformat()}, "
                               "after the current time", field="occurred_at")
    if event.type == "return":
        raise UnsupportedEvent("returns are processed once the program has earn rules",
                               field="type")
    if event.type == "purchase":
        try:
            item.purchase = PurchaseData.model_validate(event.data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in ("data", *first["loc"]))
            raise InvalidInput(f"{where}: {first['msg']}", field=where) from None
        if item.purchase.currency != program.settings.currency:
            raise CurrencyMismatch(f"order is in {item.purchase.currency} but the program "
                                   f"counts in {program.settings.currency}", field="data.currency")
    if event.member.identity is not None:
        [item.identity] = member_service.normalised(program, [event.member.identity])


def _resolve_members(conn: Connection, program: Program, items: list[Pending], now: datetime,
                     rejected: dict[int, PatronError]) -> None:
    by_id = member_repository.existing_member_ids(
        conn, program.id, [i.event.member.id for i in items if i.event.member.id])
    keys = [(i.identity[0], i.identity[1]) for i in items if i.identity]
    known = member_repository.members_by_identity(conn, program.id, keys)
    to_enrol: dict[tuple[str, str], Pending] = {}
    for item in items:
        if item.event.member.id is not None:
            if item.event.member.id in by_id:
                item.member_id = item.event.member.id
            else:
                rejected[item.index] = UnknownMember(
                    f"member {item.event.member.id} does not exist in this program")
            continue
        kind, value, _ = item.identity
        if (kind, value) in known:
            item.member_id = known[(kind, value)]
        elif program.settings.auto_enrol and item.event.type in ENROLLING_TYPES:
            to_enrol.setdefault((kind, value), item)
        else:
            rejected[item.index] = UnknownMember(
                f"no member has identity {kind}:{value}", identity={"type": kind, "value": value})
    _enrol(conn, program, to_enrol, known, now)
    for item in items:
        if item.member_id is None and item.identity and item.index not in rejected:
            item.member_id = known[(item.identity[0], item.identity[1])]
            item.enrolled = to_enrol.get(item.identity[:2]) is item


def _enrol(conn: Connection, program: Program, to_enrol: dict[tuple[str, str], Pending],
           known: dict[tuple[str, str], int], now: datetime) -> None:
    firsts = list(to_enrol.values())
    ids = member_service.enrol(
        conn, program, now,
        [dict(join_channel=p.event.channel) for p in firsts], [[p.identity] for p in firsts])
    for key, member_id in zip(to_enrol, ids):
        known[key] = member_id


def _plan_awards(item: Pending, program: Program, actor: str) -> None:
    purchase = item.purchase
    if purchase is None:
        return
    points = domain.flat_rate_points(program.settings, purchase.total)
    if points <= 0:
        return
    settings = program.settings
    reason = domain.flat_rate_reason(settings, purchase.order_id, purchase.total, points)
    meta = EntryMeta(item.event.occurred_at, f"event:{item.event.id}", reason, actor,
                     order_id=purchase.order_id, details={"rule": "flat_rate"})
    pending = settings.pending_days > 0
    earn = Earn(item.member_id, points, pending, meta)
    lot = ledger_domain.new_lot(0, points, occurred_at=item.event.occurred_at,
                                pending_days=settings.pending_days if pending else None,
                                policy=settings.expiry_policy)
    award = Award(member_id=item.member_id, kind="earn", points=points,
                  status="pending" if lot.state == ledger_domain.LotState.PENDING else "posted",
                  available_at=lot.available_at, expires_at=lot.expires_at, reason=reason)
    item.awards.append((earn, award))


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


def _outcome(item: Pending) -> EventOutcome:
    awards = [award for _, award in item.awards]
    return EventOutcome(id=item.event.id, status="processed", type=item.event.type,
                        member_id=item.member_id, enrolled=item.enrolled,
                        points=sum(a.points for a in awards), awards=awards)


def _write(conn: Connection, program: Program, items: list[Pending],
           now: datetime) -> list[EventOutcome]:
    """Record the events and their earns; returns their outcomes (built once: they cost)."""
    outcomes = [_outcome(item) for item in items]
    event_ids = repository.insert_events(conn, [
        dict(program_id=program.id, external_id=i.event.id, type=i.event.type,
             member_id=i.member_id, channel=i.event.channel, occurred_at=i.event.occurred_at,
             received_at=now, data=i.event.data,
             outcome=o.model_dump(mode="json", exclude={"status"}))
        for i, o in zip(items, outcomes)])
    purchases = [(i, pk) for i, pk in zip(items, event_ids) if i.purchase]
    repository.insert_orders(
        conn,
        [dict(program_id=program.id, order_id=i.purchase.order_id, member_id=i.member_id,
              event_id=pk, channel=i.event.channel, currency=i.purchase.currency,
              total=i.purchase.total, occurred_at=i.event.occurred_at) for i, pk in purchases],
        [[dict(line_no=n, **line.model_dump()) for n, line in enumerate(i.purchase.lines)]
         for i, _ in purchases])
    earns = [Earn(e.member_id, e.points, e.pending, EntryMeta(**{**e.meta.__dict__,
                                                                 "event_pk": pk}))
             for item, pk in zip(items, event_ids) for e, _ in item.awards]
    earn_many(conn, program, earns, now)
    return outcomes


def ingest(conn: Connection, program: Program, batch: list[EventIn], *, now: datetime,
           actor: str, earn_before_start: bool = True) -> list[EventOutcome]:
    """Process a batch of events; returns one outcome per event, in order.

    ``earn_before_start=False`` records events dated before the program began
    (imported history) without awarding points for them.
    """
    stored = repository.outcomes_by_external_id(conn, program.id, [e.id for e in batch])
    results: dict[int, EventOutcome] = {}
    first_seen: dict[str, int] = {}
    repeats: dict[int, int] = {}
    items: list[Pending] = []
    for index, event in enumerate(batch):
        if event.id in stored:
            results[index] = EventOutcome(**stored[event.id], status="duplicate")
        elif event.id in first_seen:
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
    for item in items:
        if earn_before_start or item.event.occurred_at >= program.created_at:
            _plan_awards(item, program, actor)
    for item, outcome in zip(items, _write(conn, program, items, now)):
        results[item.index] = outcome
    for index, error in rejected.items():
        results[index] = EventOutcome(id=batch[index].id, status="rejected",
                                      type=batch[index].type, error=error.problem())
    for index, first in repeats.items():
        first_result = results[first]
        results[index] = first_result.model_copy(
            update={"status": "duplicate" if first_result.status != "rejected" else "rejected"})
    return [results[i] for i in range(len(batch))]
