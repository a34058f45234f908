"""Households: the list with members, head and pooled balance, and one household's page.

Starting a household (from a member's page, who becomes its owner), adding and
removing members call ``patron.households.service``, the functions
``POST /households``, ``POST /households/{id}/members`` and ``DELETE /households/{id}/members/{member_id}``
call, so the household rules (room left, one household per member, the owner leaves
by handing over) are the API's. A form sent twice does not add twice: the second
finds the member already in, and says so. A refusal shows beside the form.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import Connection

from patron.auth.service import Permission
from patron.auth.staff import StaffSession
from patron.errors import PatronError
from patron.households import service as households
from patron.households.schemas import HouseholdCreate
from patron.program.service import get_program
from patron.schemas_common import MAX_INT
from patron.web.pages import render
from patron.web.session import Staff, Writer

router = APIRouter(prefix="/households")
HouseholdId = Annotated[int, Path(ge=1, le=MAX_INT)]
MemberId = Annotated[int, Path(ge=1, le=MAX_INT)]
NOTICES = {"added": "Member added.", "removed": "Member removed.",
           "created": "Household created."}


@router.get("", response_class=HTMLResponse)
def index(request: Request, session: Staff,
          q: Annotated[str, Query(max_length=200)] = "") -> HTMLResponse:
    """Every household, newest first, or those matching a name, a household id or a
    member's id; htmx asks for the table alone as the person types."""
    found = request.app.state.db.read(lambda conn: households.find_households(
        conn, get_program(conn, session.program_id), q))
    template = ("household_results.html" if request.headers.get("HX-Request")
                else "households.html")
    return render(request, template, q=q, found=found)


@router.post("", response_class=HTMLResponse)
def create(request: Request, session: Writer,
           owner_member_id: Annotated[int, Form(ge=1, le=MAX_INT)],
           name: Annotated[str, Form(max_length=200)]) -> Response:
    """A new household owned by the member whose page the form was on."""
    state = request.app.state
    try:
        payload = HouseholdCreate(name=name, owner_member_id=owner_member_id)
    except ValidationError as error:
        raise RequestValidationError(error.errors()) from error
    try:
        made = state.db.transact(lambda conn: households.create_household(
            conn, get_program(conn, session.program_id), payload, now=state.clock.now(),
            actor=session.actor))
    except PatronError as error:
        return render(request, "error.html", error.status, title=error.title,
                      detail=error.detail, back=f"/console/members/{owner_member_id}")
    return RedirectResponse(f"/console/households/{made.id}?done=created", status_code=303)


def _page(request: Request, session: StaffSession, household_id: int,
          status: int = 200, **context: Any) -> HTMLResponse:
    def read(conn: Connection) -> dict[str, Any]:
        program = get_program(conn, session.program_id)
        return dict(household=households.get_household(conn, program, household_id),
                    balance=households.household_balance(conn, program, household_id))
    return render(request, "household.html", status, **request.app.state.db.read(read),
                  may_write=session.may(Permission.WRITE), **context)


@router.get("/{household_id}", response_class=HTMLResponse)
def household(request: Request, session: Staff, household_id: HouseholdId,
              done: Annotated[str | None, Query(max_length=40)] = None) -> HTMLResponse:
    return _page(request, session, household_id, notice=NOTICES.get(done or ""))


def _change(request: Request, session: StaffSession, household_id: int, done: str,
            change: Any, **form: Any) -> Response:
    """Run ``change(conn, program)``; a refusal shows on the page beside the forms."""
    state = request.app.state
    try:
        state.db.transact(lambda conn: change(conn, get_program(conn, session.program_id)))
    except PatronError as error:
        return _page(request, session, household_id, member_error=error.detail, form=form)
    return RedirectResponse(f"/console/households/{household_id}?done={done}",
                            status_code=303)


@router.post("/{household_id}/members", response_class=HTMLResponse)
def add_member(request: Request, session: Writer, household_id: HouseholdId,
               member_id: Annotated[int, Form(ge=1, le=MAX_INT)],
               role: Annotated[str, Form(pattern="^(adult|child)$")]) -> Response:
    state = request.app.state
    return _change(request, session, household_id, "added",
                   lambda conn, program: households.add_member(
                       conn, program, household_id, member_id, role, now=state.clock.now(),
                       actor=session.actor), member_id=member_id, role=role)


@router.post("/{household_id}/members/{member_id}/remove", response_class=HTMLResponse)
def remove_member(request: Request, session: Writer, household_id: HouseholdId,
                  member_id: MemberId) -> Response:
    state = request.app.state
    return _change(request, session, household_id, "removed",
                   lambda conn, program: households.remove_member(
                       conn, program, household_id, member_id, now=state.clock.now(),
                       actor=session.actor))
