"""Rewards and coupons: the catalog of the current program version, and batches of codes.

The catalog is the current document's rewards, each with its stock left (the stock
row ``rewards`` keeps) and its redemptions, the figures of the analytics rewards report
the API and ``patron analytics rewards`` give (``catalog_figures``: its catalog rows). A batch of coupon codes is
``patron.coupons.service.create_batch``, what ``POST /api/v1/coupons/batches`` and
``patron coupons batch`` call, behind the same idempotency keys: the form carries a
key drawn when the page was, so a form sent twice generates one batch. Its CSV is
``batch_csv``, the API's ``codes.csv``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from pydantic import ValidationError
from sqlalchemy import Connection

from patron.analytics.service import catalog_figures
from patron.auth.service import Permission
from patron.auth.staff import StaffSession
from patron.coupons import service as coupons
from patron.coupons.schemas import MAX_BATCH, BatchCreate
from patron.errors import PatronError
from patron.idempotency.service import run_once
from patron.program.service import get_program
from patron.program.versions import get_version
from patron.rewards.repository import stock_rows
from patron.schemas_common import MAX_INT
from patron.web.pages import render
from patron.web.session import Admin, Staff

router = APIRouter()
BatchId = Annotated[int, Path(ge=1, le=MAX_INT)]


@router.get("/rewards", response_class=HTMLResponse)
def rewards(request: Request, session: Staff) -> HTMLResponse:
    """The current version's rewards with their stock left and redemptions so far."""
    state = request.app.state

    def read(conn: Connection) -> dict[str, Any]:
        program = get_program(conn, session.program_id)
        catalog = get_version(conn, program).document.rewards
        stock = stock_rows(conn, program.id, [r.id for r in catalog if r.stock is not None])
        redeemed: dict[str, int] = {}
        given: dict[str, int] = {}
        if session.may(Permission.ANALYTICS):
            figures = catalog_figures(conn, program, state.clock.now())
            redeemed = {row.reward: row.redemptions for row in figures.rewards}
            given = {row.reward: row.net for row in figures.gifts}
        return dict(program=program, catalog=catalog, redeemed=redeemed, given=given,
                    left={r.id: stock[r.id].remaining if r.id in stock else r.stock
                          for r in catalog if r.stock is not None})
    return render(request, "catalog_rewards.html", **state.db.read(read),
                  may_count=session.may(Permission.ANALYTICS))


def _coupons_page(request: Request, session: StaffSession, **context: Any) -> HTMLResponse:
    def read(conn: Connection) -> dict[str, Any]:
        program = get_program(conn, session.program_id)
        return dict(program=program, types=get_version(conn, program).document.coupons)
    return render(request, "catalog_coupons.html", **request.app.state.db.read(read),
                  may_batch=session.may(Permission.ADMIN), batch_key=uuid.uuid4().hex,
                  max_batch=MAX_BATCH, **context)


@router.get("/coupons", response_class=HTMLResponse)
def coupon_types(request: Request, session: Staff) -> HTMLResponse:
    """The current version's coupon types; admins generate batches of codes here."""
    return _coupons_page(request, session)


@router.post("/coupons/batches", response_class=HTMLResponse)
def generate(request: Request, session: Admin,
             coupon_type: Annotated[str, Form(max_length=40)],
             count: Annotated[int, Form(ge=1, le=MAX_BATCH)],
             idempotency_key: Annotated[str, Form(min_length=1, max_length=100)],
             name: Annotated[str, Form(max_length=200)] = "") -> Response:
    state = request.app.state
    try:
        payload = BatchCreate(coupon_type=coupon_type, count=count, name=name.strip() or None)
    except ValidationError as error:
        return _coupons_page(request, session, batch_error=error.errors()[0]["msg"])

    def work(conn: Connection) -> int:
        program = get_program(conn, session.program_id)

        def create() -> tuple[int, Any]:
            made = coupons.create_batch(conn, program, payload, now=state.clock.now(),
                                        actor=session.actor)
            return 201, made.model_dump(mode="json")
        _, body, _ = run_once(conn, program_id=program.id, key=f"console:{idempotency_key}",
                              operation="create_coupon_batch",
                              payload=payload.model_dump(mode="json"), now=state.clock.now(),
                              work=create)
        return body["id"]
    try:
        batch_id = state.db.transact(work)
    except PatronError as error:
        return _coupons_page(request, session, batch_error=error.detail)
    return RedirectResponse(f"/console/coupons/batches/{batch_id}", status_code=303)


@router.get("/coupons/batches/{batch_id}", response_class=HTMLResponse)
def batch(request: Request, session: Staff, batch_id: BatchId) -> HTMLResponse:
    """A batch: its codes' use so far, and the CSV of them (admins)."""
    session.require(Permission.ADMIN)
    found = request.app.state.db.read(lambda conn: coupons.get_batch(
        conn, get_program(conn, session.program_id), batch_id))
    return render(request, "catalog_batch.html", batch=found)


@router.get("/coupons/batch", response_class=HTMLResponse)
def find_batch(session: Staff, number: Annotated[int, Query(ge=1, le=MAX_INT)]) -> Response:
    """The form that opens a batch by its number."""
    return RedirectResponse(f"/console/coupons/batches/{number}", status_code=303)


@router.get("/coupons/batches/{batch_id}/codes.csv")
def export(request: Request, session: Staff, batch_id: BatchId) -> StreamingResponse:
    """The batch's codes as the API's ``codes.csv`` has them."""
    session.require(Permission.ADMIN)
    state = request.app.state
    program, found = state.db.read(lambda conn: (
        (p := get_program(conn, session.program_id)), coupons.get_batch(conn, p, batch_id)))
    return StreamingResponse(coupons.batch_csv(state.db, program, found), media_type="text/csv",
                             headers={"Content-Disposition":
                                      f'attachment; filename="coupons-batch-{found.id}.csv"'})
