"""Member search and the member 360° page, with the staff actions the API allows.

The page is ``patron.flows.member_view.member_360``, the same view ``GET
/members/{id}/360`` serves. Adjusting points calls the ledger service the API's
``POST /members/{id}/adjustments`` calls, with an idempotency key the form was
given when it was drawn, so a form sent twice adjusts once. Blocking and
reopening and closing call the members service ``POST /members/{id}/status`` calls;
setting a tier by hand calls ``patron.tiers.service.set_manual``, what ``PUT
/members/{id}/tier`` calls, so the same tier, end and reason sent again changes nothing. A
refusal (too few points, a closed member, …) shows on the page beside the form, which
answers 200 like any page that shows a form again (the API carries the status codes).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection

from patron.auth.service import Permission
from patron.auth.staff import StaffSession
from patron.errors import PatronError
from patron.flows.member_search import search_members
from patron.flows.member_view import member_360
from patron.flows.statement import ledger_page
from patron.ledger import service as ledger
from patron.members import service as members
from patron.members.schemas import StatusChange
from patron.program.service import get_program
from patron.program.versions import get_version
from patron.schemas_common import MAX_INT
from patron.tiers import service as tiers
from patron.web.pages import render
from patron.web.session import Admin, Staff, Writer

router = APIRouter(prefix="/members")
MemberId = Annotated[int, Path(ge=1, le=MAX_INT)]
PAGE = 20


@router.get("", response_class=HTMLResponse)
def search(request: Request, session: Staff,
           q: Annotated[str, Query(max_length=200)] = "") -> HTMLResponse:
    """By email, phone (any format), card, external id, or part of a name; htmx asks
    for the results alone as the person types."""
    state = request.app.state
    found = state.db.read(lambda conn: search_members(
        conn, get_program(conn, session.program_id), q)) if q.strip() else []
    template = "member_results.html" if request.headers.get("HX-Request") else "members.html"
    return render(request, template, q=q, found=found)


def _page(request: Request, session: StaffSession, member_id: int,
          **context: Any) -> HTMLResponse:
    state = request.app.state

    def read(conn: Connection) -> dict[str, Any]:
        program = get_program(conn, session.program_id)
        document = get_version(conn, program).document
        return dict(program=program, view=member_360(conn, program, member_id,
                                                     state.clock.now()),
                    levels=document.tiers.levels if document.tiers else [])
    page = state.db.read(read)
    ledger_items = page["view"].recent_ledger
    return render(request, "member.html", **page,
                  older=ledger_items[-1].id if len(ledger_items) >= PAGE else None,
                  adjust_key=uuid.uuid4().hex, may_write=session.may(Permission.WRITE),
                  may_adjust=session.may(Permission.ADMIN), **context)


@router.get("/{member_id}", response_class=HTMLResponse)
def member(request: Request, session: Staff, member_id: MemberId,
           done: Annotated[str | None, Query(max_length=40)] = None) -> HTMLResponse:
    notices = {"adjusted": "Points adjusted.", "status": "Status changed.",
               "tier": "Tier set.", "merged": "Member merged into this one.",
               "unmerged": "Merge undone."}
    return _page(request, session, member_id, notice=notices.get(done or ""))


@router.get("/{member_id}/ledger", response_class=HTMLResponse)
def older_entries(request: Request, session: Staff, member_id: MemberId,
                  before: Annotated[int, Query(ge=1, le=MAX_INT)]) -> HTMLResponse:
    """The next page of the ledger, as table rows that htmx puts under the last."""
    state = request.app.state
    page = state.db.read(lambda conn: ledger_page(
        conn, get_program(conn, session.program_id), member_id, before, PAGE))
    return render(request, "ledger_rows.html", member_id=member_id, entries=page.items,
                  older=page.next_cursor)


@router.post("/{member_id}/adjustments", response_class=HTMLResponse)
def adjust(request: Request, session: Admin, member_id: MemberId,
           points: Annotated[int, Form(ge=-MAX_INT, le=MAX_INT)],
           reason: Annotated[str, Form(min_length=1, max_length=500)],
           idempotency_key: Annotated[str, Form(min_length=1, max_length=100)]) -> Response:
    state = request.app.state
    try:
        state.db.transact(lambda conn: ledger.adjust_points(
            conn, get_program(conn, session.program_id), member_id, points=points,
            reason=reason.strip(), key=f"adjust:{idempotency_key}", actor=session.actor,
            now=state.clock.now()))
    except PatronError as error:
        return _page(request, session, member_id, adjust_error=error.detail,
                     adjust_form=dict(points=points, reason=reason))
    return RedirectResponse(f"/console/members/{member_id}?done=adjusted", status_code=303)


@router.post("/{member_id}/status", response_class=HTMLResponse)
def change_status(request: Request, session: Writer, member_id: MemberId,
                  status: Annotated[str, Form(pattern="^(active|blocked|closed)$")],
                  reason: Annotated[str, Form(min_length=1, max_length=500)]) -> Response:
    """Block a member, make a blocked one active again, or close one (final)."""
    state = request.app.state
    try:
        state.db.transact(lambda conn: members.set_status(
            conn, get_program(conn, session.program_id), member_id,
            StatusChange(status=status, reason=reason), actor=session.actor,
            now=state.clock.now()))
    except PatronError as error:
        return _page(request, session, member_id, status_error=error.detail)
    return RedirectResponse(f"/console/members/{member_id}?done=status", status_code=303)


@router.post("/{member_id}/tier", response_class=HTMLResponse)
def set_tier(request: Request, session: Admin, member_id: MemberId,
             tier: Annotated[str, Form(min_length=1, max_length=40)],
             until: Annotated[date, Form()],
             reason: Annotated[str, Form(min_length=1, max_length=500)]) -> Response:
    """A tier by hand until the start of ``until`` (UTC); the earned tier resumes then."""
    state = request.app.state
    ends = datetime.combine(until, time.min, tzinfo=UTC)
    try:
        state.db.transact(lambda conn: tiers.set_manual(
            conn, get_program(conn, session.program_id), member_id, tier, ends,
            reason.strip(), session.actor, state.clock.now()))
    except PatronError as error:
        return _page(request, session, member_id, tier_error=error.detail,
                     tier_form=dict(tier=tier, until=until.isoformat(), reason=reason))
    return RedirectResponse(f"/console/members/{member_id}?done=tier", status_code=303)
