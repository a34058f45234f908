"""A member's data over HTTP: the export, and the erasure (admin keys only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path
from fastapi.responses import JSONResponse

from patron.api.deps import Admin, IdempotencyKey, problem_responses
from patron.flows.privacy.erasure import erase_member
from patron.flows.privacy.export import export_member
from patron.flows.privacy.schemas import Erasure, ErasureRequest, MemberExport
from patron.idempotency.service import run_once
from patron.schemas_common import MAX_INT

router = APIRouter(prefix="/members", tags=["privacy"])
MemberId = Annotated[int, Path(ge=1, le=MAX_INT, description="The member's id")]


@router.get("/{member_id}/export", response_model=MemberExport,
            responses=problem_responses(401, 403, 404))
def export(member_id: MemberId, ctx: Admin) -> JSONResponse:
    """Everything Patron holds about the member, as JSON (admin keys only).

    One section per kind of record (the member record, identities, consents with their
    history, ledger entries and lots, orders and lines, events, redemptions, coupons,
    household, referrals, tier history, merges, tags, segments, campaigns, audit
    entries, ...), each row with every stored column but secrets; ``descriptions`` says
    what each section holds. A merged record's id exports the member it lives on in,
    with the merged records (``records``).
    """
    body = ctx.read(lambda conn, program: export_member(conn, program, member_id,
                                                        ctx.clock.now()))
    return JSONResponse(body, headers={
        "Content-Disposition": f'attachment; filename="member-{body["member_id"]}.json"'})


@router.post("/{member_id}/erase", response_model=Erasure,
             responses=problem_responses(401, 403, 404, 409, 422))
def erase(member_id: MemberId, ctx: Admin,
          payload: Annotated[ErasureRequest | None, Body()] = None,
          idempotency_key: IdempotencyKey = None) -> Erasure:
    """Erase the member's personal data (admin keys only).

    Names, birthdate, gender, address, region and attributes are emptied; identities get
    random pseudonyms, so nobody finds the member by them again; free text about the
    member (status and merge reasons, transfer messages, manual tier reasons, event
    payload fields rules do not read) is dropped; consents are withdrawn; tags,
    features and segment places go. The ledger, balances, orders and their amounts stay
    as they are, so liability and every report total are unchanged; nothing is
    forfeited. The member becomes ``erased``: it can no longer earn or spend (409
    ``member_erased``) and nothing about it can be edited again. Records merged into it
    are erased with it.

    Erasing an erased member is 409 ``member_erased``; with an ``Idempotency-Key`` a
    retry answers as the first request did.
    """
    reason = payload.reason if payload else None

    def work(conn, program):
        def run():
            done = erase_member(conn, program, member_id, actor=ctx.principal.actor,
                                reason=reason, now=ctx.clock.now())
            return 200, done.model_dump(mode="json")
        return run_once(conn, program_id=program.id, key=idempotency_key,
                        operation=f"erase_member:{member_id}", payload={"reason": reason},
                        now=ctx.clock.now(), work=run)
    _, body, _ = ctx.write(work)
    return Erasure.model_validate(body)
