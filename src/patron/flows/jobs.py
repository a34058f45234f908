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
  holdout, and new treatment members get the campaign's coupons.

The features job (``run_features``: member features, rule tags, dynamic
segments) is heavier and runs on its own, slower schedule.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from patron.campaigns import jobs as campaign_jobs
from patron.config import get_settings
from patron.db import Database
from patron.ledger import jobs as ledger_jobs
from patron.flows.member_status import forfeit_settled
from patron.flows.referral_payouts import pay_all
from patron.memberships import jobs as membership_jobs
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
    return results


def run_features(db: Database, now: datetime) -> dict[str, dict[str, Any]]:
    """Every program's features, rule tags and dynamic segments, refreshed."""
    return {"features": segment_jobs.run_all(db, now)}
