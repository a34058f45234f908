"""The FastAPI application: routers, error rendering and the in-process scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

import patron
from patron.flows import jobs
from patron.analytics.api import router as analytics_router
from patron.analytics.service import start_worker as start_analytics_worker
from patron.auth.api import router as portal_links_router
from patron.campaigns.api import router as campaigns_router
from patron.coupons.api import router as coupons_router
from patron.api import errors
from patron.api.campaign_results import router as campaign_results_router
from patron.api.merges import router as merges_router
from patron.api.health import health_router
from patron.api.metrics import JOB_RUNS, metrics_router
from patron.api.middleware import BodyLimit, RequestContext, UnexpectedErrors
from patron.api.ratelimit import KeyRateLimiter
from patron.audit.api import router as audit_router
from patron.clock import Clock, SystemClock
from patron.config import get_settings
from patron.db import Database
from patron.events.api import router as events_router
from patron.households.api import router as households_router
from patron.ledger.api import router as ledger_router
from patron.matching.api import router as matching_router
from patron.members.api import router as members_router
from patron.memberships.api import router as memberships_router
from patron.program.api import router as program_router
from patron.referrals.api import router as referrals_router
from patron.rewards.api import router as rewards_router
from patron.segments.api import members_router as member_segments_router
from patron.segments.api import router as segments_router
from patron.tiers.api import households_router as household_tiers_router
from patron.tiers.api import router as tiers_router
from patron.transfers.api import router as transfers_router
from patron.wallet.api import router as wallet_router
from patron.web.app import create_console, create_portal

log = logging.getLogger("patron")

STATIC = Path(__file__).resolve().parents[1] / "web" / "static"
"""Vendored front-end assets (Swagger UI, …): /docs works offline, with no CDN."""

API_ROUTERS = [members_router, ledger_router, tiers_router, referrals_router, wallet_router,
               memberships_router, households_router, events_router, program_router,
               household_tiers_router, coupons_router, rewards_router, transfers_router,
               campaign_results_router, analytics_router, merges_router, matching_router,
               member_segments_router, segments_router, campaigns_router, portal_links_router,
               audit_router]

BULK_ENDPOINTS = frozenset({("POST", "/api/v1/events/batch"),
                            ("POST", "/api/v1/program/simulate")})
"""Endpoints that take many events in one body (1,000 and 10,000): the larger body limit."""


Sweep = Callable[[Database, datetime], dict[str, dict[str, Any]]]


async def _scheduler(db: Database, clock: Clock, interval: float,
                     sweep: Sweep = jobs.run_all, name: str = "sweeps") -> None:
    while True:
        try:
            result = await run_in_threadpool(sweep, db, clock.now())
            done = {name: counts for name, counts in result.items() if any(counts.values())}
            JOB_RUNS.labels(name, "succeeded").inc()
            if done:
                log.info("scheduled %s: %s", name, done)
        except Exception:  # a failed sweep must not stop the next one
            JOB_RUNS.labels(name, "failed").inc()
            log.exception("scheduled %s failed", name)
        await asyncio.sleep(interval)


def body_limits(normal: int, bulk: int) -> Callable[[str, str], int]:
    """The most bytes a request body may have, per method and path."""
    return lambda method, path: bulk if (method, path) in BULK_ENDPOINTS else normal


def create_app(db: Database, clock: Clock | None = None, *,
               jobs_interval: float | None = None,
               features_interval: float | None = None) -> FastAPI:
    """Build the app; ``jobs_interval`` runs the sweeps in-process every N seconds,
    ``features_interval`` the features job (features, rule tags, dynamic segments)."""
    clock = clock or SystemClock()
    settings = get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = []
        start_analytics_worker(db.engine)  # SQLite: it imports the reports' code meanwhile
        if jobs_interval:
            tasks.append(asyncio.create_task(_scheduler(db, clock, jobs_interval)))
        if features_interval:
            tasks.append(asyncio.create_task(_scheduler(db, clock, features_interval,
                                                        jobs.run_features, "features")))
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(title="Patron", version=patron.__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None,
                  description="Customer loyalty and incentive platform: members, points "
                              "ledger, events, rewards. Authorize with an API key "
                              "(`Authorization: Bearer ptn_…`).")
    app.state.db = db
    app.state.clock = clock
    app.state.rate_limiter = KeyRateLimiter(settings.rate_limit, settings.rate_limit_storage)
    errors.install(app)
    app.add_middleware(BodyLimit, limit_for=body_limits(settings.max_body_bytes,
                                                        settings.max_bulk_body_bytes))
    app.add_middleware(UnexpectedErrors)  # also answers the body limit's defects
    app.add_middleware(RequestContext)  # outermost: id, metrics, audit
    for router in API_ROUTERS:
        app.include_router(router, prefix="/api/v1")
    app.include_router(health_router(db))
    app.include_router(metrics_router())

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/console", create_console(db, clock), name="console")
    app.mount("/portal", create_portal(db, clock, dev_links=settings.portal_dev_links),
              name="portal")

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI from the package's own copy, so the docs load offline."""
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="Patron API",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/vendor/swagger-ui/favicon-32x32.png",
            swagger_ui_parameters={"persistAuthorization": True})

    return app
