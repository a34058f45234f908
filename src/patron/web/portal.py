"""The member portal, a sub-application that ``patron.api.app`` mounts at /portal.

A member signs in with a one-time link (``patron.auth.portal``): they give their
email or phone, and the page answers the same whether or not Patron knows it.
Patron sends no mail yet, so the link comes from ``POST /members/{id}/portal-links``
or ``patron portal link``; with ``PATRON_PORTAL_DEV_LINKS=1`` (the demo and
development only) the sign-in page shows it. Pages are mobile-first.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from patron.auth.portal import SESSION_LIFETIME, close_session, links_for_identity, use_link
from patron.clock import Clock
from patron.db import Database
from patron.errors import PatronError
from patron.web import portal_pages
from patron.web.portal_session import (COOKIE, LOGIN_COOKIE, PATH, MemberLoginRequired,
                                       SignedInPost, check_login_token, login_token, render)
from patron.web.session import CsrfRefused, set_cookie

log = logging.getLogger("patron.portal")


def create_portal(db: Database, clock: Clock, *, dev_links: bool = False) -> FastAPI:
    portal = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    portal.state.db, portal.state.clock, portal.state.dev_links = db, clock, dev_links
    portal.add_exception_handler(MemberLoginRequired, _to_login)
    portal.add_exception_handler(CsrfRefused, _csrf_refused)
    portal.add_exception_handler(PatronError, _problem)
    portal.add_api_route("/login", login_form, methods=["GET"], response_class=HTMLResponse)
    portal.add_api_route("/login", ask_for_link, methods=["POST"], response_class=HTMLResponse)
    portal.add_api_route("/auth", open_link, methods=["GET"], response_class=HTMLResponse)
    portal.add_api_route("/logout", logout, methods=["POST"])
    portal.include_router(portal_pages.router)
    return portal


async def _to_login(request: Request, _: Exception) -> Response:
    if request.headers.get("HX-Request"):
        return Response(status_code=204, headers={"HX-Redirect": f"{PATH}/login"})
    return RedirectResponse(f"{PATH}/login", status_code=303)


async def _csrf_refused(request: Request, _: Exception) -> Response:
    return render(request, "error.html", 403, title="Form expired",
                  detail="This form is too old. Reload the page and try again.")


async def _problem(request: Request, error: PatronError) -> Response:
    return render(request, "error.html", error.status, title=error.title, detail=error.detail)


def login_form(request: Request) -> HTMLResponse:
    token = login_token(request)
    page = render(request, "login.html", csrf=token)
    set_cookie(request, page, LOGIN_COOKIE, token, max_age=3600, path=PATH)
    return page


def ask_for_link(request: Request, identity: Annotated[str, Form(max_length=254)],
                 _: Annotated[None, Depends(check_login_token)]) -> HTMLResponse:
    """The same answer for a known and an unknown identity: nothing tells them apart."""
    state = request.app.state
    issued = state.db.transact(lambda conn: links_for_identity(conn, identity,
                                                               state.clock.now()))
    log.info("portal sign-in asked: %d link(s) made", len(issued))
    shown = [str(request.base_url).rstrip("/") + link.path for link in issued]
    return render(request, "sent.html", csrf=login_token(request),
                  links=shown if state.dev_links else [])


def open_link(request: Request,
              token: Annotated[str, Query(max_length=200)] = "") -> Response:
    state = request.app.state
    opened = token and state.db.transact(lambda conn: use_link(conn, token, state.clock.now()))
    if not opened:
        return render(request, "expired.html", 400)
    session_token, _ = opened
    done = RedirectResponse(f"{PATH}/", status_code=303)
    set_cookie(request, done, COOKIE, session_token, path=PATH,
               max_age=int(SESSION_LIFETIME.total_seconds()))
    done.delete_cookie(LOGIN_COOKIE, path=PATH)
    return done


def logout(request: Request, session: SignedInPost) -> Response:
    state = request.app.state
    token = request.cookies.get(COOKIE, "")
    state.db.transact(lambda conn: close_session(conn, token, state.clock.now()))
    done = RedirectResponse(f"{PATH}/login", status_code=303)
    done.delete_cookie(COOKIE, path=PATH)
    return done
