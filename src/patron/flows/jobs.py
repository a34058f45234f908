"""Every scheduled sweep in one place, run by ``patron jobs run`` and by the server.

Each sweep is idempotent (running it twice at the same time changes nothing)
and works in small transactions, so it can run beside live traffic:

- ``release``: pending points past their return window become available;
- ``cashback_release``: cashback held through the return window becomes
  spendable in the wallet;
- ``expire``: lots past their expiry date expire;
- ``expiring``: points expiring within ``PATRON_EXPIRY_NOTICE_DAYS`` are announced
  (``hooks.PointsExpiringSoon``), once per member and expiry day;
- ``tiers``: members whose secured tier period ended (after grace) are
  reviewed, and manual tiers past their end date end;
- ``memberships``: paid memberships move on at the end of their paid period;
- ``referrals``: qualified referrals past the return window pay (or are voided
  when the qualifying order was returned);
- ``closures``: points of closed members that settled after the closure are forfeited;
- ``webhooks``: delivered webhook messages older than ``PATRON_WEBHOOK_RETENTION_DAYS``
  leave the outbox;
- ``campaigns``: campaigns that started are announced (``hooks.CampaignStarted``, once
  each); new target members of running campaigns are assigned to treatment or
  holdout, and new treatment members get the campaign's coupons;
- ``privacy``: the program document's retention (``privacy``): members closed long
  enough ago are erased, and old events' payloads keep only what rules read (after
  ``closures``, so a closed member's settled points are forfeited before).

The ``notifications`` job sends due notifications to members by e-mail
(``patron.notifications.sending``) on its own, shorter schedule.

The features job (``run_features``: member features, rule tags, dynamic
segments, then recommendations trained and the segments built from them filled
again) is heavier and runs on its own, slower schedule.

``SCHEDULED`` is the one list of work that runs on a schedule. ``patron worker`` turns
each entry into a queued task on its cron schedule (PostgreSQL, ``PATRON_JOBS=worker``);
the server runs each one in-process on its interval (the SQLite demo,
``PATRON_JOBS=inprocess``). More periodic work (webhook delivery, say) joins with one
more ``schedule(ScheduledJob(...))`` below and runs in both places.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any

from patron.campaigns import jobs as campaign_jobs
from patron.config import Settings, get_settings
from patron.db import Database
from patron.ledger import jobs as ledger_jobs
from patron.flows import likely_segments
from patron.flows.member_status import forfeit_settled
from patron.flows.privacy import retention
from patron.flows.referral_payouts import pay_all
from patron.memberships import jobs as membership_jobs
from patron.notifications.sending import send_due
from patron.recommendations import jobs as recommendation_jobs
from patron.segments import jobs as segment_jobs
from patron.tiers.service import review_all
from patron.wallet import jobs as wallet_jobs
from patron.webhooks import jobs as webhook_jobs


def run_all(db: Database, now: datetime) -> dict[str, dict[str, Any]]:
    results = {name: asdict(result) for name, result in ledger_jobs.run_all(db, now).items()}
    results["expiring"] = asdict(ledger_jobs.notice_expiring(
        db, now, get_settings().expiry_notice_days))
    results["cashback_release"] = asdict(wallet_jobs.release_pending(db, now))
    reviewed, changes = review_all(db, now)
    results["tiers"] = {"reviewed": reviewed, "changes": changes}
    results["referrals"] = {"settled": pay_all(db, now)}
    results["closures"] = {"forfeited": forfeit_settled(db, now)}
    done = membership_jobs.run(db, now)
    results["memberships"] = done if isinstance(done, dict) else {"moved": done}
    results["campaigns"] = campaign_jobs.run(db, now)
    results["webhooks"] = {"pruned": webhook_jobs.prune(db, now,
                                                        get_settings().webhook_retention_days)}
    results["privacy"] = retention.run(db, now)
    return results


def run_features(db: Database, now: datetime) -> dict[str, dict[str, Any]]:
    """Every program's features, rule tags and dynamic segments, refreshed; then its
    recommendations trained and the segments made from them filled again."""
    return {"features": segment_jobs.run_all(db, now),
            "recommendations": recommendation_jobs.run_all(db, now),
            "likely_segments": likely_segments.refresh_all(db, now)}


Pass = Callable[[Database, datetime], dict[str, dict[str, Any]]]
"""A scheduled pass: ``(db, now)`` to counts per step, e.g. ``{"release": {"points": 40}}``.
It must be idempotent (running it twice, or twice at once, changes nothing more) and work
in transactions of its own, so a retry after a failure is always safe."""

_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


@dataclass(frozen=True)
class ScheduledJob:
    """Work that runs on a schedule, wherever it runs."""

    name: str
    """Also the worker's task, queue and lock name (``patron worker --queues NAME``)."""
    run: Pass
    cron: Callable[[Settings], str]
    """When the worker queues it (a cron expression; empty: never)."""
    interval: Callable[[Settings], float]
    """Every how many seconds the server runs it in-process (0: never)."""
    description: str


SCHEDULED: dict[str, ScheduledJob] = {}
"""The registry of scheduled work, by name; add to it with ``schedule``."""


def schedule(job: ScheduledJob, registry: dict[str, ScheduledJob] = SCHEDULED) -> ScheduledJob:
    """Register ``job``: the worker queues it and the server's in-process runner runs it."""
    if not _NAME.fullmatch(job.name):
        raise ValueError(f"a scheduled job's name is 1-40 lowercase letters, digits and _ "
                         f"starting with a letter, not {job.name!r}")
    if job.name in registry:
        raise ValueError(f"a scheduled job named {job.name!r} is already registered")
    registry[job.name] = job
    return job


schedule(ScheduledJob(
    "sweeps", run_all, cron=attrgetter("sweeps_cron"),
    interval=attrgetter("jobs_interval_seconds"),
    description="release pending points and cashback, expire lots, review tiers, move "
                "memberships on, pay referrals, forfeit closures, assign campaign members"))
schedule(ScheduledJob(
    "features", run_features, cron=attrgetter("features_cron"),
    interval=attrgetter("features_interval_seconds"),
    description="member features, rule tags and dynamic segments"))
schedule(ScheduledJob(
    "notifications", send_due, cron=attrgetter("notify_cron"),
    interval=attrgetter("notify_interval_seconds"),
    description="e-mail due notifications to members (nothing while PATRON_SMTP_URL is empty)"))
