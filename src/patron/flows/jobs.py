"""Every scheduled sweep in one place, run by ``patron jobs run`` and by the server.

Each sweep is idempotent (running it twice at the same time changes nothing)
and works in small transactions, so it can run beside live traffic:

- ``release``: pending points past their return window become available;
- ``cashback_release``: cashback held through the return window becomes
  spendable in the wallet;
- ``expire``: lots past their expiry date expire;
- ``tiers``: members whose secured tier period ended (after grace) are
  reviewed, and manual tiers past their end date end;
- ``memberships``: paid memberships move on at the end of their paid period;
- ``referrals``: qualified referrals past the return window pay (or are voided
  when the qualifying order was returned);
- ``closures``: points of closed members that settled after the closure are forfeited;
- ``campaigns``: new target members of running campaigns are assigned to treatment or
  holdout, and new treatment members get the campaign's coupons.

The features job (``run_features``: member features, rule tags, dynamic
segments, then recommendations trained and the segments built from them filled
again) is heavier and runs on its own, slower schedule.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from patron.campaigns import jobs as campaign_jobs
from patron.db import Database
from patron.ledger import jobs as ledger_jobs
from patron.flows import likely_segments
from patron.flows.member_status import forfeit_settled
from patron.flows.referral_payouts import pay_all
from patron.memberships import jobs as membership_jobs
from patron.recommendations import jobs as recommendation_jobs
from patron.segments import jobs as segment_jobs
from patron.tiers.service import review_all
from patron.wallet import jobs as wallet_jobs


def run_all(db: Database, now: datetime) -> dict[str, dict[str, Any]]:
    results = {name: asdict(result) for name, result in ledger_jobs.run_all(db, now).items()}
    results["cashback_release"] = asdict(wallet_jobs.release_pending(db, now))
    reviewed, changes = review_all(db, now)
    results["tiers"] = {"reviewed": reviewed, "changes": changes}
    results["referrals"] = {"settled": pay_all(db, now)}
    results["closures"] = {"forfeited": forfeit_settled(db, now)}
    done = membership_jobs.run(db, now)
    results["memberships"] = done if isinstance(done, dict) else {"moved": done}
    results["campaigns"] = campaign_jobs.run(db, now)
    return results


def run_features(db: Database, now: datetime) -> dict[str, dict[str, Any]]:
    """Every program's features, rule tags and dynamic segments, refreshed; then its
    recommendations trained and the segments made from them filled again."""
    return {"features": segment_jobs.run_all(db, now),
            "recommendations": recommendation_jobs.run_all(db, now),
            "likely_segments": likely_segments.refresh_all(db, now)}
