"""Tags, member features and segments over HTTP."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from patron.api.deps import Admin, Reader, Writer, problem_responses
from patron.members.api import MemberId
from patron.program.document import TAG_NAME
from patron.schemas_common import MAX_INT
from patron.segments import service
from patron.segments.schemas import (SEGMENT_KEY, MemberFeatures, MemberSegments, MemberTags,
                                     Preview, PreviewIn, Refreshed, RefreshedAll, Segment,
                                     SegmentCreate, SegmentHistory, SegmentList, SegmentMembers,
                                     SegmentUpdate, StaticMembersIn)

members_router = APIRouter(prefix="/members/{member_id}", tags=["segments"])
router = APIRouter(prefix="/segments", tags=["segments"])

Tag = Annotated[str, Path(pattern=TAG_NAME, description="Tag, e.g. 'vip'")]
Key = Annotated[str, Path(pattern=SEGMENT_KEY, description="The segment's key")]


@members_router.get("/tags", response_model=MemberTags, responses=problem_responses(401, 403, 404))
def get_tags(member_id: MemberId, ctx: Reader) -> MemberTags:
    """The member's tags: manual ones and those program rules gave."""
    return MemberTags(**ctx.read(lambda conn, program: service.member_tags(
        conn, program, member_id)))


@members_router.put("/tags/{tag}", response_model=MemberTags,
                    responses=problem_responses(401, 403, 404, 422))
def put_tag(member_id: MemberId, tag: Tag, ctx: Writer) -> MemberTags:
    """Tag the member by hand. Sending it again changes nothing."""
    now = ctx.clock.now()

    def work(conn, program):
        service.add_tag(conn, program, member_id, tag, ctx.principal.actor, now)
        return service.member_tags(conn, program, member_id)
    return MemberTags(**ctx.write(work))


@members_router.delete("/tags/{tag}", status_code=204,
                       responses=problem_responses(401, 403, 404, 409, 422))
def delete_tag(member_id: MemberId, tag: Tag, ctx: Writer) -> Response:
    """Remove a manual tag (404 ``tag_not_found`` if the member has none such; a rule
    tag answers 409 ``rule_tag``: change the rule instead)."""
    ctx.write(lambda conn, program: service.remove_tag(conn, program, member_id, tag))
    return Response(status_code=204)


@members_router.get("/features", response_model=MemberFeatures,
                    responses=problem_responses(401, 403, 404))
def get_features(member_id: MemberId, ctx: Reader) -> MemberFeatures:
    """The member's features as the features job last computed them (what
    ``member.features`` reads in conditions)."""
    return MemberFeatures(**ctx.read(lambda conn, program: service.features(
        conn, program, member_id)))


@members_router.get("/segments", response_model=MemberSegments,
                    responses=problem_responses(401, 403, 404))
def get_member_segments(member_id: MemberId, ctx: Reader) -> MemberSegments:
    """The segments the member is in now, with when they entered."""
    return MemberSegments(**ctx.read(lambda conn, program: service.member_segments(
        conn, program, member_id)))


@router.post("", response_model=Segment, responses=problem_responses(401, 403, 409, 422))
def create_segment(payload: SegmentCreate, ctx: Admin) -> Segment:
    """Define a segment. The same definition sent again returns it unchanged; another
    definition under an existing key is 409 ``segment_exists``."""
    now = ctx.clock.now()
    return Segment(**ctx.write(lambda conn, program: service.create_segment(
        conn, program, payload, ctx.principal.actor, now)))


@router.get("", response_model=SegmentList, responses=problem_responses(401, 403))
def list_segments(ctx: Reader) -> SegmentList:
    """Every segment of the program with its current size."""
    return SegmentList(items=ctx.read(service.list_segments))


@router.post("/preview", response_model=Preview, responses=problem_responses(401, 403, 422))
def preview(payload: PreviewIn, ctx: Reader) -> Preview:
    """How many members a condition selects now, and the first 20; nothing is saved."""
    now = ctx.clock.now()
    return Preview(**ctx.read(lambda conn, program: service.preview(
        conn, program, payload.condition, now)))


@router.post("/refresh", response_model=RefreshedAll, responses=problem_responses(401, 403))
def refresh_all(ctx: Admin) -> RefreshedAll:
    """Refresh every active dynamic segment on the current features."""
    now = ctx.clock.now()
    changes = ctx.write(lambda conn, program: service.refresh_all(conn, program, now))
    return RefreshedAll(items=[Refreshed(**asdict(c)) for c in changes])


@router.get("/{key}", response_model=Segment, responses=problem_responses(401, 403, 404))
def get_segment(key: Key, ctx: Reader) -> Segment:
    return Segment(**ctx.read(lambda conn, program: service.segment(conn, program, key)))


@router.patch("/{key}", response_model=Segment, responses=problem_responses(401, 403, 404, 422))
def update_segment(key: Key, payload: SegmentUpdate, ctx: Admin) -> Segment:
    """Change a segment's name, description, condition or whether it is refreshed."""
    now = ctx.clock.now()
    return Segment(**ctx.write(lambda conn, program: service.update_segment(
        conn, program, key, payload, now)))


@router.post("/{key}/refresh", response_model=Refreshed,
             responses=problem_responses(401, 403, 404, 409))
def refresh_segment(key: Key, ctx: Admin) -> Refreshed:
    """Re-evaluate a dynamic segment: entrants and leavers are recorded with the time."""
    now = ctx.clock.now()
    return Refreshed(**asdict(ctx.write(lambda conn, program: service.refresh_segment(
        conn, program, key, now))))


@router.put("/{key}/members", response_model=Refreshed,
            responses=problem_responses(401, 403, 404, 409, 422))
def put_members(key: Key, payload: StaticMembersIn, ctx: Admin) -> Refreshed:
    """Replace a static segment's members (ids and/or ``TYPE:VALUE`` identities)."""
    now = ctx.clock.now()
    return Refreshed(**asdict(ctx.write(lambda conn, program: service.upload_members(
        conn, program, key, payload.member_ids, payload.identities, now))))


@router.get("/{key}/members", response_model=SegmentMembers,
            responses=problem_responses(401, 403, 404))
def get_members(key: Key, ctx: Reader,
                after: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> SegmentMembers:
    """The segment's members now, by member id, a page at a time."""
    return SegmentMembers(**ctx.read(lambda conn, program: service.members_page(
        conn, program, key, after, limit)))


@router.get("/{key}/history", response_model=SegmentHistory,
            responses=problem_responses(401, 403, 404))
def get_history(key: Key, ctx: Reader,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> SegmentHistory:
    """The segment's size after each refresh or upload, newest first."""
    return SegmentHistory(**ctx.read(lambda conn, program: service.history(
        conn, program, key, limit)))
