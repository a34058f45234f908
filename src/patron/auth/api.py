"""Portal sign-in links over HTTP, for a shop's own mailer or a person at the counter."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from patron.api.deps import Admin, problem_responses
from patron.auth import portal
from patron.schemas_common import MAX_INT

router = APIRouter(tags=["portal"])
MemberId = Annotated[int, Path(ge=1, le=MAX_INT, description="The member's id")]


class PortalLink(BaseModel):
    """A one-time link that signs the member in to the portal."""

    member_id: int
    url: str = Field(description="Works once, until expires_at; send it to the member only")
    expires_at: datetime


@router.post("/members/{member_id}/portal-links", status_code=201, response_model=PortalLink,
             responses=problem_responses(401, 403, 404))
def create_portal_link(member_id: MemberId, ctx: Admin, request: Request) -> PortalLink:
    """A new sign-in link for the member portal (admin keys only).

    Each call makes another link; each works once, for 15 minutes. Patron sends no
    mail: deliver the link to the member's own email or phone.
    """
    now = ctx.clock.now()
    issued = ctx.write(lambda conn, program: portal.issue_link(conn, program, member_id, now))
    base = str(request.base_url).rstrip("/")
    return PortalLink(member_id=member_id, url=base + issued.path, expires_at=issued.expires_at)
