"""Tiers in use: qualification as events arrive, reviews at period ends, the member's view.

``TierTracker`` serves one ingest batch: it gives the engine each member's
tier and earn multipliers as they stood when the event occurred, records what
every event adds to the qualification metric, and upgrades a member inside the
event that qualifies them (later events of the batch already see the new tier).
``review_program`` is the scheduled sweep; ``set_manual`` and ``member_tier`` back
the API.

Every tier move goes through ``record_changes``, which stores it in the member's
tier history and announces it (``hooks.TierChanged``) in the same transaction,
so whatever reacts to a move commits or rolls back with it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from patron import hooks
from patron.errors import InvalidInput, NotFound
from patron.households import repository as household_repository
from patron.households.domain import HouseholdNotFound, Role
from patron.members.service import get_member
from patron.memberships import service as memberships
from patron.tiers.history import StandingHistory, changes_and_entries, load as load_history
from patron.program.jobs import every_program_in_batches
from patron.program.service import Program
from patron.program.versions import get_version
from patron.program.membership import MembershipPlan, Tiers
from patron.program.money import format_money
from patron.program.standing import Standing, place
from patron.tiers import domain, repository
from patron.tiers.domain import METRIC_KINDS

REVIEW_BATCH = 500
"""Members reviewed per transaction of the scheduled sweep."""


class NoTiers(NotFound):
    code = "tiers_not_configured"
    title = "The program has no tiers"


class UnknownTier(InvalidInput):
    code = "unknown_tier"
    title = "Unknown tier"


def record_changes(conn: Connection, program: Program, changes: Sequence[dict[str, Any]]
                   ) -> None:
    """Store tier history rows and announce each move, in the caller's transaction.

    A review that keeps a member's tier records a ``retained`` row; nothing moved,
    so nothing is announced for it.
    """
    repository.insert_changes(conn, changes)
    for change in changes:
        if change["kind"] != "retained":
            hooks.emit(conn, hooks.TierChanged(
                program, change["member_id"], change["from_tier"], change["to_tier"],
                change["kind"], change["at"]))


def active_plans(conn: Connection, program: Program, member_ids: list[int],
                 at: datetime) -> dict[int, Any]:
    """Paid plans in force (their benefits), when paid memberships are in use."""
    return memberships.active_plans(conn, program.id, member_ids, at)


def household_groups(conn: Connection, program: Program, tiers: Tiers | None,
                     member_ids: set[int] | list[int]) -> dict[int, list[int]]:
    """With ``tiers.per: household``, each member's household members (them included):
    they share one metric and move together. Empty otherwise."""
    if tiers is None or tiers.per != "household" or not member_ids:
        return {}
    groups: dict[int, list[int]] = {}
    homes = household_repository.memberships_of(conn, program.id, set(member_ids))
    members: dict[int, list[int]] = {}
    for member_id, home in homes.items():
        if home.household_id not in members:
            members[home.household_id] = [
                m.member_id for m in household_repository.current_members(conn,
                                                                          home.household_id)]
        groups[member_id] = members[home.household_id]
    return groups


@dataclass
class _Member:
    joined: datetime
    tier: str
    since: datetime
    secured: datetime | None
    stored: bool = False
    entries: list[tuple[datetime, int]] = field(default_factory=list)
    moves: list[tuple[datetime, str]] = field(default_factory=list)
    """Earned tier moves, recorded and of this batch, in time order."""
    history: StandingHistory = field(default_factory=StandingHistory)
    """Recorded tiers set by hand and paid plans, for the standing at an event's time."""

    def tier_at(self, at: datetime, base: str) -> str:
        """The tier held at ``at``: one set by hand while it ran, else the earned one."""
        for start, until, tier in self.history.manual:
            if start <= at < until:
                return tier
        return domain.earned_at(self.moves, at, base)

    def latest_move(self) -> datetime | None:
        return self.moves[-1][0] if self.moves else None


def _moves(history: StandingHistory, state: Any) -> list[tuple[datetime, str]]:
    """A member's earned moves; a state no move explains counts from its ``since``."""
    moves = list(zip(history.earned_at, history.earned))
    if not moves and state is not None:
        moves = [(state.since, state.tier_id)]
    return moves


class TierTracker:
    """Tiers of one batch's members, kept current event by event.

    Each event is earned with the standing the member held when it occurred
    (tier, tier set by hand, paid plan), read from what Patron recorded as the
    simulator does (``patron.tiers.history``), so a late event earns as it
    would have on time. What an event adds to the metric is always recorded; it
    upgrades a member now only to a tier that, reached at the event's time, would
    still be secured today (``domain.upgrade``).
    """

    def __init__(self, conn: Connection, program: Program, tiers: Tiers | None,
                 zone: ZoneInfo, member_ids: set[int], earliest: datetime | None,
                 now: datetime, *, plans: Sequence[MembershipPlan] = ()) -> None:
        self.conn, self.program, self.tiers, self.zone = conn, program, tiers, zone
        self.now = now
        self.currency = program.settings.currency
        self.metric = METRIC_KINDS[tiers.metric] if tiers else None
        self.members: dict[int, _Member] = {}
        self.new_entries: list[dict[str, Any]] = []
        self.changes: list[dict[str, Any]] = []
        self.touched: set[int] = set()
        self.last_change: dict[str, Any] | None = None
        """The move the last ``add`` made, if any (for the event's outcome)."""
        self.plans = {plan.id: plan for plan in plans}
        self.plan_history: dict[int, StandingHistory] = {}
        self.groups: dict[int, list[int]] = {}
        if tiers is None:
            if member_ids and self.plans:
                self.plan_history = load_history(conn, program.id, member_ids)
            return
        if not member_ids:
            return
        self.groups = household_groups(conn, program, tiers, member_ids)
        member_ids = set(member_ids).union(*self.groups.values())
        joined, states = repository.joined_and_states(conn, program.id, member_ids)
        since = min([earliest or now, *joined.values()])
        start = min(domain.window(tiers, since, zone, joined.get(m, since))[0]
                    for m in member_ids)
        changes, entries = changes_and_entries(conn, program.id, member_ids, self.metric, start)
        histories = load_history(conn, program.id, member_ids, plans=bool(self.plans),
                                 states=states, changes=changes)
        base = tiers.levels[0].id
        for member_id in member_ids:
            state = states.get(member_id)
            at = joined.get(member_id, now)
            history = histories[member_id]
            self.members[member_id] = _Member(
                at, state.tier_id if state else base, state.since if state else at,
                state.secured_until if state else None, stored=state is not None, entries=entries.get(member_id, []),
                moves=_moves(history, state), history=history)
        self.plan_history = histories

    def context(self, member_id: int, at: datetime) -> tuple[str | None, dict[str, Decimal]]:
        """The tier a rule sees (``member.tier``) and the benefit multipliers, as the
        member stood at ``at``."""
        history = self.plan_history.get(member_id)
        plan = history.plan_at(at) if history is not None and self.plans else None
        member = self.members.get(member_id)
        tier = (member.tier_at(at, self.tiers.levels[0].id)
                if member is not None and self.tiers is not None else None)
        placing = place(self.tiers, self.plans, Standing(tier, plan))
        return placing.tier, dict(placing.multipliers)

    def add(self, member_id: int, at: datetime, amounts: dict[str, int], reason: str,
            key: Any) -> None:
        """Record what one event adds (or a return takes) and upgrade on qualifying."""
        self.last_change = None
        member = self.members.get(member_id)
        amount = amounts.get(self.metric, 0) if self.metric else 0
        if member is None or not amount:
            return
        before = len(self.changes)
        self._add(member_id, member, at, amount, reason, key)
        self.last_change = next((c for c in self.changes[before:]
                                 if c["member_id"] == member_id), None)

    def _add(self, member_id: int, member: _Member, at: datetime, amount: int, reason: str,
             key: Any) -> None:
        self.new_entries.append(dict(program_id=self.program.id, member_id=member_id,
                                     metric=self.metric, amount=amount, occurred_at=at,
                                     reason=reason, key=key))
        member.entries.append((at, amount))
        group = self.groups.get(member_id, [member_id])
        moment = max([at, *(moved for m in group
                            if (moved := self.members[m].latest_move()) is not None)])
        found = domain.upgrade(self.tiers, [e for m in group for e in self.members[m].entries],
                               at, self.now, self.zone, member.joined,
                               self.tiers.index(member.tier)) if amount > 0 else None
        if found is not None:
            self._upgrade(group, found, moment)
        elif amount < 0 and self.tiers.returns_downgrade_immediately and domain.counts_today(
                self.tiers, at, self.now, self.zone, member.joined):
            self._downgrade_on_return(group, member, moment)

    def _upgrade(self, group: list[int], found: domain.Upgrade, moment: datetime) -> None:
        """Move the member (and their household) up, dated ``moment``."""
        level = self.tiers.levels[found.to_index]
        whose = "the household's " if len(group) > 1 else ""
        reason = (f"{whose}{metric_text(self.tiers, self.currency, found.value)} reached "
                  f"{level.name} ({metric_text(self.tiers, self.currency, level.threshold)})")
        for other in group:
            if self.tiers.index(self.members[other].tier) < found.to_index:
                self._move(other, self.members[other], found.to_index, "upgrade", moment,
                           found.value, reason, found.secured_until)

    def _downgrade_on_return(self, group: list[int], member: _Member,
                             moment: datetime) -> None:
        """``returns_downgrade_immediately``: a tier reached in the running period and no
        longer met moves down now; one kept from an earlier period waits for its review."""
        start, end = domain.window(self.tiers, moment, self.zone, member.joined)
        value = sum(a for m in group for t, a in self.members[m].entries if start <= t < end)
        reached = self.tiers.qualified(value)
        for other in group:
            held = self.members[other]
            level_index = self.tiers.index(held.tier)
            if reached >= level_index or held.since < start:
                continue
            to = max(reached, level_index - self.tiers.max_drop)
            self._move(other, held, to, "downgrade", moment, value,
                       f"a return took the {_metric_name(self.tiers)} to "
                       f"{metric_text(self.tiers, self.currency, value)}, below "
                       f"{self.tiers.levels[level_index].name}",
                       held.secured if to > 0 else None)

    def _move(self, member_id: int, member: _Member, to: int, kind: str, at: datetime,
              value: int, reason: str, secured: datetime | None) -> None:
        self.changes.append(dict(program_id=self.program.id, member_id=member_id,
                                 from_tier=member.tier, to_tier=self.tiers.levels[to].id,
                                 kind=kind, at=at, metric_value=value, reason=reason,
                                 actor="system:tiers"))
        member.tier, member.since, member.secured = self.tiers.levels[to].id, at, secured
        member.moves.append((at, member.tier))
        self.touched.add(member_id)

    def write(self, event_pks: dict[Any, int], now: datetime) -> None:
        """Store the batch's qualification entries (``key`` → event pk) and tier moves."""
        rows = [{**{k: v for k, v in row.items() if k != "key"},
                 "event_id": event_pks.get(row["key"])} for row in self.new_entries]
        repository.insert_entries(self.conn, rows)
        for member_id in sorted(self.touched):
            member = self.members[member_id]
            values = dict(tier_id=member.tier, since=member.since,
                          secured_until=member.secured, updated_at=now)
            if member.stored:
                repository.update_state(self.conn, self.program.id, member_id, **values)
            else:
                repository.insert_state(self.conn, program_id=self.program.id,
                                        member_id=member_id, **values)
                member.stored = True
        record_changes(self.conn, self.program, self.changes)
        self.new_entries, self.changes, self.touched = [], [], set()


def _metric_name(tiers: Tiers) -> str:
    return {"tier_points": "tier points", "qualifying_spend": "qualifying spend",
            "orders": "orders"}[tiers.metric]


def metric_text(tiers: Tiers, currency: str, value: int) -> str:
    if tiers.metric == "qualifying_spend":
        return f"{format_money(value, currency)} spent"
    return f"{value:,} {_metric_name(tiers)}"


def _tiers(conn: Connection, program: Program) -> tuple[Tiers, ZoneInfo]:
    document = get_version(conn, program).document
    if document.tiers is None:
        raise NoTiers("this program's document has no tiers section")
    return document.tiers, document.settings.zone


def _value(entries: list[tuple[datetime, int]], start: datetime, end: datetime) -> int:
    return sum(amount for at, amount in entries if start <= at < end)


def review_program(conn: Connection, program: Program, now: datetime,
                   limit: int = REVIEW_BATCH) -> tuple[int, int]:
    """Review members whose secured period ended (after grace) and end lapsed manual tiers.

    Returns (states reviewed, tier changes). Idempotent: a review moves
    ``secured_until`` on (or clears it), so running again finds nothing to do.
    """
    document = get_version(conn, program).document
    tiers = document.tiers
    if tiers is None:
        return 0, 0
    zone = document.settings.zone
    metric = METRIC_KINDS[tiers.metric]
    due = repository.due_for_review(conn, program.id, now, limit)
    if not due:
        return 0, 0
    ids = [row.member_id for row in due]
    groups = household_groups(conn, program, tiers, ids)
    joined = repository.joined_at(conn, ids)
    earliest = min(domain.shift_months(row.secured_until or now, -24, zone) for row in due)
    entries = repository.entries_since(conn, set(ids).union(*groups.values()), metric, earliest)
    changes, reviewed = [], 0
    for row in due:
        member_entries = [entry for m in groups.get(row.member_id, [row.member_id])
                          for entry in entries.get(m, [])]
        values: dict[str, Any] = {}
        if row.manual_until is not None and row.manual_until <= now:
            values.update(manual_tier_id=None, manual_until=None, manual_reason=None)
            changes.append(dict(program_id=program.id, member_id=row.member_id,
                                from_tier=row.manual_tier_id, to_tier=row.tier_id,
                                kind="manual_end", at=row.manual_until, metric_value=None,
                                reason=f"the tier set by hand ended on "
                                       f"{row.manual_until.date().isoformat()}",
                                actor="job:tiers"))
        secured = row.secured_until
        if secured is not None and domain.review_due(tiers, secured, now):
            member_joined = joined.get(row.member_id, secured)
            ended = domain.window(tiers, secured - domain.ONE_TICK, zone, member_joined)
            ended_value = _value(member_entries, *ended)
            current_value = _value(member_entries, *domain.window(tiers, now, zone,
                                                                  member_joined))
            current = tiers.index(row.tier_id)
            outcome = domain.review(tiers, current, ended_value, current_value, secured, zone)
            to = tiers.levels[outcome.to_index]
            values.update(tier_id=to.id, secured_until=outcome.secured_until)
            if outcome.kind == "downgrade":
                values["since"] = secured + timedelta(days=tiers.grace_days)
            changes.append(dict(
                program_id=program.id, member_id=row.member_id, from_tier=row.tier_id,
                to_tier=to.id, kind=outcome.kind,
                at=secured + timedelta(days=tiers.grace_days), metric_value=ended_value,
                reason=_review_reason(tiers, program.settings.currency, outcome.kind, row.tier_id,
                                      to.id, ended_value, ended)))
        if values:
            repository.update_state(conn, program.id, row.member_id, updated_at=now, **values)
            reviewed += 1
    for change in changes:
        change.setdefault("actor", "job:tiers")
    record_changes(conn, program, changes)
    return reviewed, len(changes)


def _review_reason(tiers: Tiers, currency: str, kind: str, before: str, after: str,
                   value: int, window: tuple[datetime, datetime]) -> str:
    period = f"{window[0].date().isoformat()} to {window[1].date().isoformat()}"
    reached = metric_text(tiers, currency, value)
    if kind == "retained":
        return f"kept {tiers.level(after).name}: {reached} from {period}"
    return (f"{tiers.level(before).name} to {tiers.level(after).name}: {reached} from {period}, "
            f"{tiers.level(before).name} needs "
            f"{metric_text(tiers, currency, tiers.level(before).threshold)}")


def review_all(db: Any, now: datetime) -> tuple[int, int]:
    """The scheduled sweep over every program with tiers, in batches."""
    done = every_program_in_batches(
        db, lambda conn, program, limit: review_program(conn, program, now, limit),
        lambda result: result[0], REVIEW_BATCH)
    return sum(reviewed for reviewed, _ in done), sum(changed for _, changed in done)


def set_manual(conn: Connection, program: Program, member_id: int, tier_id: str,
               until: datetime, reason: str, actor: str, now: datetime) -> None:
    """An admin's tier for a member until ``until``; the earned tier resumes after it."""
    tiers, _ = _tiers(conn, program)
    if tier_id not in {level.id for level in tiers.levels}:
        raise UnknownTier(f"no tier {tier_id!r}; tiers are "
                          f"{', '.join(level.id for level in tiers.levels)}", field="tier")
    if until <= now:
        raise InvalidInput("until must be in the future: a manual tier always ends",
                           field="until")
    get_member(conn, program, member_id)
    state = repository.states(conn, program.id, [member_id]).get(member_id)
    if state is not None and (state.manual_tier_id, state.manual_until, state.manual_reason) \
            == (tier_id, until, reason):
        return  # a retry of the same request
    current = state.tier_id if state else tiers.levels[0].id
    if state is None:
        repository.insert_state(conn, program_id=program.id, member_id=member_id,
                                tier_id=current, since=now, secured_until=None,
                                manual_tier_id=tier_id, manual_until=until,
                                manual_reason=reason, updated_at=now)
    else:
        repository.update_state(conn, program.id, member_id, manual_tier_id=tier_id,
                                manual_until=until, manual_reason=reason, updated_at=now)
    record_changes(conn, program, [dict(
        program_id=program.id, member_id=member_id,
        from_tier=state.manual_tier_id if state and state.manual_tier_id else current,
        to_tier=tier_id, kind="manual", at=now, metric_value=None,
        reason=f"set by hand until {until.date().isoformat()}: {reason}", actor=actor)])


def member_tier(conn: Connection, program: Program, member_id: int, now: datetime
                ) -> dict[str, Any]:
    """Everything ``GET /members/{id}/tier`` shows."""
    tiers, zone = _tiers(conn, program)
    member = get_member(conn, program, member_id)
    state = repository.states(conn, program.id, [member_id]).get(member_id)
    joined = member.created_at
    start, end = domain.window(tiers, now, zone, joined)
    metric = METRIC_KINDS[tiers.metric]
    group = household_groups(conn, program, tiers, [member_id]).get(member_id, [member_id])
    found = repository.entries_since(conn, group, metric, start)
    value = _value([entry for m in group for entry in found.get(m, [])], start, end)
    plan = active_plans(conn, program, [member_id], now).get(member_id)
    earned = state.tier_id if state else tiers.levels[0].id
    tier_id, source = domain.effective(
        tiers, earned, state.manual_tier_id if state else None,
        state.manual_until if state else None,
        plan.benefits.tier_floor if plan is not None else None, now)
    level = tiers.level(tier_id)
    index = tiers.index(tier_id)
    upper = tiers.levels[index + 1] if index + 1 < len(tiers.levels) else None
    benefits = level.benefits
    perks = list(benefits.perks) + ([p for p in plan.benefits.perks if p not in benefits.perks]
                                    if plan is not None else [])
    secured = state.secured_until if state else None
    return dict(
        member_id=member_id, tier={"id": level.id, "name": level.name}, source=source,
        shared_with=[m for m in group if m != member_id],
        earned_tier=earned, since=state.since if state else joined, secured_until=secured,
        review_at=(secured + timedelta(days=tiers.grace_days)) if secured else None,
        metric={"name": tiers.metric, "value": value, "window_start": start,
                "window_end": end if tiers.window.type != "rolling_months" else now},
        next_tier=({"id": upper.id, "name": upper.name, "threshold": upper.threshold,
                    "remaining": max(upper.threshold - value, 0),
                    "by": end if tiers.window.type != "rolling_months" else None}
                   if upper else None),
        benefits={"earn_multiplier": str(benefits.earn_multiplier), "perks": perks,
                  "rewards": list(benefits.rewards)},
        manual=({"tier": state.manual_tier_id, "until": state.manual_until,
                 "reason": state.manual_reason}
                if state and state.manual_tier_id and state.manual_until > now else None),
        history=[dict(from_tier=r.from_tier, to_tier=r.to_tier, kind=r.kind, at=r.at,
                      reason=r.reason) for r in repository.history(conn, program.id, member_id)])


def tiers_now(conn: Connection, program: Program, tiers: Tiers, member_ids: Sequence[int],
              now: datetime) -> dict[int, str]:
    """Each member's tier now, as ``member_tier`` works it out (``domain.effective``: a tier
    set by hand while it lasts, else the earned one, lifted to a paid plan's floor), for
    many members at once; a tier ``tiers`` no longer has counts as the first level."""
    rows = repository.states(conn, program.id, member_ids)
    plans = active_plans(conn, program, list(member_ids), now)
    known = {level.id for level in tiers.levels}
    found = {}
    for member_id in member_ids:
        row, plan = rows.get(member_id), plans.get(member_id)
        earned = row.tier_id if row is not None and row.tier_id in known else tiers.levels[0].id
        manual = row.manual_tier_id if row is not None and row.manual_tier_id in known else None
        found[member_id] = domain.effective(
            tiers, earned, manual, row.manual_until if row is not None else None,
            plan.benefits.tier_floor if plan is not None else None, now)[0]
    return found


def tier_distribution(conn: Connection, program: Program, now: datetime
                      ) -> list[dict[str, Any]]:
    """Active members per tier now, by the tier each one has (``domain.effective``: a tier
    set by hand while it lasts, else the earned one, lifted to a paid plan's floor), with
    how many of them a paid plan holds there. Every level is listed, empty ones with 0."""
    tiers, _ = _tiers(conn, program)
    rows = repository.program_states(conn, program.id)
    plans = active_plans(conn, program, [r.member_id for r in rows], now)
    counts = {level.id: [0, 0] for level in tiers.levels}
    for row in rows:  # a tier a later version removed counts as the first level
        plan = plans.get(row.member_id)
        earned = row.tier_id if row.tier_id in counts else tiers.levels[0].id
        manual = row.manual_tier_id if row.manual_tier_id in counts else None
        tier_id, source = domain.effective(
            tiers, earned, manual, row.manual_until,
            plan.benefits.tier_floor if plan is not None else None, now)
        counts[tier_id][0] += 1
        counts[tier_id][1] += source == "membership"
    return [{"id": level.id, "name": level.name, "members": counts[level.id][0],
             "by_membership": counts[level.id][1]} for level in tiers.levels]


def household_tier(conn: Connection, program: Program, household_id: int, now: datetime
                   ) -> dict[str, Any]:
    """``GET /households/{id}/tier``: with ``tiers.per: household`` the tier its members
    share (seen from the owner); otherwise each member's own, listed."""
    tiers, _ = _tiers(conn, program)
    if household_repository.household_row(conn, program.id, household_id) is None:
        raise HouseholdNotFound(f"household {household_id} does not exist in this program",
                                household_id=household_id)
    people = household_repository.current_members(conn, household_id)
    owner = next((m.member_id for m in people if m.role == Role.OWNER), None)
    views = {m.member_id: member_tier(conn, program, m.member_id, now) for m in people}
    shared = tiers.per == "household" and owner is not None
    return dict(household_id=household_id, per=tiers.per,
                tier=views[owner] if shared else None,
                members={str(m): {"tier": v["tier"], "source": v["source"]}
                         for m, v in views.items()})


def on_member_erased(conn: Connection, happened: hooks.MemberErased) -> None:
    """A manual tier's reason is staff's free text about the member: it goes; the tier
    history (which tier, when, how) stays."""
    repository.forget_manual_reasons(conn, happened.records)
