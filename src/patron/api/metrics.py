"""Prometheus metrics at ``GET /metrics``.

Counted as they happen: HTTP requests (method, route template, status) and their
latency, events through ingest (type, outcome), scheduled job runs (job, outcome).
Read from the database at scrape time: merge candidates waiting for a decision, webhook
messages waiting in the outbox or dead, and on PostgreSQL the worker's jobs per queue and
status (``todo`` is the queue's depth). Webhook deliveries and failures are counted where
they happen (``patron.webhooks.delivery``).

Several ``patron serve --workers N`` processes each count their own requests. Set
``PROMETHEUS_MULTIPROC_DIR`` to an empty, writable directory before starting the
server: each worker then writes its counts there and a scrape of any worker sums them
all (prometheus-client's multiprocess mode; ``patron serve`` empties the directory on
start). Without it, a scrape shows the one process that answers it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter,
                               Histogram, generate_latest)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from patron.db import Database
from patron.members.tables import merge_candidates
from patron.program.tables import programs
from patron.worker.queue import queue_depth
from patron.webhooks import repository as webhooks

log = logging.getLogger("patron")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

HTTP_REQUESTS = Counter("patron_http_requests", "HTTP requests answered",
                        ["method", "route", "status"])
HTTP_LATENCY = Histogram("patron_http_request_duration_seconds",
                         "Time from a request's arrival to the end of its answer",
                         ["method", "route"])
EVENTS_INGESTED = Counter("patron_events_ingested", "Events sent to ingest, by outcome",
                          ["type", "outcome"])
EVENT_GROUPS = Histogram("patron_event_group_size",
                         "Single events written together in one transaction (group commit)",
                         buckets=(1, 2, 4, 8, 16, 32, 64, 128))
JOB_RUNS = Counter("patron_scheduled_job_runs", "Scheduled jobs run by the server in-process",
                   ["job", "outcome"])

_OUTCOMES = {"processed": "accepted", "duplicate": "duplicate", "rejected": "rejected"}


def count_ingested(outcomes: Iterable[object]) -> None:
    """Count each event's outcome (``accepted``, ``duplicate``, ``rejected``) by type."""
    for outcome in outcomes:
        status = getattr(outcome, "status", "rejected")
        EVENTS_INGESTED.labels(type=getattr(outcome, "type", None) or "unknown",
                               outcome=_OUTCOMES.get(status, status)).inc()


class QueueCollector(Collector):
    """Merge candidates pending per program, webhook messages pending or dead per program,
    and the worker's jobs per queue and status, read with one grouped count each per
    scrape."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily("patron_merge_candidates_pending",
                                  "Merge candidates waiting for a person's decision",
                                  labels=["program"])
        query = (select(programs.c.slug, func.count(merge_candidates.c.id))
                 .join(merge_candidates, merge_candidates.c.program_id == programs.c.id)
                 .where(merge_candidates.c.state == "pending").group_by(programs.c.slug))
        try:
            for slug, count in self.db.read(lambda conn: conn.execute(query).all()):
                gauge.add_metric([slug], count)
        except Exception:  # a scrape still answers with the counters when the DB is down
            log.warning("metrics: could not read the merge queue", exc_info=True)
        yield gauge
        outbox = GaugeMetricFamily("patron_webhook_outbox_messages",
                                   "Webhook messages waiting to be delivered (pending) or "
                                   "given up on (dead)", labels=["program", "state"])
        try:
            for slug, state, count in self.db.read(webhooks.depth):
                outbox.add_metric([slug, state], count)
        except Exception:  # as above
            log.warning("metrics: could not read the webhook outbox", exc_info=True)
        yield outbox
        if self.db.is_sqlite:  # no job queue: the server runs the jobs in-process
            return
        jobs = GaugeMetricFamily("patron_queue_jobs", "Jobs in the worker's queue (PostgreSQL), "
                                 "by queue and status", labels=["queue", "status"])
        try:
            for queue, status, count in self.db.read(queue_depth):
                jobs.add_metric([queue, status], count)
        except Exception:
            log.warning("metrics: could not read the job queue", exc_info=True)
        yield jobs


def multiprocess_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


def clear_multiprocess_dir() -> None:
    """Start a server's run with no counts left from an earlier one."""
    folder = multiprocess_dir()
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()


def metrics_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        """Prometheus text format: counts from every worker, queue depths from the DB."""
        if multiprocess_dir() is not None:
            counted = CollectorRegistry()
            MultiProcessCollector(counted)
        else:
            counted = REGISTRY
        live = CollectorRegistry(auto_describe=False)
        live.register(QueueCollector(request.app.state.db))
        body = generate_latest(counted) + generate_latest(live)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router
