"""``GET /audit``: the program's audit log, for admin keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, Field

from patron.api.deps import Admin, problem_responses
from patron.audit.service import AuditQuery, list_entries
from patron.schemas_common import MAX_INT

router = APIRouter(tags=["audit"])


class AuditEntry(BaseModel):
    """One write: who made it, what it was, for which member, when, and how it ended."""

    id: int
    at: datetime
    actor: str = Field(description="``key:<id>`` for an API key, ``staff:<email>`` for "
                                   "a person in the console")
    api_key_id: int | None = None
    staff_account_id: int | None = None
    operation: str = Field(description="Method and route, e.g. "
                                       "``POST /api/v1/members/{member_id}/adjustments``")
    member_id: int | None = None
    request_id: str | None = Field(None, description="The request's ``X-Request-ID``")
    outcome: str = Field(description="``succeeded`` (committed with the change) or "
                                     "``failed`` (nothing was changed)")
    status: int | None = Field(None, description="The answer's HTTP status, for a failed write")


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_cursor: str | None = Field(None, description="Pass as ``cursor`` for older entries")


@router.get("/audit", response_model=AuditPage, responses=problem_responses(401, 403, 422))
def audit_log(ctx: Admin,
              member_id: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
              actor: Annotated[str | None, Query(max_length=254)] = None,
              since: Annotated[AwareDatetime | None, Query()] = None,
              until: Annotated[AwareDatetime | None, Query()] = None,
              cursor: Annotated[str | None, Query(max_length=20)] = None,
              limit: Annotated[int, Query(ge=1, le=500)] = 100) -> AuditPage:
    """The program's writes, newest first (admin keys only); filter by member, actor
    and time (``since`` inclusive, ``until`` exclusive), page with ``cursor``."""
    query = AuditQuery(member_id, actor, since, until, cursor, limit)
    items, following = ctx.read(lambda conn, program: list_entries(conn, program.id, query))
    return AuditPage(items=[AuditEntry(**item) for item in items], next_cursor=following)
