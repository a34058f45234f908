from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from patron.api.deps import IdempotencyKey, Reader, Writer, problem_responses
from patron.campaigns import service as campaigns
from patron.flows import enrolment, member_view
from patron.flows.member_view_schemas import Member360
from patron.idempotency.service import run_once
from patron.members import service
from patron.members.domain import parse_identity_query, refuse_future_birthdate
from patron.members.schemas import (ConsentChanges, IdentityIn, Member, MemberCampaign,
                                    MemberConsents, MemberCreate, MemberPage, MemberStatus,
                                    MemberUpdate, MemberView, StatusChange, StatusChangeRecord)
from patron.schemas_common import MAX_INT

router = APIRouter(prefix="/members", tags=["members"])
MemberId = Annotated[int, Path(ge=1, le=MAX_INT, description="The member's id")]


@router.post("", status_code=201, response_model=Member,
             responses={200: {"model": Member, "description": "Merged into an existing "
                              "member by enrolment matching: that member"},
                        **problem_responses(401, 403, 409, 422)})
def create_member(payload: MemberCreate, ctx: Writer, response: Response,
                  idempotency_key: IdempotencyKey = None) -> Member:
    """Enrol a member with one or more identities (email, phone, external id, card).

    Identities are normalised and unique per program: an identity that belongs
    to someone else gives 409 ``identity_taken`` naming that member.

    When the program's ``matching`` rules (or its model) find that the new record is a
    member already enrolled and merge it, the answer is **200 with that existing
    member** (the survivor, now holding the new identities) instead of 201: no new
    member exists. The new record's id answers ``301`` to the survivor from then on.
    """
    def work(conn, program):
        # before the key is looked up, as the payload's own checks are
        refuse_future_birthdate(payload.profile.birthdate, ctx.clock.now(), program.settings.zone)

        def create():
            member, new = enrolment.enrol_member(conn, program, payload, ctx.clock.now(),
                                                 actor=ctx.principal.actor)
            return 201 if new else 200, member.model_dump(mode="json")
        return run_once(conn, program_id=program.id, key=idempotency_key,
                        operation="create_member", payload=payload.model_dump(mode="json"),
                        now=ctx.clock.now(), work=create)
    status, body, _ = ctx.write(work)
    response.status_code = status
    return Member.model_validate(body)


@router.get("", response_model=MemberPage, responses=problem_responses(401, 403, 422))
def list_members(ctx: Reader,
                 identity: Annotated[str | None, Query(
                     max_length=400, description="TYPE:VALUE, e.g. email:ann@example.com")] = None,
                 after: Annotated[int | None, Query(ge=0, le=MAX_INT)] = None,
                 limit: Annotated[int, Query(ge=1, le=200)] = 50) -> MemberPage:
    """Find a member by any identity, or page through all members by id."""
    if identity is not None:
        kind, value = parse_identity_query(identity)
        return MemberPage(items=ctx.read(
            lambda conn, program: service.find_by_identity(conn, program, kind, value)))
    items, cursor = ctx.read(lambda conn, program: service.list_members(conn, program, after,
                                                                         limit))
    return MemberPage(items=items, next_cursor=cursor)


@router.get("/{member_id}", response_model=MemberView,
            responses=problem_responses(401, 403, 404))
def get_member(member_id: MemberId, ctx: Reader) -> MemberView:
    """A member's profile, identities and consents, and the campaigns whose offer they get."""
    def work(conn, program):
        member = service.get_member(conn, program, member_id)
        found = campaigns.member_campaigns(conn, program, member_id)
        return MemberView(**member.model_dump(), campaigns=[
            MemberCampaign(id=c.id, name=c.name, starts=starts, ends=ends)
            for c, starts, ends in found])
    return ctx.read(work)


@router.patch("/{member_id}", response_model=Member,
              responses=problem_responses(401, 403, 404, 422))
def update_member(member_id: MemberId, payload: MemberUpdate, ctx: Writer) -> Member:
    """Change profile fields or consents; only the fields sent change.

    Naturally idempotent: sending the same change twice leaves the same member (a
    consent that already stands is not recorded again). 409 ``member_erased`` for an
    erased member.
    """
    return ctx.write(lambda conn, program: service.update_member(
        conn, program, member_id, payload, ctx.clock.now(), actor=ctx.principal.actor))


@router.post("/{member_id}/identities", response_model=Member,
             responses=problem_responses(401, 403, 404, 409, 422))
def add_identity(member_id: MemberId, payload: IdentityIn, ctx: Writer) -> Member:
    """Link another identity to the member (idempotent: linking it again is a no-op);
    409 ``member_erased`` for an erased member."""
    return ctx.write(lambda conn, program: service.add_identity(conn, program, member_id,
                                                                payload, ctx.clock.now()))


@router.post("/{member_id}/status", response_model=MemberStatus,
             responses=problem_responses(401, 403, 404, 409, 422))
def change_status(member_id: MemberId, payload: StatusChange, ctx: Writer,
                  idempotency_key: IdempotencyKey = None) -> MemberStatus:
    """Block, close or reactivate a member, with a reason; who did it is the API key.

    A blocked or closed member's events are recorded but earn nothing; their spends,
    redemptions and transfers are refused (409 ``member_blocked``, ``member_closed``).
    Closing forfeits the available points with a ledger entry naming the closure, and
    pending points as they settle; it is final. Asking for the status the member has
    changes nothing; with an ``Idempotency-Key`` a retry answers as the first request
    did even if the status moved since. 409 ``status_change_not_allowed`` from closed or
    merged.
    """
    def work(conn, program):
        def change():
            done = service.set_status(conn, program, member_id, payload,
                                      actor=ctx.principal.actor, now=ctx.clock.now())
            return 200, done.model_dump(mode="json")
        return run_once(conn, program_id=program.id, key=idempotency_key,
                        operation=f"member_status:{member_id}",
                        payload=payload.model_dump(mode="json"), now=ctx.clock.now(),
                        work=change)
    _, body, _ = ctx.write(work)
    return MemberStatus.model_validate(body)


@router.get("/{member_id}/consents", response_model=MemberConsents,
            responses=problem_responses(401, 403, 404))
def consents(member_id: MemberId, ctx: Reader) -> MemberConsents:
    """The member's consents: the latest decision per channel and purpose, and every
    decision ever recorded (who, when, where the member gave it, the notice they saw),
    oldest first."""
    return ctx.read(lambda conn, program: service.member_consents(conn, program, member_id))


@router.post("/{member_id}/consents", response_model=MemberConsents,
             responses=problem_responses(401, 403, 404, 409, 422))
def change_consents(member_id: MemberId, payload: ConsentChanges, ctx: Writer,
                    idempotency_key: IdempotencyKey = None) -> MemberConsents:
    """Record consents given or withdrawn, per channel (``email``, ``sms``, ``push``,
    ``post``, ``phone``, ``whatsapp``, or ``any``) and purpose (``marketing``, ...), with
    the API key as who recorded them.

    The history is append-only. A decision that already stands (same answer, and the
    same source and notice when sent) records nothing, so a retried form changes
    nothing; with an ``Idempotency-Key`` a retry answers as the first request did. 409
    ``member_erased`` for an erased member.
    """
    def work(conn, program):
        def change():
            done = service.change_consents(conn, program, member_id, payload,
                                           actor=ctx.principal.actor, now=ctx.clock.now())
            return 200, done.model_dump(mode="json")
        return run_once(conn, program_id=program.id, key=idempotency_key,
                        operation=f"member_consents:{member_id}",
                        payload=payload.model_dump(mode="json"), now=ctx.clock.now(),
                        work=change)
    _, body, _ = ctx.write(work)
    return MemberConsents.model_validate(body)


@router.get("/{member_id}/status-changes", response_model=list[StatusChangeRecord],
            responses=problem_responses(401, 403, 404))
def status_changes(member_id: MemberId, ctx: Reader) -> list[StatusChangeRecord]:
    """Every change of the member's status, oldest first: to what, from what, why, by whom."""
    return ctx.read(lambda conn, program: service.status_history(conn, program, member_id))


@router.get("/{member_id}/360", response_model=Member360,
            responses=problem_responses(401, 403, 404))
def member_360(member_id: MemberId, ctx: Reader) -> Member360:
    """The member whole: profile and status, identities by channel, balance and next
    expiries, tier and progress, the latest ledger lines with their explanations, orders
    per channel, redemptions, household, referrals, merges and status history.

    A record merged into another shows its own history with ``merged_into`` naming the
    member it lives on in.
    """
    return ctx.read(lambda conn, program: member_view.member_360(conn, program, member_id,
                                                                 ctx.clock.now()))
