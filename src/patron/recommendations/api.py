"""Recommendations over HTTP: a member's lists, the trained model, segments built from them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from patron.api.deps import Admin, Reader, problem_responses
from patron.errors import NotFound
from patron.flows import likely_segments
from patron.flows.likely_segments_schemas import LikelySegment, LikelySegmentIn
from patron.members.api import MemberId
from patron.recommendations import service
from patron.recommendations.schemas import MemberRecommendations, Model

members_router = APIRouter(prefix="/members/{member_id}", tags=["recommendations"])
router = APIRouter(prefix="/recommendations", tags=["recommendations"])


class ModelNotTrained(NotFound):
    code = "recommendations_not_trained"
    title = "No recommendation model trained yet"


@members_router.get("/recommendations", response_model=MemberRecommendations,
                    responses=problem_responses(401, 403, 404))
def get_recommendations(member_id: MemberId, ctx: Reader,
                        limit: Annotated[int, Query(ge=1, le=100)] = 10
                        ) -> MemberRecommendations:
    """The rewards the member is likely to redeem and the categories and products they
    are likely to buy next, each with a score and the reason, from the last training
    (``patron recommendations train``, and daily with the features job). Rewards are only
    those the member may redeem now (points aside). A member the model did not see gets
    the program's popular items (``basis: popular``); before the first training the lists
    are empty (``basis: none``). A merged member's id answers for its survivor."""
    now = ctx.clock.now()
    return MemberRecommendations(**ctx.read(lambda conn, program: service.member_recommendations(
        conn, program, member_id, now, limit)))


@router.get("", response_model=Model, responses=problem_responses(401, 403, 404))
def get_model(ctx: Reader) -> Model:
    """The program's trained model: when, on what history, with which parameters
    (404 ``recommendations_not_trained`` before the first training)."""
    found = ctx.read(service.model_summary)
    if found is None:
        raise ModelNotTrained("no recommendation model has been trained for this program; "
                              "run `patron recommendations train`")
    return Model(**found)


@router.post("/segments", response_model=LikelySegment,
             responses=problem_responses(401, 403, 404, 409, 422))
def post_segment(payload: LikelySegmentIn, ctx: Admin) -> LikelySegment:
    """A static segment of the members likeliest to buy a category or product (or redeem a
    reward), e.g. ``{"key": "likely-coffee", "category": "coffee", "top": 1000}``, to target
    a campaign at; every training fills it again. Sending it again re-fills it; a key
    already used by a segment made another way is 409 ``segment_exists``."""
    now = ctx.clock.now()
    return ctx.write(lambda conn, program: likely_segments.build(
        conn, program, payload, ctx.principal.actor, now))
