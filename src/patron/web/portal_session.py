"""Who is signed in to the member portal, its CSRF checks, and how its pages render.

The portal's cookie (``patron_portal``, path /portal) is a member's, never a staff
session: the two never open each other's pages. Every POST carries the session's
CSRF token; the sign-in form, with no session yet, uses a double-submit cookie,
as the console does.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from babel.numbers import format_currency, get_currency_precision
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from patron.auth.portal import PortalSession, session_for
from patron.program.service import Program
from patron.web.pages import TEMPLATES
from patron.web.session import LoginForm, require_token

COOKIE = "patron_portal"
LOGIN_COOKIE = "patron_portal_login"
PATH = "/portal"


class MemberLoginRequired(Exception):
    """No live portal session: the page answers with the sign-in form."""


def member(request: Request) -> PortalSession:
    token = request.cookies.get(COOKIE)
    state = request.app.state
    session = token and state.db.read(lambda conn: session_for(conn, token, state.clock.now()))
    if not session:
        raise MemberLoginRequired()
    request.state.member_session = session
    return session


SignedIn = Annotated[PortalSession, Depends(member)]


async def checked(request: Request, session: SignedIn) -> PortalSession:
    """The session, once the POST showed its CSRF token."""
    await require_token(request, session.csrf_token)
    return session


SignedInPost = Annotated[PortalSession, Depends(checked)]


LOGIN = LoginForm(LOGIN_COOKIE)
login_token, check_login_token = LOGIN.token, LOGIN.check


def money(minor: int, currency: str) -> str:
    """Integer minor units in the program's currency, as Patron writes money elsewhere."""
    amount = Decimal(minor).scaleb(-get_currency_precision(currency))
    return format_currency(amount, currency, locale="en_US")


def day(value: datetime | None, program: Program, *, end: bool = False) -> str:
    """A date in the program's timezone, ``31 Dec 2026``; ``end``: the last day before an
    exclusive end (a window ending at 1 Jan 00:00 runs *by* 31 Dec)."""
    if value is None:
        return ""
    local = (value - timedelta(microseconds=1) if end else value).astimezone(
        ZoneInfo(program.settings.timezone))
    return f"{local.day} {local:%b %Y}"


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A portal page, with the signed-in member's session (if any) and CSRF token."""
    session = getattr(request.state, "member_session", None)
    context.setdefault("session", session)
    context.setdefault("csrf", session.csrf_token if session else None)
    program = context.get("program")
    if program is not None:
        context.update(day=lambda value, end=False: day(value, program, end=end), money=money)
    return TEMPLATES.TemplateResponse(request, f"portal/{template}", context,
                                      status_code=status)
