"""The console as a sub-application that ``patron.api.app`` mounts at /console.

Pages render on the server (Jinja2); htmx swaps parts of them, Chart.js draws the
dashboard, Pico styles it, all three served from the package (/static/vendor), so
the console works offline. A person signs in with a staff account, whose role
allows what an API key of that role may do.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, FastAPI, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from patron.auth.staff import BadCredentials, authenticate, close_session, open_session
from patron.clock import Clock
from patron.db import Database
from patron.errors import PatronError
from patron.web import (campaigns, catalog, dashboard, editor, households, members, merges,
                        reports)
from patron.web.pages import render
from patron.web.portal import create_portal
from patron.web.session import (COOKIE, LOGIN_COOKIE, CsrfRefused, LoginRequired, StaffPost,
                                check_login_token, login_token, set_cookie)


__all__ = ["create_console", "create_portal"]


def create_console(db: Database, clock: Clock) -> FastAPI:
    console = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    console.state.db = db
    console.state.clock = clock
    console.add_exception_handler(LoginRequired, _to_login)
    console.add_exception_handler(CsrfRefused, _csrf_refused)
    console.add_exception_handler(PatronError, _problem)
    console.add_exception_handler(RequestValidationError, _invalid_form)
    console.add_api_route("/login", login_form, methods=["GET"], response_class=HTMLResponse)
    console.add_api_route("/login", login, methods=["POST"], response_class=HTMLResponse)
    console.add_api_route("/logout", logout, methods=["POST"])
    console.include_router(dashboard.router)
    console.include_router(members.router)
    console.include_router(editor.router)
    console.include_router(reports.router)
    console.include_router(catalog.router)
    console.include_router(households.router)
    console.include_router(merges.router)
    console.include_router(campaigns.router)
    return console


def _safe_next(target: str | None) -> str:
    """Only a console path: a sign-in link must not send anyone to another site."""
    if target and target.startswith("/console/") and not target.startswith("/console//"):
        return target
    return "/console/"


async def _to_login(request: Request, _: Exception) -> Response:
    target = f"/console/login?next={quote(request.url.path)}"
    if request.headers.get("HX-Request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def _csrf_refused(request: Request, _: Exception) -> Response:
    return render(request, "error.html", 403, title="Form expired",
                  detail="The form was not sent from this console session. "
                         "Reload the page and try again.")


async def _problem(request: Request, error: PatronError) -> Response:
    return render(request, "error.html", error.status, title=error.title, detail=error.detail)


async def _invalid_form(request: Request, error: RequestValidationError) -> Response:
    """A form or link that fails validation: a page (or, for htmx, the part it swaps in)
    saying what is wrong with which field, status 422; the API keeps its JSON."""
    problems = [dict(field=" ".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]),
                     message=e["msg"]) for e in error.errors()]
    referer = request.headers.get("referer", "")
    back = referer[referer.find("/console/"):] if "/console/" in referer else None
    template = "form_problems.html" if request.headers.get("HX-Request") else "error.html"
    return render(request, template, 422, title="Please check the form",
                  detail=("Nothing was changed: some fields need correcting."
                          if request.method == "POST" else "Some values need correcting."),
                  problems=problems, back=_safe_next(back) if back else None)


def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    token = login_token(request)
    page = render(request, "login.html", csrf=token, next=_safe_next(next), error=None)
    set_cookie(request, page, LOGIN_COOKIE, token, max_age=3600)
    return page


def login(request: Request, email: Annotated[str, Form(max_length=254)],
          password: Annotated[str, Form(max_length=1000)],
          _: Annotated[None, Depends(check_login_token)],
          next: Annotated[str | None, Form()] = None) -> Response:
    state = request.app.state

    def sign_in(conn):
        return open_session(conn, authenticate(conn, email=email, password=password),
                            state.clock.now())
    try:
        opened = state.db.transact(sign_in)
    except BadCredentials:
        return render(request, "login.html", csrf=login_token(request),
                      next=_safe_next(next), email=email, error="Wrong email or password.")
    done = RedirectResponse(_safe_next(next), status_code=303)
    set_cookie(request, done, COOKIE, opened.token)
    done.delete_cookie(LOGIN_COOKIE, path="/console")
    return done


def logout(request: Request, session: StaffPost) -> Response:
    state = request.app.state
    token = request.cookies.get(COOKIE, "")
    state.db.transact(lambda conn: close_session(conn, token, state.clock.now()))
    done = RedirectResponse("/console/login", status_code=303)
    done.delete_cookie(COOKIE, path="/console")
    return done
