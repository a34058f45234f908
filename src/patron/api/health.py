"""``/healthz`` (the process answers) and ``/readyz`` (it can serve: database reachable,
schema at the revision this Patron needs), for a load balancer or an orchestrator."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from patron.api.errors import problem_response
from patron.db import Database
from patron.db.migrate import current_revision, head_revision

log = logging.getLogger("patron")


def health_router(db: Database) -> APIRouter:
    router = APIRouter(tags=["operations"])
    head = head_revision(db)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers (no database work, so a slow database does not
        get a healthy process restarted)."""
        return {"status": "ok"}

    @router.get("/readyz", responses={503: {"description": "Problem details (RFC 9457): "
                                      "database_unreachable or migrations_pending",
                                      "content": {"application/problem+json": {}}}})
    def readyz(request: Request) -> JSONResponse:
        """Readiness: the database answers and its schema is at this Patron's revision;
        else 503 with ``database_unreachable`` or ``migrations_pending``."""
        try:
            current = current_revision(request.app.state.db)
        except SQLAlchemyError as error:
            log.warning("readyz: database unreachable: %s", error)
            return problem_response(503, "database_unreachable", "Database unreachable",
                                    "Patron cannot reach its database")
        if current != head:
            return problem_response(
                503, "migrations_pending", "Migrations pending",
                f"the database schema is at revision {current or 'none'}, this Patron needs "
                f"{head}: run `patron db upgrade`", current_revision=current,
                head_revision=head)
        return JSONResponse({"status": "ready", "revision": current})

    return router
