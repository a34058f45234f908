"""Members' tiers and paid plans over time, read back from what Patron recorded.

The simulator replays old events, so it needs each member's tier and plan as
they were when each event occurred, not as they are today. Patron keeps that
history:

- ``tier_changes`` records every move of a member's earned tier (``upgrade``
  inside the qualifying event, ``downgrade`` and ``retained`` at the review,
  dated when the review was due) and every tier set by hand (``manual``, ended by
  ``manual_end`` at its end date, by a later ``manual``, or still running as
  ``tier_states`` says). With ``tiers.per: household`` every member of the
  household has their own rows for the moves they shared.
- ``memberships`` keeps each subscription with the dates its benefits ran from
  and to (see ``patron.memberships.domain.entitled_at``).

A change applies to events *after* its moment: the purchase that qualified a
member for Gold was itself evaluated at the tier before, as it was live. Before
a member's first recorded move their tier is unrecorded (``None``), which a
document reads as its first level. ``StandingHistory`` holds this for one member
(pure, so it is tested without a database); ``load`` reads it for many members
at once, in chunks.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (BigInteger, Connection, String, bindparam, literal, null, select,
                        union_all)

from patron.db.engine import DIALECTS, chunks, one_of, one_of_param, one_of_rows
from patron.memberships import repository as membership_repository
from patron.memberships.domain import Membership, entitled_at
from patron.memberships.tables import memberships
from patron.program.standing import Standing
from patron.tiers import repository as tier_repository
from patron.tiers.tables import qualification_entries, tier_changes

MANUAL, MANUAL_END = "manual", "manual_end"


@dataclass(frozen=True)
class TierChange:
    """One row of a member's tier history, as ``tier_changes`` holds it."""

    kind: str
    to_tier: str
    at: datetime


@dataclass(frozen=True)
class StandingHistory:
    """One member's recorded tiers and plans; ``at`` answers for any instant."""

    earned_at: tuple[datetime, ...] = ()
    earned: tuple[str, ...] = ()
    """The earned tier from each ``earned_at`` on (exclusive of the instant itself)."""
    manual: tuple[tuple[datetime, datetime, str], ...] = ()
    """Tiers set by hand: (set at, until, tier)."""
    plans: tuple[Membership, ...] = ()
    """Memberships that were ever activated, oldest first."""

    def at(self, when: datetime) -> Standing:
        return Standing(self.tier_at(when), self.plan_at(when))

    def tier_at(self, when: datetime) -> str | None:
        """The manual tier while one runs, else the earned one (None: nothing recorded)."""
        for start, until, tier in self.manual:
            if start < when < until:
                return tier
        moves = bisect_left(self.earned_at, when)  # the moves strictly before ``when``
        return self.earned[moves - 1] if moves else None

    def plan_at(self, when: datetime) -> str | None:
        """The plan whose benefits ran at ``when``; the newest, should two overlap."""
        for membership in reversed(self.plans):
            if entitled_at(membership, when):
                return membership.plan_id
        return None


def standing_history(changes: Sequence[TierChange], manual_until: datetime | None,
                     plans: Sequence[Membership] = ()) -> StandingHistory:
    """A member's history from their tier changes (oldest first), the end of the manual
    tier their state still holds (if any), and their memberships (oldest first)."""
    earned = [(c.at, c.to_tier) for c in changes if c.kind not in (MANUAL, MANUAL_END)]
    return StandingHistory(tuple(at for at, _ in earned), tuple(tier for _, tier in earned),
                           _manual_periods(changes, manual_until),
                           tuple(m for m in plans if m.started_at is not None))


def _manual_periods(changes: Sequence[TierChange], manual_until: datetime | None
                    ) -> tuple[tuple[datetime, datetime, str], ...]:
    """Each manual tier runs until its ``manual_end``, the next manual tier, or, for the
    one the state still holds, the state's ``manual_until``."""
    starts = [c for c in changes if c.kind == MANUAL]
    ends = [c.at for c in changes if c.kind == MANUAL_END]
    periods = []
    for index, change in enumerate(starts):
        following = starts[index + 1].at if index + 1 < len(starts) else None
        ended = next((at for at in ends if at >= change.at
                      and (following is None or at <= following)), None)
        until = ended or following or manual_until
        if until is not None and until > change.at:
            periods.append((change.at, until, change.to_tier))
    return tuple(periods)


# --- reading it -----------------------------------------------------------------------------


def load(conn: Connection, program_id: int, member_ids: Iterable[int], *,
         plans: bool = True, states: dict[int, Any] | None = None,
         changes: dict[int, list[TierChange]] | None = None) -> dict[int, StandingHistory]:
    """Every given member's history (members without any get an empty one); without
    ``plans`` their memberships are not read (a program that offers none). ``states``
    and ``changes``: the members' tier states and changes when the caller has read them
    already (``changes_and_entries``)."""
    wanted = sorted(set(member_ids))
    if changes is None:
        changes = _changes(conn, program_id, wanted)
    if states is None:
        states = tier_repository.states(conn, program_id, wanted)
    memberships_of = _memberships(conn, program_id, wanted) if plans else {}
    histories = {}
    for member_id in wanted:
        state = states.get(member_id)
        manual_until = state.manual_until if state is not None and state.manual_tier_id else None
        histories[member_id] = standing_history(changes.get(member_id, []), manual_until,
                                                memberships_of.get(member_id, []))
    return histories


def _changes(conn: Connection, program_id: int, member_ids: list[int]
             ) -> dict[int, list[TierChange]]:
    t = tier_changes.c
    found: dict[int, list[TierChange]] = defaultdict(list)
    for chunk in chunks(member_ids):
        for row in conn.execute(select(t.member_id, t.kind, t.to_tier, t.at)
                                .where(t.program_id == program_id,
                                       one_of(conn, t.member_id, chunk))
                                .order_by(t.at, t.id)):
            found[row.member_id].append(TierChange(row.kind, row.to_tier, row.at))
    return found


def _changes_and_entries(dialect: str, few: int = 0) -> Any:
    t, q = tier_changes.c, qualification_entries.c
    moves = select(literal(0).label("source"), t.member_id, t.at, t.kind, t.to_tier,
                   null().cast(BigInteger).label("amount"), t.id).where(
        t.program_id == bindparam("program_id"), one_of_param(dialect, t.member_id, "ids", few))
    counted = select(literal(1), q.member_id, q.occurred_at, null().cast(String),
                     null().cast(String), q.amount, q.id).where(
        one_of_param(dialect, q.member_id, "ids", few), q.metric == bindparam("metric"),
        q.occurred_at >= bindparam("since"))
    both = union_all(moves, counted).subquery()
    return select(both).order_by(both.c.source, both.c.at, both.c.id)


_CHANGES_AND_ENTRIES = {dialect: _changes_and_entries(dialect) for dialect in DIALECTS}
"""Built once: building the union costs more Python than running it."""
_ONE_MEMBERS = {1: _changes_and_entries("postgresql", 1)}
"""A single event's member: a statement of its own, which PostgreSQL plans once."""


def changes_and_entries(conn: Connection, program_id: int, member_ids: Iterable[int],
                        metric: str, since: datetime
                        ) -> tuple[dict[int, list[TierChange]],
                                   dict[int, list[tuple[datetime, int]]]]:
    """The members' tier changes (as ``load`` reads them) and their qualification entries
    of ``metric`` since ``since`` (as ``repository.entries_since``): one statement."""
    changes: dict[int, list[TierChange]] = defaultdict(list)
    entries: dict[int, list[tuple[datetime, int]]] = {}
    for row in one_of_rows(conn, _CHANGES_AND_ENTRIES[conn.dialect.name], _ONE_MEMBERS, "ids",
                           sorted(set(member_ids)), program_id=program_id, metric=metric,
                           since=since):
        if row.source == 0:
            changes[row.member_id].append(TierChange(row.kind, row.to_tier, row.at))
        else:
            entries.setdefault(row.member_id, []).append((row.at, row.amount))
    return changes, entries


def _memberships(conn: Connection, program_id: int, member_ids: list[int]
                 ) -> dict[int, list[Membership]]:
    m = memberships.c
    found: dict[int, list[Membership]] = defaultdict(list)
    for chunk in chunks(member_ids):
        rows: list[Any] = list(conn.execute(
            select(memberships).where(m.program_id == program_id,
                                      one_of(conn, m.member_id, chunk),
                                      m.started_at.is_not(None)).order_by(m.id)))
        for row in rows:
            found[row.member_id].append(membership_repository.to_domain(row))
    return found
