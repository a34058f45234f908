"""Simulating a draft program beside the current version, over the same events.

A marketer changing the program wants to see what the change costs before
publishing it: the draft and the current version each replay the same events
(given ones, or the program's recorded history in a date range) through the
same engine the live service uses, and the figures are reported side by side,
rule by rule. Nothing is written.

Recorded history is streamed in ``occurred_at`` order. Members are evaluated
with their profile (so ``member.is_birthday_month`` works) and with the counts
of the events they had before the range (so "first purchase" means the first
ever, not the first in the range). Per-member limits and budgets count from the
start of the range.

Members are also evaluated with the tier and paid plan they held when each
event occurred, as Patron recorded them (``patron.tiers.history``): tier
moves, tiers set by hand, and memberships with the dates their benefits ran.
Each document then reads that standing with its own ladder and plans (see
``patron.program.standing``), so a draft that doubles Gold's multiplier costs
what Gold members would have earned. Tiers are taken as recorded, not
recomputed from the replayed events: a draft that changes thresholds, the
qualification metric or tier points moves no one. Given events name members by
id or by identity; an identity Patron knows is evaluated as that member, and
one it does not know (or an id of no member) has no profile, no recorded tier
and no plan. Each side reports its points per tier, and the events whose
recorded tier (or plan) its document does not have.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from itertools import islice
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import Connection, func, select

from patron.errors import InvalidInput
from patron.events.schemas import EventIn
from patron.events.tables import events as events_table
from patron.members.domain import normalise_identity
from patron.members.repository import members_by_identity
from patron.members.tables import members as members_table
from patron.tiers.history import StandingHistory, load as load_history
from patron.flows import replay_schemas as schemas
from patron.flows.replay_campaigns import CampaignHistory
from patron.flows.replay_engagement import EngagementHistory
from patron.program.service import get_program
from patron.program.versions import ProgramVersion
from patron.program.context import MemberContext, MemberProfile
from patron.program.document import ProgramDocument
from patron.program.simulate import NO_TIER, SimulationReport, Simulator, TierReport
from patron.program.standing import NO_STANDING, Standing
from patron.schemas_common import MAX_INT

CHUNK = 1000
MAX_API_EVENTS = 50_000
"""Recorded events one API request may replay; the CLI has no limit."""
MAX_API_DAYS = 366
DEFAULT_DAYS = 30

INVALID_EVENT: Mapping[str, Any] = {"id": None, "type": None, "member": None,
                                    "occurred_at": None}
"""Stands in for an unreadable input line: every simulator counts it as an
``invalid_event`` skip, so the report still says how many lines were read."""


class SimulationTooLarge(InvalidInput):
    code = "simulation_too_large"
    title = "Too many events to simulate in one request"


class InvalidSimulationRange(InvalidInput):
    code = "invalid_simulation_range"
    title = "Invalid simulation range"


@dataclass
class History:
    """Events to replay, and the members they are about (by simulator member key).

    ``profiles`` and ``standings`` fill in while ``events`` is read, a chunk ahead
    of the events that need them.
    """

    kind: Literal["given", "recorded"]
    events: Iterable[Mapping[str, Any]]
    profiles: dict[str, MemberContext] = field(default_factory=dict)
    standings: dict[str, StandingHistory] = field(default_factory=dict)
    start: datetime | None = None
    end: datetime | None = None
    campaigns: CampaignHistory = field(default_factory=CampaignHistory)
    """Who is in which campaign's treatment (see ``patron.flows.replay_campaigns``)."""
    engagement: EngagementHistory = field(default_factory=EngagementHistory)
    """Badges held before the range, challenge holdouts (``patron.flows.replay_engagement``)."""

    def standing(self, key: str, at: datetime) -> Standing:
        """The simulator's ``StandingLookup``: a member's recorded tier and plan at ``at``."""
        history = self.standings.get(key)
        return history.at(at) if history is not None else NO_STANDING


def compare(draft: ProgramDocument, history: History, *, current: ProgramVersion | None = None,
            progress: Callable[[int], None] | None = None,
            progress_every: int = 1000) -> schemas.SimulationComparison:
    """Replay ``history`` through the draft and, if given, the current version."""
    draft_run = Simulator(draft, version=0)
    runs = [draft_run]
    current_run = None
    if current is not None and current.document is not None:
        current_run = Simulator(current.document, version=current.version)
        runs.append(current_run)
    history.campaigns.want([draft, current.document if current is not None else None])
    for run in runs:
        run.profiles, run.standing = history.profiles, history.standing
        run.campaigns = history.campaigns.lookup(run.program.document)
        run.engagement.held_out = history.engagement.held_out(run.program.document)
        run.engagement.held = history.engagement.badges
    started = time.perf_counter()
    read = 0
    for event in history.events:
        for run in runs:
            run.feed(event)
        read += 1
        if progress is not None and read % progress_every == 0:
            progress(read)
    elapsed = time.perf_counter() - started
    if progress is not None:
        progress(read)
    draft_figures = _figures(draft_run.report(), None)
    current_figures = (_figures(current_run.report(), current.version)
                       if current_run is not None and current is not None else None)
    return _comparison(history, draft_figures, current_figures, elapsed)


def _figures(report: SimulationReport, version: int | None) -> schemas.SimulationFigures:
    rules = [schemas.RuleFigures(
        rule_id=r.rule_id, rule_name=r.rule_name, points_issued=r.points_issued,
        points_clawed_back=r.points_clawed_back, net_points=r.net_points,
        cost_minor=r.cost_minor, awards=r.awards, members_affected=r.members_affected,
        capped_awards=r.capped_awards, limit_reached=r.limit_reached,
        budget_exhausted=r.budget_exhausted, cashback=getattr(r, "cashback", False),
        gift=r.gift, out_of_stock=r.out_of_stock)
        for r in report.rules]
    gifts = [schemas.GiftFigures(reward_id=g.reward_id, reward_name=g.reward_name,
                                 stock=g.stock, given=g.given, cancelled=g.cancelled, net=g.net,
                                 out_of_stock=g.out_of_stock) for g in report.gifts]
    largest = [schemas.LargestAward(points=a.points, rule_id=a.rule_id, member=a.member,
                                    event_id=a.event_id, explanation=a.explanation)
               for a in report.largest_awards]
    tiers = [_tier_figures(t) for t in report.tiers]
    return schemas.SimulationFigures(
        program_name=report.program_name, version=version, currency=report.currency,
        point_value_minor=report.point_value_minor, events_read=report.events_read,
        events_evaluated=report.events_evaluated, events_skipped=report.events_skipped,
        members_seen=report.members_seen,
        members_earning_nothing=report.members_earning_nothing,
        members_earning_nothing_sample=report.members_earning_nothing_sample,
        points_issued=report.points_issued, points_clawed_back=report.points_clawed_back,
        net_points=report.net_points, cost_minor=report.cost_minor, rules=rules,
        largest_awards=largest, gifts=gifts, tiers=tiers,
        tiers_not_in_document=report.tiers_not_in_document,
        plans_not_in_document=report.plans_not_in_document,
        campaigns=[schemas.CampaignFigures(**vars(c)) for c in report.campaigns],
        engagement=[schemas.EngagementFigures(**vars(e)) for e in report.engagement])


def _tier_figures(tier: TierReport) -> schemas.TierFigures:
    return schemas.TierFigures(
        tier_id=tier.tier_id, tier_name=tier.tier_name, events=tier.events,
        members=tier.members, points_issued=tier.points_issued,
        points_clawed_back=tier.points_clawed_back, net_points=tier.net_points,
        cost_minor=tier.cost_minor)


def _comparison(history: History, draft: schemas.SimulationFigures,
                current: schemas.SimulationFigures | None,
                elapsed: float) -> schemas.SimulationComparison:
    same_money = current is None or current.currency == draft.currency
    drafted = {r.rule_id: r for r in draft.rules}
    published = {r.rule_id: r for r in current.rules} if current else {}
    rules = []
    for rule_id in [*drafted, *(r for r in published if r not in drafted)]:
        new, old = drafted.get(rule_id), published.get(rule_id)
        named = new or old
        assert named is not None
        rules.append(schemas.RuleComparison(
            rule_id=rule_id, rule_name=named.rule_name,
            change="kept" if new and old else ("added" if new else "removed"),
            current=old, draft=new,
            net_points_change=(new.net_points if new else 0) - (old.net_points if old else 0),
            cost_minor_change=((new.cost_minor if new else 0) - (old.cost_minor if old else 0))
            if same_money else None))
    return schemas.SimulationComparison(
        events=schemas.SimulatedEvents(kind=history.kind, start=history.start, end=history.end),
        draft=draft, current=current, rules=rules, gifts=_gift_changes(draft, current),
        tiers=_tier_changes(draft, current),
        net_points_change=draft.net_points - current.net_points if current else None,
        cost_minor_change=(draft.cost_minor - current.cost_minor
                           if current and same_money else None),
        elapsed_seconds=round(elapsed, 3))


def _gift_changes(draft: schemas.SimulationFigures,
                  current: schemas.SimulationFigures | None) -> list[schemas.GiftComparison]:
    """Net units of each catalog gift, draft beside current."""
    drafted = {g.reward_id: g for g in draft.gifts}
    published = {g.reward_id: g for g in current.gifts} if current else {}
    changes = []
    for reward_id in [*drafted, *(g for g in published if g not in drafted)]:
        new, old = drafted.get(reward_id), published.get(reward_id)
        named = new or old
        assert named is not None
        changes.append(schemas.GiftComparison(
            reward_id=reward_id, reward_name=named.reward_name,
            current=old.net if old else None, draft=new.net if new else None,
            net_change=(new.net if new else 0) - (old.net if old else 0)))
    return changes


def _tier_changes(draft: schemas.SimulationFigures,
                  current: schemas.SimulationFigures | None) -> list[schemas.TierComparison]:
    """Points per tier, draft beside current: the draft's ladder, then tiers only the
    current version has, then events without a tier. Empty when neither has tiers."""
    if not any(t.tier_id is not None for t in [*draft.tiers, *(current.tiers if current
                                                                else [])]):
        return []
    drafted = {t.tier_id: t for t in draft.tiers}
    published = {t.tier_id: t for t in current.tiers} if current else {}
    order = [*(t for t in drafted if t is not None),
             *(t for t in published if t is not None and t not in drafted)]
    if None in drafted or None in published:
        order.append(None)
    changes = []
    for tier_id in order:
        new, old = drafted.get(tier_id), published.get(tier_id)
        named = new or old
        assert named is not None
        changes.append(schemas.TierComparison(
            tier_id=tier_id, tier_name=named.tier_name if tier_id is not None else NO_TIER,
            current=old, draft=new,
            points_issued_change=(new.points_issued if new else 0)
            - (old.points_issued if old else 0),
            net_points_change=(new.net_points if new else 0) - (old.net_points if old else 0)))
    return changes


# --- the events to replay ------------------------------------------------------------------


def given_events(events: Iterable[Mapping[str, Any]], conn: Connection | None = None,
                 program_id: int | None = None) -> History:
    """Events as the caller gives them; with a program, their members are evaluated with
    their profile and recorded standing (their counts start from the given events).

    A member named by an identity Patron knows is replayed as that member (by id), so
    their events by id and by identity are one member's."""
    history = History("given", events)
    if conn is not None and program_id is not None:
        region = get_program(conn, program_id).settings.default_region
        history.events = _with_members(conn, program_id, events, history, None, region)
    return history


def event_lines(lines: Iterable[str]) -> Iterator[Mapping[str, Any]]:
    """Events from JSONL lines, each as POST /api/v1/events takes it; an unreadable or
    invalid line becomes ``INVALID_EVENT``. Blank lines are ignored."""
    for line in lines:
        if not line.strip():
            continue
        try:
            yield EventIn.model_validate_json(line).model_dump()
        except ValidationError:
            yield INVALID_EVENT


def recorded_range(zone: Any, start: date | None, end: date | None, today: date, *,
                   max_days: int | None = MAX_API_DAYS) -> tuple[datetime, datetime]:
    """[start, end) as instants: whole days in the program's timezone.

    Defaults: ``end`` is tomorrow (today is included), ``start`` 30 days before it.
    """
    end = end or today + timedelta(days=1)
    start = start or end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise InvalidSimulationRange(f"from ({start}) must be before to ({end}); to is the "
                                     "first day not replayed", field="from")
    if max_days is not None and (end - start).days > max_days:
        raise InvalidSimulationRange(
            f"{(end - start).days} days is more than {max_days} a request may replay; "
            "narrow from/to or run `patron program simulate`", field="to")
    try:
        bounds = [datetime(d.year, d.month, d.day, tzinfo=zone).astimezone(timezone.utc)
                  for d in (start, end)]
    except OverflowError:
        raise InvalidSimulationRange("from/to is out of range", field="to") from None
    return bounds[0], bounds[1]


def count_recorded(conn: Connection, program_id: int, start: datetime, end: datetime) -> int:
    return conn.execute(select(func.count()).select_from(events_table).where(
        events_table.c.program_id == program_id, events_table.c.occurred_at >= start,
        events_table.c.occurred_at < end)).scalar_one()


def recorded_events(conn: Connection, program_id: int, start: datetime, end: datetime, *,
                    max_events: int | None = None) -> History:
    """The program's recorded events in [start, end), streamed in occurred_at order."""
    if max_events is not None:
        found = count_recorded(conn, program_id, start, end)
        if found > max_events:
            raise SimulationTooLarge(
                f"{found:,} events were recorded in this range; a request replays at most "
                f"{max_events:,}. Narrow from/to, or run `patron program simulate`, which "
                "streams any number", events=found, max_events=max_events)
    history = History("recorded", (), start=start, end=end)
    history.events = _with_members(conn, program_id, _stream(conn, program_id, start, end),
                                   history, start)
    return history


def _stream(conn: Connection, program_id: int, start: datetime,
            end: datetime) -> Iterator[Mapping[str, Any]]:
    e = events_table.c
    query = (select(e.external_id, e.type, e.member_id, e.occurred_at, e.channel, e.data)
             .where(e.program_id == program_id, e.occurred_at >= start, e.occurred_at < end)
             .order_by(e.occurred_at, e.id).execution_options(yield_per=CHUNK))
    for row in conn.execute(query):
        yield {"id": row.external_id, "type": row.type, "member": {"id": row.member_id},
               "occurred_at": row.occurred_at, "channel": row.channel, "data": row.data}


def _with_members(conn: Connection, program_id: int, events: Iterable[Mapping[str, Any]],
                  history: History, counts_before: datetime | None, region: str | None = None
                  ) -> Iterator[Mapping[str, Any]]:
    """Pass the events through, loading each chunk's new members into the history's
    ``profiles`` and ``standings``; with a ``region``, identities are resolved first."""
    iterator = iter(events)
    while chunk := list(islice(iterator, CHUNK)):
        if region is not None:
            chunk = _by_member_id(conn, program_id, chunk, region)
        wanted = {member_id for event in chunk
                  if (member_id := _member_id(event)) is not None
                  and f"id:{member_id}" not in history.profiles}
        if wanted:
            history.profiles.update(member_contexts(conn, program_id, wanted, counts_before))
            history.standings.update(
                (f"id:{member_id}", found)
                for member_id, found in load_history(conn, program_id, wanted).items())
            history.campaigns.load(conn, program_id, wanted)
            history.engagement.load(conn, program_id, wanted, counts_before)
        yield from chunk


def _by_member_id(conn: Connection, program_id: int, chunk: list[Mapping[str, Any]],
                  region: str) -> list[Mapping[str, Any]]:
    """The chunk with each known identity replaced by its member's id, and unknown ones
    normalised as ingest would (so ``+1 212 555 0100`` and ``2125550100`` are one person).
    An identity that cannot be normalised is left as it is; the replay keys it as given."""
    keys: dict[int, tuple[str, str]] = {}
    for index, event in enumerate(chunk):
        ref = event.get("member")
        identity = ref.get("identity") if isinstance(ref, Mapping) else None
        if (not isinstance(identity, Mapping) or ref.get("id") is not None
                or not isinstance(identity.get("value"), str)):
            continue
        kind = str(identity.get("type"))
        try:
            keys[index] = (kind, normalise_identity(kind, identity["value"], region))
        except (InvalidInput, ValueError):
            continue
    if not keys:
        return chunk
    known = members_by_identity(conn, program_id, keys.values())
    resolved = list(chunk)
    for index, (kind, value) in keys.items():
        member_id = known.get((kind, value))
        member = ({"id": member_id} if member_id is not None
                  else {"identity": {"type": kind, "value": value}})
        resolved[index] = {**chunk[index], "member": member}
    return resolved


def _member_id(event: Mapping[str, Any]) -> int | None:
    ref = event.get("member")
    member_id = ref.get("id") if isinstance(ref, Mapping) else None
    if type(member_id) is int and 1 <= member_id <= MAX_INT:
        return member_id
    return None


def member_contexts(conn: Connection, program_id: int, member_ids: set[int],
                    counts_before: datetime | None) -> dict[str, MemberContext]:
    """Members as the engine sees them, by simulator key (``id:42``); members not in
    the program get an empty profile, so they are not looked up again."""
    m = members_table.c
    rows = conn.execute(select(m.id, m.birthdate, m.region, m.join_channel, m.attributes)
                        .where(m.program_id == program_id, m.id.in_(member_ids)))
    profiles = {row.id: MemberProfile(row.birthdate, row.region, row.join_channel,
                                      row.attributes or {}) for row in rows}
    counts: dict[int, dict[str, int]] = {}
    if counts_before is not None and profiles:
        e = events_table.c
        for member_id, event_type, count in conn.execute(
                select(e.member_id, e.type, func.count())
                .where(e.program_id == program_id, e.member_id.in_(profiles),
                       e.occurred_at < counts_before)
                .group_by(e.member_id, e.type)):
            counts.setdefault(member_id, {})[event_type] = count
    return {f"id:{member_id}": MemberContext(str(member_id),
                                             profiles.get(member_id, MemberProfile()),
                                             counts=counts.get(member_id, {}))
            for member_id in member_ids}
