"""The FastAPI application: routers, error rendering and the in-process scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from collections.abc import AsyncIterator, Callable, Mapping

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

import patron
from patron.flows import jobs
from patron.flows.ingest import ingest
from patron.analytics.api import router as analytics_router
from patron.analytics.service import start_worker as start_analytics_worker
from patron.auth.api import router as portal_links_router
from patron.campaigns.api import router as campaigns_router
from patron.coupons.api import router as coupons_router
from patron.engagement.api import router as engagement_router
from patron.api import errors, openapi_examples
from patron.api.docs import docs_page
from patron.api.campaign_results import router as campaign_results_router
from patron.api.merges import router as merges_router
from patron.api.privacy import router as privacy_router
from patron.api.health import health_router
from patron.api.metrics import JOB_RUNS, metrics_router
from patron.api.middleware import BodyLimit, RequestContext, UnexpectedErrors
from patron.api.group_commit import GroupCommit
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
from patron.recommendations.api import members_router as member_recommendations_router
from patron.recommendations.api import router as recommendations_router
from patron.referrals.api import router as referrals_router
from patron.rewards.api import router as rewards_router
from patron.segments.api import members_router as member_segments_router
from patron.segments.api import router as segments_router
from patron.shops.api import router as shops_router
from patron.tiers.api import households_router as household_tiers_router
from patron.tiers.api import router as tiers_router
from patron.transfers.api import router as transfers_router
from patron.wallet.api import router as wallet_router
from patron.webhooks.api import router as webhooks_router
from patron.webhooks.delivery import Deliverer, DeliveryRunner
from patron.web.app import create_console, create_portal

log = logging.getLogger("patron")

STATIC = Path(__file__).resolve().parents[1] / "web" / "static"
"""Vendored front-end assets (Swagger UI, …): /docs works offline, with no CDN."""

API_ROUTERS = [members_router, ledger_router, tiers_router, referrals_router, wallet_router,
               memberships_router, households_router, events_router, program_router,
               household_tiers_router, coupons_router, rewards_router, transfers_router,
               campaign_results_router, analytics_router, merges_router, matching_router,
               member_segments_router, segments_router, campaigns_router, portal_links_router,
               audit_router, shops_router, privacy_router, webhooks_router,
               engagement_router, member_recommendations_router, recommendations_router]

BULK_ENDPOINTS = frozenset({("POST", "/api/v1/events/batch"),
                            ("POST", "/api/v1/program/simulate")})
"""Endpoints that take many events in one body (1,000 and 10,000): the larger body limit."""


async def _scheduler(db: Database, clock: Clock, interval: float, sweep: jobs.Pass,
                     name: str) -> None:
    """The in-process runner of one scheduled job (the SQLite demo, ``PATRON_JOBS=inprocess``;
    ``patron worker`` runs them from a queue on PostgreSQL)."""
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


def create_app(db: Database, clock: Clock | None = None, *, in_process_jobs: bool = False,
               scheduled: Mapping[str, jobs.ScheduledJob] = jobs.SCHEDULED,
               webhooks_interval: float | None = None) -> FastAPI:
    """Build the app; with ``in_process_jobs`` it runs each scheduled job itself, every
    ``interval`` seconds of its settings (sweeps: ``PATRON_JOBS_INTERVAL_SECONDS``,
    features: ``PATRON_FEATURES_INTERVAL_SECONDS``; 0 never); ``webhooks_interval``
    delivers webhooks in a thread of its own, looking for due messages every N seconds
    while there are none (``patron worker`` delivers them when it runs the jobs)."""
    clock = clock or SystemClock()
    settings = get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        start_analytics_worker(db.engine)  # SQLite: it imports the reports' code meanwhile
        runs = {job.name: interval for job in (scheduled.values() if in_process_jobs else ())
                if (interval := job.interval(settings)) > 0}
        tasks = [asyncio.create_task(_scheduler(db, clock, interval, scheduled[name].run, name))
                 for name, interval in runs.items()]
        app.state.in_process_jobs = runs
        runner = (DeliveryRunner(Deliverer.from_settings(db, clock, settings),
                                 webhooks_interval).start() if webhooks_interval else None)
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if runner is not None:
            await run_in_threadpool(runner.stop)

    app = FastAPI(title="Patron", version=patron.__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None,
                  description="Customer loyalty and incentive platform: members, points "
                              "ledger, events, rewards. Authorize with an API key "
                              "(`Authorization: Bearer ptn_…`).")
    app.state.db = db
    app.state.clock = clock
    app.state.rate_limiter = KeyRateLimiter(settings.rate_limit, settings.rate_limit_storage)
    app.state.group_commit = GroupCommit(ingest, settings.group_commit_max)
    errors.install(app)
    app.add_middleware(BodyLimit, limit_for=body_limits(settings.max_body_bytes,
                                                        settings.max_bulk_body_bytes))
    app.add_middleware(UnexpectedErrors)  # also answers the body limit's defects
    app.add_middleware(RequestContext)  # outermost: id, metrics, audit
    for router in API_ROUTERS:
        app.include_router(router, prefix="/api/v1")
    app.include_router(health_router(db))
    app.include_router(metrics_router())
    openapi_examples.install(app)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/console", create_console(db, clock), name="console")
    app.mount("/portal", create_portal(db, clock, dev_links=settings.portal_dev_links),
              name="portal")

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/docs")

    app.get("/docs", include_in_schema=False)(docs_page)

    return app
