"""Placing a member anew when their household changes (``tiers.per: household``).

Household members share one tier, reached on their combined metric. Joining and
leaving change whose metric a member's tier stands on, so they re-place the
member at once instead of waiting for a purchase or a review:

- **Joining** gives the member the household's tier (its owner's) and its
  secured period. If the combined metric, the joiner's included, secures more
  than the household holds, the whole household moves up together, as a
  purchase would have moved it.
- **Leaving** (or the household dissolving) puts the member on the tier their own
  metric secures: reached in the running window, or in the period before it,
  which a calendar or membership year keeps to the end of the running one. The
  members who stay keep the household's tier until its review.

Households announce both (``hooks.HouseholdChanged``) and do not know about
tiers; ``on_household_changed`` is subscribed to it in ``patron.flows.subscribers``.
Both are recorded in the member's tier history (``household_join``,
``household_leave``), so simulation reads the standing they held at any time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from patron import hooks
from patron.households import repository as household_repository
from patron.program.service import Program
from patron.program.versions import get_version
from patron.program.membership import Tiers
from patron.tiers import domain, repository
from patron.tiers.domain import METRIC_KINDS
from patron.tiers.service import metric_text, record_changes

JOINED, LEFT = "household_join", "household_leave"


def _shared_tiers(conn: Connection, program: Program) -> tuple[Tiers, ZoneInfo] | None:
    document = get_version(conn, program).document
    if document.tiers is None or document.tiers.per != "household":
        return None
    return document.tiers, document.settings.zone


def _entries(conn: Connection, tiers: Tiers, zone: ZoneInfo, member_ids: list[int],
             now: datetime) -> list[tuple[datetime, int]]:
    """The members' qualification entries of the running and the previous period."""
    found = repository.entries_since(conn, member_ids, METRIC_KINDS[tiers.metric],
                                     domain.shift_months(now, -24, zone))
    return [entry for member_id in member_ids for entry in found.get(member_id, [])]


class _Placer:
    """Tier states of a few members, and the moves made to them, written at the end."""

    def __init__(self, conn: Connection, program: Program, tiers: Tiers, member_ids: list[int],
                 now: datetime, actor: str) -> None:
        self.conn, self.program, self.tiers, self.now, self.actor = (conn, program, tiers,
                                                                     now, actor)
        self.states = repository.states(conn, program.id, member_ids)
        self.changes: list[dict[str, Any]] = []

    def index(self, member_id: int) -> int:
        state = self.states.get(member_id)
        return self.tiers.index(state.tier_id) if state is not None else 0

    def secured(self, member_id: int) -> datetime | None:
        state = self.states.get(member_id)
        return state.secured_until if state is not None else None

    def place(self, member_id: int, to: int, secured: datetime | None, kind: str,
              reason: str, value: int | None) -> None:
        """Put the member on level ``to`` secured until ``secured``; a move if it changes."""
        state = self.states.get(member_id)
        tier_id = self.tiers.levels[to].id
        moved = self.index(member_id) != to
        if state is None and not moved and secured is None:
            return
        if state is None:
            repository.insert_state(self.conn, program_id=self.program.id,
                                    member_id=member_id, tier_id=tier_id, since=self.now,
                                    secured_until=secured, updated_at=self.now)
        elif moved or state.secured_until != secured:
            values = dict(tier_id=tier_id, secured_until=secured, updated_at=self.now)
            if moved:
                values["since"] = self.now
            repository.update_state(self.conn, self.program.id, member_id, **values)
        if moved:
            self.changes.append(dict(
                program_id=self.program.id, member_id=member_id,
                from_tier=state.tier_id if state is not None else self.tiers.levels[0].id,
                to_tier=tier_id, kind=kind, at=self.now, metric_value=value, reason=reason,
                actor=self.actor))

    def write(self) -> None:
        record_changes(self.conn, self.program, self.changes)


def on_household_changed(conn: Connection, happened: hooks.HouseholdChanged) -> None:
    """Re-place the member a household change concerns (subscribed in ``flows.subscribers``)."""
    program = happened.program
    household = household_repository.household_row(conn, program.id, happened.household_id)
    place = on_joining if happened.change == "joined" else on_leaving
    place(conn, program, household, happened.member_id, now=happened.at, actor=happened.actor)


def on_joining(conn: Connection, program: Program, household: Any, member_id: int, *,
               now: datetime, actor: str) -> None:
    """The member who just joined ``household`` takes its tier (see the module)."""
    found = _shared_tiers(conn, program)
    if found is None:
        return
    tiers, zone = found
    members = household_repository.current_members(conn, household.id)
    owner = next((m.member_id for m in members if m.role == "owner"), None)
    if owner is None or owner == member_id:
        return  # a household of one: its tier is the member's own
    group = [m.member_id for m in members]
    placer = _Placer(conn, program, tiers, group, now, actor)
    joined = repository.joined_at(conn, [member_id])[member_id]
    entries = _entries(conn, tiers, zone, group, now)
    level, secured = domain.secured_level(tiers, entries, now, zone, joined)
    to, until = placer.index(owner), placer.secured(owner)
    value = sum(amount for at, amount in entries
                if at >= domain.window(tiers, now, zone, joined)[0])
    if level > to:
        to, until = level, secured
        currency, reached = program.settings.currency, tiers.levels[level]
        reason = (f"the household's {metric_text(tiers, currency, value)} reached "
                  f"{reached.name} ({metric_text(tiers, currency, reached.threshold)})")
        for other in group:
            if other != member_id and placer.index(other) < level:
                placer.place(other, level, secured, "upgrade", reason, value)
    placer.place(member_id, to, until, JOINED,
                 f"joined household {household.name!r}: shares its {tiers.levels[to].name}",
                 value)
    placer.write()


def on_leaving(conn: Connection, program: Program, household: Any, member_id: int, *,
               now: datetime, actor: str) -> None:
    """The member who just left ``household`` stands on their own metric again."""
    found = _shared_tiers(conn, program)
    if found is None:
        return
    tiers, zone = found
    placer = _Placer(conn, program, tiers, [member_id], now, actor)
    joined = repository.joined_at(conn, [member_id])[member_id]
    entries = _entries(conn, tiers, zone, [member_id], now)
    level, secured = domain.secured_level(tiers, entries, now, zone, joined)
    value = sum(amount for at, amount in entries
                if at >= domain.window(tiers, now, zone, joined)[0])
    placer.place(member_id, level, secured, LEFT,
                 f"left household {household.name!r}: {tiers.levels[level].name} on their own "
                 f"qualification ({metric_text(tiers, program.settings.currency, value)} "
                 "this period)", value)
    placer.write()
