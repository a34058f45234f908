"""A member's badges, challenges and streaks as they stand, and joining a challenge.

What moves them is ingest (``patron.engagement.batch``); this reads the member's
progress and the current program version, and words it (``patron.engagement.domain``).
A challenge's holdout members do not see it, and cannot join it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection

from patron.engagement import domain, repository
from patron.engagement.batch import held_out
from patron.engagement.schemas import (BadgeLevel, MemberBadge, MemberChallenge,
                                       MemberEngagement, MemberStreak)
from patron.errors import Conflict, NotFound
from patron.members import repository as member_repository
from patron.members.service import MemberNotFound
from patron.members.standing import HALTED, MemberBlocked, MemberClosed, MemberMerged
from patron.program.document import ProgramDocument
from patron.program.engagement_engine import BADGE, MemberState
from patron.program.engagement_plan import ChallengePlan, EngagementPlan, engagement_plan
from patron.program.service import Program
from patron.program.versions import get_version


class ChallengeNotFound(NotFound):
    code = "challenge_not_found"
    title = "No such challenge"


class ChallengeClosed(Conflict):
    code = "challenge_closed"
    title = "The challenge has ended"


class ChallengeNotOffered(Conflict):
    code = "challenge_not_offered"
    title = "The challenge is not offered to this member"


def _current(conn: Connection, program: Program) -> tuple[ProgramDocument, EngagementPlan]:
    document = get_version(conn, program).document
    assert document is not None
    return document, engagement_plan(document)


def _state(conn: Connection, program: Program, member_id: int) -> MemberState:
    if member_repository.status_of(conn, program.id, member_id) is None:
        raise MemberNotFound(f"member {member_id} does not exist in this program",
                             member_id=member_id)
    return repository.member_states(conn, program.id, member_id)


def _held_out(program: Program, member_id: int) -> Callable[[ChallengePlan], bool]:
    return lambda challenge: held_out(program.id, challenge.id, member_id, challenge.holdout)


def member_engagement(conn: Connection, program: Program, member_id: int,
                      now: datetime) -> MemberEngagement:
    """Everything at once, for the member 360° view and the portal."""
    document, plan = _current(conn, program)
    state = _state(conn, program, member_id)
    return MemberEngagement(badges=_badges(document, plan, state),
                            challenges=_challenges(document, plan, state, program, member_id,
                                                   now),
                            streaks=_streaks(document, plan, state, now))


def member_badges(conn: Connection, program: Program, member_id: int) -> list[MemberBadge]:
    document, plan = _current(conn, program)
    return _badges(document, plan, _state(conn, program, member_id))


def member_challenges(conn: Connection, program: Program, member_id: int,
                      now: datetime) -> list[MemberChallenge]:
    document, plan = _current(conn, program)
    return _challenges(document, plan, _state(conn, program, member_id), program, member_id,
                       now)


def member_streaks(conn: Connection, program: Program, member_id: int,
                   now: datetime) -> list[MemberStreak]:
    document, plan = _current(conn, program)
    return _streaks(document, plan, _state(conn, program, member_id), now)


def _badges(document: ProgramDocument, plan: EngagementPlan,
            state: MemberState) -> list[MemberBadge]:
    """The program's badges, then any the member holds that the program dropped since."""
    views = [domain.badge_view(plan, badge, state) for badge in document.badges
             if badge.active]
    offered = {badge.id for badge in document.badges if badge.active}
    for (kind, item_id, key), held in state.items():
        if kind == BADGE and item_id not in offered:
            views.append(MemberBadge(
                id=item_id, name=item_id, description=None, earned=True,
                earned_at=held.completed_at,
                levels=[BadgeLevel(id=key, name=key, earned_at=held.completed_at,
                                   reward=None)], text=f"Badge earned: {item_id}"))
    return views


def _challenges(document: ProgramDocument, plan: EngagementPlan, state: MemberState,
                program: Program, member_id: int, now: datetime) -> list[MemberChallenge]:
    descriptions = {c.id: c.description for c in document.challenges}
    return domain.challenges_of(plan, descriptions, state, now, _held_out(program, member_id))


def _streaks(document: ProgramDocument, plan: EngagementPlan, state: MemberState,
             now: datetime) -> list[MemberStreak]:
    descriptions = {s.id: s.description for s in document.streaks}
    return [domain.streak_view(plan, streak, descriptions.get(streak.id), state, now)
            for streak in plan.streaks.values()]


def join_challenge(conn: Connection, program: Program, member_id: int, challenge_id: str,
                   now: datetime) -> MemberChallenge:
    """Join an opt-in challenge: events from now on count. Joining again changes nothing
    (the first join's time stays); a challenge without opt-in has everyone in already."""
    document, plan = _current(conn, program)
    row = member_repository.status_of(conn, program.id, member_id)
    if row is None:
        raise MemberNotFound(f"member {member_id} does not exist in this program",
                             member_id=member_id)
    _refuse_halted(member_id, row.status, row.merged_into)
    challenge = plan.challenges.get(challenge_id)
    if challenge is None:
        raise ChallengeNotFound(f"the program has no challenge {challenge_id!r}",
                                challenge_id=challenge_id)
    _refuse(program, challenge, member_id, now)
    if challenge.opt_in:
        repository.join(conn, program.id, member_id, challenge.id, now)
    state = repository.member_states(conn, program.id, member_id)
    view = domain.challenge_view(plan, challenge, document.challenge(challenge_id).description,
                                 state, now)
    assert view is not None  # running or upcoming: always shown
    return view


def _refuse(program: Program, challenge: ChallengePlan, member_id: int, now: datetime) -> None:
    if held_out(program.id, challenge.id, member_id, challenge.holdout):
        raise ChallengeNotOffered(f"challenge {challenge.id!r} is not offered to member "
                                  f"{member_id} (they are in its holdout group)",
                                  challenge_id=challenge.id)
    if now >= challenge.ends:
        raise ChallengeClosed(f"challenge {challenge.id!r} ended at "
                              f"{challenge.ends.isoformat()}", challenge_id=challenge.id)


_HALTED = {"blocked": MemberBlocked, "closed": MemberClosed, "merged": MemberMerged}


def _refuse_halted(member_id: int, status: str, merged_into: int | None) -> None:
    if status in HALTED:
        extra = {"merged_into": merged_into} if merged_into is not None else {}
        raise _HALTED[status](f"member {member_id} is {status} and cannot join challenges",
                              member_id=member_id, status=status, **extra)
