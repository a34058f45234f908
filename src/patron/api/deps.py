"""What every endpoint gets: the database, the clock and the caller."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Callable, TypeVar

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from sqlalchemy import Connection

from patron.api.middleware import route_label
from patron.audit.service import claim, record_success
from patron.auth.service import (Permission, Principal, authenticate, forget_key, key_in_force,
                                 known_principal)
from patron.clock import Clock
from patron.db import Database
from patron.errors import PatronError, Unauthorized
from patron.members.repository import merged_into_of, survivor_of
from patron.program.service import Program, ProgramNotFound, get_program, get_program_with
from patron.schemas_common import plain_id, unstorable_text

T = TypeVar("T")


@dataclass
class Context:
    """One request's view of Patron: who calls, for which program, at what time."""

    db: Database
    clock: Clock
    principal: Principal
    program: Program | None = None
    """The program as this request read it already (with a member-id path's merge), if
    it did; else each ``read`` and ``write`` reads it in its own transaction."""
    trail: Any = None
    token: str = ""
    key_checked: bool = True
    """False while the key came from the few-second cache: the first program read
    then also checks that the key is not revoked (``checked``)."""

    def program_for(self, conn: Connection) -> Program:
        """The program as this request reads it, in ``conn``'s transaction."""
        if self.program is not None:
            return self.program
        return self.checked(conn, lambda guard: get_program(
            conn, self.principal.program_id, guard=guard))

    def checked(self, conn: Connection, read: Callable[[Any], T]) -> T:
        """``read`` (a program read taking a guard), with the cached key's revocation
        checked by the same statement; a revoked key answers 401 here."""
        if self.key_checked:
            return read(None)
        try:
            result = read(key_in_force(self.principal.key_id))
        except ProgramNotFound:
            forget_key(self.token)
            authenticate(conn, self.token, self.clock.now())  # 401 if revoked
            result = read(None)
        self.key_checked = True
        return result

    def read(self, work: Callable[[Connection, Program], T]) -> T:
        return self.db.read(lambda conn: work(conn, self.program_for(conn)))

    def write(self, work: Callable[[Connection, Program], T]) -> T:
        """``work`` in one transaction, with the request's audit row in the same one."""
        def audited(conn: Connection) -> T:
            result = work(conn, self.program_for(conn))
            self.trail = record_success(conn, now=self.clock.now(), result=result)
            return result

        result = self.db.transact(audited)
        if self.trail is not None:
            self.trail.recorded = True
        return result


API_KEY = HTTPBearer(auto_error=False, scheme_name="apiKey", bearerFormat="ptn_…",
                     description="An API key from `patron demo` or `patron keys create`, "
                     "sent as `Authorization: Bearer <key>`")
"""The security scheme every endpoint names: /docs shows an Authorize button for it."""


def _bearer(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials.strip():
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    return credentials.credentials.strip()


# A JSON body can only hold a NUL or a lone surrogate through one of these escapes.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


async def refuse_unstorable_text(request: Request) -> None:
    """422 ``validation_error`` for text in the query or the JSON body that no database
    can store (a NUL character, a lone surrogate), before any work is done.

    One check for every endpoint, so no string input can reach PostgreSQL and fail there.
    (Path values are ids, or coupon codes reduced to their alphabet before a lookup.)
    """
    problems = [(loc, message) for name, value in request.query_params.multi_items()
                for loc, message in unstorable_text(value, ("query", name))]
    route = request.scope.get("route")
    if getattr(route, "body_field", None) is not None and _SUSPECT_ESCAPE.search(
            await request.body()):
        try:
            body = await request.json()
        except ValueError:  # not JSON: the body's own validation answers
            body = None
        problems += unstorable_text(body, ("body",))
    if problems:
        raise RequestValidationError([
            {"type": "text_unstorable", "loc": loc, "msg": message, "input": None}
            for loc, message in problems[:20]])


class MemberMerged(PatronError):
    """``GET /members/{id}`` of a merged member: 301 to the member it was merged into."""

    status = 301
    code = "member_merged"
    title = "Member merged into another"

    def __init__(self, member_id: int, survivor_id: int, location: str) -> None:
        super().__init__(f"member {member_id} was merged into member {survivor_id}",
                         member_id=member_id, merged_into=survivor_id)
        self.headers = {"Location": location}


MEMBER_RECORD = {"/members/{member_id}", "/api/v1/members/{member_id}"}
RECORD_ITSELF = {f"{prefix}/members/{{member_id}}/{view}" for prefix in ("", "/api/v1")
                 for view in ("360", "merges", "status-changes", "status")}
"""The merged record's own history and status: they answer for the old id itself (a merged
record's status is final, so a status change sent to it is refused, not passed on)."""


async def follow_merges(request: Request, context: Context) -> None:
    """Member-id paths of a merged member act on the member it was merged into.

    The one place a path's ``member_id`` follows ``merged_into`` (through merges of
    merges): balance, ledger, spends, wallet, tier... of an old id are the survivor's.
    ``GET /members/{id}`` itself answers 301 with a ``Location`` of the survivor and
    ``merged_into`` in the body, so an integrator learns the new id.
    """
    member_id = plain_id(request.path_params.get("member_id"))
    if member_id is None:
        return  # not an id: the route's own check answers
    if getattr(request.scope.get("route"), "path", None) in RECORD_ITSELF:
        return
    program_id = context.principal.program_id

    def look(conn: Connection) -> int | None:
        # The program row and the member's merged_into in one statement: an ordinary
        # member costs nothing more, and the request's work uses the program read here.
        context.program, merged_into = context.checked(conn, lambda guard: get_program_with(
            conn, program_id, merged_into_of(program_id, member_id), guard=guard))
        return None if merged_into is None else survivor_of(conn, program_id, member_id)

    survivor = await run_in_threadpool(context.db.lookup, look)
    if survivor is None:
        return
    route = request.scope.get("route")
    if request.method == "GET" and getattr(route, "path", None) in MEMBER_RECORD:
        raise MemberMerged(member_id, survivor,
                           str(request.url).replace(f"/members/{member_id}",
                                                    f"/members/{survivor}", 1))
    request.path_params["member_id"] = str(survivor)


def context_for(permission: Permission) -> Callable[..., Context]:
    async def authenticated(
            request: Request,
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(API_KEY)],
    ) -> Context:
        db: Database = request.app.state.db
        clock: Clock = request.app.state.clock
        token = _bearer(credentials)
        # A key verified moments ago needs no lookup of its own: the request's program
        # read checks it is not revoked (Context.checked), so revocation is seen at once
        # by every process; benchmarks/auth_per_request.py measures the cost.
        now = clock.now()
        principal = known_principal(token, now)
        cached = principal is not None
        if principal is None:
            principal = await run_in_threadpool(
                db.lookup, lambda conn: authenticate(conn, token, now))
        await request.app.state.rate_limiter.check(principal)
        principal.require(permission)
        return Context(db, clock, principal, token=token, key_checked=not cached)

    async def dependency(request: Request,
                         context: Context = Depends(authenticated)) -> Context:
        principal = context.principal
        claim(actor=principal.actor, program_id=principal.program_id,
              api_key_id=principal.key_id)
        await refuse_unstorable_text(request)
        await follow_merges(request, context)
        claim(actor=principal.actor, program_id=principal.program_id,
              api_key_id=principal.key_id, member_id=request.path_params.get("member_id"),
              operation=f"{request.method} {route_label(request.scope)}")
        return context
    return dependency


Reader = Annotated[Context, Depends(context_for(Permission.READ))]
Writer = Annotated[Context, Depends(context_for(Permission.WRITE))]
Admin = Annotated[Context, Depends(context_for(Permission.ADMIN))]
Analyst = Annotated[Context, Depends(context_for(Permission.ANALYTICS))]

IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", max_length=150, pattern=r"^[\x21-\x7e]+$",
    description="Retrying with the same key returns the first result and writes nothing")]


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem-details responses an endpoint can give."""
    return {code: {"description": "Problem details (RFC 9457)",
                   "content": {"application/problem+json": {}}} for code in codes}
