"""Campaigns over HTTP: the staff view of who is in them and what they cost."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from patron.api.deps import Admin, Analyst, problem_responses
from patron.campaigns import schemas, service
from patron.schemas_common import MAX_INT

router = APIRouter(prefix="/campaigns", tags=["campaigns"])
CampaignId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$",
                                 description="The campaign's id in the program document")]


@router.get("", response_model=list[schemas.Campaign], responses=problem_responses(401, 403))
def list_campaigns(ctx: Analyst) -> list[schemas.Campaign]:
    """The current program version's campaigns: window and status (upcoming, running,
    ended), target segment, holdout share, members assigned to each group, and budget
    used against the budget."""
    return ctx.read(lambda conn, program: service.list_campaigns(conn, program,
                                                                 ctx.clock.now()))


@router.get("/{campaign_id}", response_model=schemas.Campaign,
            responses=problem_responses(401, 403, 404, 422))
def get_campaign(campaign_id: CampaignId, ctx: Analyst) -> schemas.Campaign:
    """One campaign, as listed."""
    return ctx.read(lambda conn, program: service.get_campaign(conn, program, campaign_id,
                                                               ctx.clock.now()))


@router.post("/{campaign_id}/assign", response_model=schemas.Assigned,
             responses=problem_responses(401, 403, 404, 409, 422))
def assign(campaign_id: CampaignId, ctx: Admin) -> schemas.Assigned:
    """Assign target members not assigned yet (the scheduled sweep does this too).

    Each is put in treatment or the holdout once, by a hash of program, campaign and
    member, and stays there; new treatment members get the campaign's coupons and
    reward. Safe to retry: a second call assigns and issues nothing new. 409
    ``campaign_not_running`` outside the campaign's window.
    """
    return ctx.write(lambda conn, program: service.assign_campaign(
        conn, program, campaign_id, ctx.clock.now()))


@router.get("/{campaign_id}/members", response_model=schemas.CampaignMemberPage,
            responses=problem_responses(401, 403, 404, 422))
def campaign_members(campaign_id: CampaignId, ctx: Analyst,
                     group: Annotated[schemas.GroupFilter | None, Query(
                         description="Only this group")] = None,
                     after: Annotated[int | None, Query(ge=0, le=MAX_INT, description=(
                         "Members after this id (a page's next_cursor)"))] = None,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100
                     ) -> schemas.CampaignMemberPage:
    """Who is in the campaign and in which group, by member id (staff only)."""
    return ctx.read(lambda conn, program: service.members_page(
        conn, program, campaign_id, group, after, limit))
