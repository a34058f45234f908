"""Who is signed in: the session cookie, the CSRF token, and the role's permissions.

The cookie holds a random token (HttpOnly, SameSite=Lax, Secure over https); the
database keeps its hash (``patron.auth.staff``). Every POST must carry the
session's CSRF token, in the form (``csrf_token``) or, from htmx, in the
``X-CSRF-Token`` header that the page's ``<body hx-headers>`` adds to each request.
The sign-in form, which has no session yet, uses a double-submit cookie instead.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Request, Response

from patron.audit.service import claim
from patron.auth.service import Permission
from patron.auth.staff import StaffSession, session_for

COOKIE = "patron_console"
LOGIN_COOKIE = "patron_console_login"
CSRF_HEADER = "X-CSRF-Token"


class LoginRequired(Exception):
    """No live session: the page answers with the sign-in form."""


class CsrfRefused(Exception):
    """A POST without the token of the session (or of the sign-in form)."""


def staff(request: Request) -> StaffSession:
    token = request.cookies.get(COOKIE)
    state = request.app.state
    session = token and state.db.read(lambda conn: session_for(conn, token, state.clock.now()))
    if not session:
        raise LoginRequired()
    request.state.staff = session
    return session


Staff = Annotated[StaffSession, Depends(staff)]


def tokens_match(sent: object, expected: str | None) -> bool:
    """A constant-time comparison of the token a form sent with the one expected."""
    return (isinstance(sent, str) and bool(expected)
            and hmac.compare_digest(sent.encode(), str(expected).encode()))


async def require_token(request: Request, expected: str | None) -> None:
    """The POST showed ``expected``: in its form (``csrf_token``) or, from htmx, in the
    ``X-CSRF-Token`` header (else ``CsrfRefused``). The console and the portal both."""
    form = await request.form()
    sent = request.headers.get(CSRF_HEADER) or form.get("csrf_token")
    if not tokens_match(sent, expected):
        raise CsrfRefused()


class LoginForm:
    """A sign-in form's double-submit token: it has no session yet, so its token lives in
    a cookie of its own (``cookie``) and must come back in the form."""

    def __init__(self, cookie: str) -> None:
        self.cookie = cookie

    def token(self, request: Request) -> str:
        """The one in the form's cookie, or a new one."""
        return request.cookies.get(self.cookie) or secrets.token_urlsafe(32)

    async def check(self, request: Request) -> None:
        form = await request.form()
        if not tokens_match(form.get("csrf_token"), request.cookies.get(self.cookie)):
            raise CsrfRefused()


async def checked(request: Request, session: Staff) -> StaffSession:
    """The session, once the POST showed its CSRF token; every console write passes
    here, so here it is named in the audit log as the staff account's."""
    await require_token(request, session.csrf_token)
    claim(actor=session.actor, program_id=session.program_id,
          staff_account_id=session.account_id, member_id=request.path_params.get("member_id"))
    return session


StaffPost = Annotated[StaffSession, Depends(checked)]


def permitted(permission: Permission):
    """A dependency: the session, if its role has ``permission`` (else 403)."""
    async def dependency(session: StaffPost) -> StaffSession:
        session.require(permission)
        return session
    return dependency


Writer = Annotated[StaffSession, Depends(permitted(Permission.WRITE))]
Admin = Annotated[StaffSession, Depends(permitted(Permission.ADMIN))]


LOGIN = LoginForm(LOGIN_COOKIE)
login_token, check_login_token = LOGIN.token, LOGIN.check


def set_cookie(request: Request, response: Response, name: str, value: str,
               max_age: int | None = None, path: str = "/console") -> None:
    response.set_cookie(name, value, max_age=max_age, path=path, httponly=True,
                        samesite="lax", secure=request.url.scheme == "https")
