"""Merging members from the console: merge one into another, undo a merge, and the
review queue of pairs that may be one person.

Each action calls the flow its API endpoint calls: ``patron.flows.merging`` for
``POST /members/{id}/merges`` and ``POST /merges/{id}/undo``, and
``patron.flows.match_review`` / ``patron.matching.candidates`` for accepting and
rejecting a ``/merge-candidates`` pair. A merge first shows both members side by
side; the confirmed form merges, and sending it again finds the pair merged already
(the flow returns that merge). Undoing twice, or deciding a pair twice, is refused
with the flow's message shown on the page. All of it is for admins, as in the API.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection

from patron.auth.service import Permission
from patron.auth.staff import StaffSession
from patron.errors import PatronError
from patron.flows import match_review, merging
from patron.flows.member_search import search_members
from patron.flows.member_view import member_360
from patron.schemas_common import plain_id
from patron.matching import candidates
from patron.matching.schemas import CandidateState
from patron.members.service import MemberNotFound
from patron.program.service import get_program
from patron.schemas_common import MAX_INT
from patron.web.pages import render
from patron.web.session import Admin, Staff

router = APIRouter()
Id = Annotated[int, Path(ge=1, le=MAX_INT)]
NOTICES = {"merged": "The pair was merged.", "rejected": "The pair was rejected."}


def _other(conn: Connection, program: Any, text: str) -> int:
    """The member a person typed: an id (``#12`` or ``12``), or one identity or name."""
    text = text.strip().removeprefix("#")
    member_id = plain_id(text)
    if member_id is not None and member_id <= MAX_INT:
        return member_id
    found = search_members(conn, program, text, limit=2)
    if len(found) != 1:
        raise MemberNotFound(f"no single member matches {text!r}: type their id or an "
                           "identity only they have")
    return found[0].id


@router.post("/members/{survivor}/merges/confirm", response_class=HTMLResponse)
def confirm(request: Request, session: Admin, survivor: Id,
            other: Annotated[str, Form(min_length=1, max_length=200)],
            reason: Annotated[str, Form(max_length=500)] = "") -> HTMLResponse:
    """Both members side by side before anything moves."""
    state = request.app.state

    def read(conn: Connection) -> dict[str, Any]:
        program = get_program(conn, session.program_id)
        merged_id = _other(conn, program, other)
        if merged_id == survivor:
            raise merging.MergeSelf(f"member {survivor} cannot be merged with itself")
        return dict(survivor=member_360(conn, program, survivor, state.clock.now()),
                    merged=member_360(conn, program, merged_id, state.clock.now()))
    try:
        pair = state.db.read(read)
    except PatronError as error:
        return render(request, "error.html", error.status, title=error.title,
                      detail=error.detail,
                      back=f"/console/members/{survivor}")
    return render(request, "merge_confirm.html", **pair, reason=reason.strip())


@router.post("/members/{survivor}/merges", response_class=HTMLResponse)
def merge(request: Request, session: Admin, survivor: Id,
          member_id: Annotated[int, Form(ge=1, le=MAX_INT)],
          reason: Annotated[str, Form(max_length=500)] = "") -> Response:
    """What ``POST /members/{survivor}/merges`` does: the same pair again is that merge."""
    state = request.app.state

    def work(conn: Connection) -> int:
        program = get_program(conn, session.program_id)
        return merging.merge_of_pair(conn, program, survivor, member_id) or \
            merging.merge_members(conn, program, survivor, member_id,
                                  reason=reason.strip() or None, actor=session.actor,
                                  source="console", now=state.clock.now())
    try:
        state.db.transact(work)
    except PatronError as error:
        return render(request, "error.html", error.status, title=error.title,
                      detail=error.detail, back=f"/console/members/{survivor}")
    return RedirectResponse(f"/console/members/{survivor}?done=merged", status_code=303)


@router.post("/merges/{merge_id}/undo", response_class=HTMLResponse)
def undo(request: Request, session: Admin, merge_id: Id,
         member: Annotated[int, Form(ge=1, le=MAX_INT)]) -> Response:
    """What ``POST /merges/{id}/undo`` does; back to the member the form was on."""
    state = request.app.state
    try:
        state.db.transact(lambda conn: merging.undo_merge(
            conn, get_program(conn, session.program_id), merge_id, actor=session.actor,
            now=state.clock.now()))
    except PatronError as error:
        return render(request, "error.html", error.status, title=error.title,
                      detail=error.detail, back=f"/console/members/{member}")
    return RedirectResponse(f"/console/members/{member}?done=unmerged", status_code=303)


def _queue(request: Request, session: StaffSession, state: str, status: int = 200,
           **context: Any) -> HTMLResponse:
    items, more = request.app.state.db.read(lambda conn: candidates.pending(
        conn, session.program_id, None, 50, state=state))
    return render(request, "merge_candidates.html", status, items=items, more=more,
                  state=state, may_decide=session.may(Permission.ADMIN), **context)


@router.get("/merge-candidates", response_class=HTMLResponse)
def queue(request: Request, session: Staff, state: CandidateState = "pending",
          done: Annotated[str | None, Query(max_length=40)] = None) -> HTMLResponse:
    """Pairs that may be one person, oldest first, with the evidence per field."""
    return _queue(request, session, state, notice=NOTICES.get(done or ""))


def _decide(request: Request, session: StaffSession, candidate_id: int, done: str,
            decide: Any) -> Response:
    state = request.app.state
    try:
        state.db.transact(lambda conn: decide(conn, get_program(conn, session.program_id),
                                              state.clock.now()))
    except PatronError as error:
        return _queue(request, session, "pending", decide_error=error.detail,
                      failed=candidate_id)
    return RedirectResponse(f"/console/merge-candidates?done={done}", status_code=303)


@router.post("/merge-candidates/{candidate_id}/accept", response_class=HTMLResponse)
def accept(request: Request, session: Admin, candidate_id: Id,
           survivor_id: Annotated[int | None, Form(ge=1, le=MAX_INT)] = None) -> Response:
    return _decide(request, session, candidate_id, "merged",
                   lambda conn, program, now: match_review.accept(
                       conn, program, candidate_id, actor=session.actor, now=now,
                       survivor_id=survivor_id))


@router.post("/merge-candidates/{candidate_id}/reject", response_class=HTMLResponse)
def reject(request: Request, session: Admin, candidate_id: Id,
           reason: Annotated[str, Form(max_length=500)] = "") -> Response:
    return _decide(request, session, candidate_id, "rejected",
                   lambda conn, program, now: candidates.reject(
                       conn, program.id, candidate_id, actor=session.actor,
                       reason=reason.strip() or None, now=now))
