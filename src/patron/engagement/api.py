"""A member's badges, challenges and streaks over HTTP, and joining a challenge."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from sqlalchemy import Connection

from patron.api.deps import IdempotencyKey, Reader, Writer, problem_responses
from patron.engagement import service
from patron.engagement.schemas import MemberBadge, MemberChallenge, MemberStreak
from patron.idempotency.service import run_once
from patron.members.api import MemberId
from patron.program.service import Program

router = APIRouter(prefix="/members/{member_id}", tags=["engagement"])
ChallengeId = Annotated[str, Path(min_length=1, max_length=64,
                                  pattern=r"^[a-z0-9][a-z0-9_-]*$",
                                  description="The challenge's id in the program document")]


@router.get("/badges", response_model=list[MemberBadge],
            responses=problem_responses(401, 403, 404))
def get_badges(member_id: MemberId, ctx: Reader) -> list[MemberBadge]:
    """The program's badges, each earned or not, with its levels and rewards; then any
    badge the member holds that the program has dropped since."""
    return ctx.read(lambda conn, program: service.member_badges(conn, program, member_id))


@router.get("/challenges", response_model=list[MemberChallenge],
            responses=problem_responses(401, 403, 404))
def get_challenges(member_id: MemberId, ctx: Reader) -> list[MemberChallenge]:
    """The challenges offered to the member (not those whose holdout they are in):
    running ones with the current goal's progress ("2 of 3 visits this month"), upcoming
    ones, and ended ones they took part in."""
    now = ctx.clock.now()
    return ctx.read(lambda conn, program: service.member_challenges(conn, program,
                                                                    member_id, now))


@router.get("/streaks", response_model=list[MemberStreak],
            responses=problem_responses(401, 403, 404))
def get_streaks(member_id: MemberId, ctx: Reader) -> list[MemberStreak]:
    """Each streak: its length now (0 once missed periods passed its grace), the best,
    whether this period counts already, the last day to keep it going, and the next
    milestone."""
    now = ctx.clock.now()
    return ctx.read(lambda conn, program: service.member_streaks(conn, program, member_id,
                                                                 now))


@router.post("/challenges/{challenge_id}/join", response_model=MemberChallenge,
             responses=problem_responses(401, 403, 404, 409, 422))
def join_challenge(member_id: MemberId, challenge_id: ChallengeId, ctx: Writer,
                   idempotency_key: IdempotencyKey = None) -> MemberChallenge:
    """Join an opt-in challenge: the member's events from now on count towards it.

    Joining again answers the same join (the first time stays). 404
    ``challenge_not_found``; 409 ``challenge_closed`` once it ended,
    ``challenge_not_offered`` for a member of its holdout, ``member_blocked`` /
    ``member_closed`` for a member who may not take part.
    """
    now = ctx.clock.now()

    def work(conn: Connection, program: Program) -> tuple[int, Any, bool]:
        return run_once(conn, program_id=program.id, key=idempotency_key,
                        operation="join_challenge",
                        payload={"member_id": member_id, "challenge_id": challenge_id},
                        now=now, work=lambda: (200, service.join_challenge(
                            conn, program, member_id, challenge_id, now).model_dump(
                                mode="json")))
    _, body, _ = ctx.write(work)
    return MemberChallenge.model_validate(body)
