"""Is the campaign lift interval honest? Synthetic campaigns with a known +8% on spend.

Part 1, the estimator (pure): members with gamma-distributed purchase rates, a share
who never buy, and lognormal baskets (``patron.campaigns.lift_simulation``); groups by
the shared bucket rule; treatment baskets × 1.08, so the true difference in mean
spend per member is 0.08 × expected spend, known exactly. 200 campaigns are drawn and
each is estimated by ``patron.campaigns.stats.welch_lift``. Printed: how often the 95%
interval covered the true difference (it should be 93–97%), the mean estimate's bias
as a share of the true difference with its Monte Carlo error, and the estimator's time
beside scipy's ``ttest_ind(equal_var=False).confidence_interval`` on the same data
(which also checks the intervals agree).

Part 2, end to end: a program with a campaign published through the normal publish
path, members enrolled, their purchases sent through ``ingest``, ``campaign_members``
written by the bucket rule, then ``campaign_results`` as the API runs it. Printed: the
figures and the time, beside a raw baseline (pandas ``read_sql`` of the orders and
``scipy.stats.ttest_ind``) and the ratio.

    .venv/bin/python benchmarks/campaign_lift.py                     # 200k members
    .venv/bin/python benchmarks/campaign_lift.py --members 20000 --e2e-members 500
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from benchmarks._common import pg_server_default, scratch_database  # noqa: E402
from patron.campaigns.lift_simulation import Shoppers, in_holdout, moments, repeat  # noqa: E402
from patron.campaigns.results import campaign_results  # noqa: E402
from patron.campaigns.stats import welch_lift  # noqa: E402
from patron.campaigns.tables import campaign_members  # noqa: E402
from patron.db import create_database, migrate  # noqa: E402
from patron.events.schemas import EventIn  # noqa: E402
from patron.flows.enrolment import create_member  # noqa: E402
from patron.flows.ingest import ingest  # noqa: E402
from patron.members.schemas import MemberCreate  # noqa: E402
from patron.program.document import ProgramDocument  # noqa: E402
from patron.program.domain import ProgramSettings  # noqa: E402
from patron.program.service import create_program, get_program  # noqa: E402
from patron.program.versions import publish  # noqa: E402

LIFT = 0.08
START = datetime(2026, 3, 1, tzinfo=UTC)
NOW = datetime(2026, 4, 15, tzinfo=UTC)


def coverage(members: int, repetitions: int, holdout: Decimal, seed: int) -> None:
    began = time.perf_counter()
    result = repeat(members=members, repetitions=repetitions, lift=LIFT, holdout=holdout,
                    seed=seed)
    low, high = scipy_stats.binomtest(result.covered, repetitions).proportion_ci(0.95)
    print(f"estimator: {repetitions} campaigns of {members:,} members, holdout {holdout}, "
          f"true +{LIFT:.0%} on spend ({time.perf_counter() - began:.1f} s)")
    print(f"  true difference     {result.true_difference:10.2f} minor units per member")
    print(f"  mean estimate       {result.mean_difference:10.2f}")
    print(f"  coverage of 95% CI  {result.coverage:10.1%}   (binomial 95% CI "
          f"{low:.1%}–{high:.1%}; aim 93–97%)")
    print(f"  bias                {result.bias:+10.2%}   of the true difference "
          f"(Monte Carlo error ±{result.bias_standard_error:.2%}; aim within 1%)")


def estimator_speed(members: int, holdout: Decimal, seed: int) -> None:
    rng = np.random.default_rng(seed)
    held = in_holdout(1, "spring", np.arange(1, members + 1), holdout)
    spend = Shoppers().spend(rng, np.where(held, 1.0, 1.0 + LIFT))
    t, h = spend[~held], spend[held]
    began = time.perf_counter()
    ours = welch_lift(moments(t), moments(h))
    patron_s = time.perf_counter() - began
    began = time.perf_counter()
    ci = scipy_stats.ttest_ind(t, h, equal_var=False).confidence_interval(0.95)
    raw_s = time.perf_counter() - began
    agree = math.isclose(ours.low, ci.low, rel_tol=1e-9) and math.isclose(
        ours.high, ci.high, rel_tol=1e-9)
    print(f"  one estimate on {members:,} members: Patron {patron_s * 1000:.1f} ms, scipy "
          f"ttest_ind {raw_s * 1000:.1f} ms, ratio {patron_s / raw_s:.2f}; intervals agree: "
          f"{agree}")


def _document() -> ProgramDocument:
    return ProgramDocument.model_validate({
        "name": "Lift shop", "settings": {"pending_days": 0, "expiry": {"days": None}},
        "earn_rules": [{"id": "base", "name": "A point a dollar", "on": "purchase",
                        "points": {"per_currency_unit": "1"}}],
        "campaigns": [{"id": "spring", "name": "Spring", "starts": "2026-03-01",
                       "ends": "2026-03-28", "attribution_days": 0, "holdout": "0.5"}]})


def _load(db, members: int, seed: int) -> tuple[object, list[int]]:
    program = db.transact(lambda conn: create_program(
        conn, slug="lift", name="Lift shop", settings=ProgramSettings(), now=START))
    db.transact(lambda conn: publish(conn, program, _document(), actor="bench", now=START))
    program = db.read(lambda conn: get_program(conn, program.id))
    ids = [db.transact(lambda conn: create_member(conn, program, MemberCreate.model_validate(
        {"identities": [{"type": "external_id", "value": f"m-{n}"}]}), START - timedelta(days=30))).id
        for n in range(members)]
    held = in_holdout(program.id, "spring", np.array(ids), Decimal("0.5"))
    rng = np.random.default_rng(seed)
    counts, baskets = Shoppers().purchases(rng, np.where(held, 1.0, 1.0 + LIFT))
    owners = np.repeat(np.array(ids), counts)
    days = rng.uniform(0, 27.9, len(baskets))
    events = [EventIn.model_validate({
        "id": f"e-{n}", "type": "purchase", "member": {"id": int(owner)},
        "occurred_at": (START + timedelta(days=float(day))).isoformat(),
        "data": {"order_id": f"o-{n}", "currency": "USD", "total": int(cents),
                 "lines": [{"sku": "SKU", "quantity": 1, "amount": int(cents)}]}})
        for n, (owner, day, cents) in enumerate(zip(owners, days, baskets))]
    for at in range(0, len(events), 1000):
        db.transact(lambda conn: ingest(conn, program, events[at:at + 1000], now=NOW,
                                        actor="bench"))
    db.transact(lambda conn: conn.execute(insert(campaign_members), [
        {"program_id": program.id, "campaign_id": "spring", "member_id": m,
         "group": "holdout" if h else "treatment", "bucket": 0, "assigned_at": START}
        for m, h in zip(ids, held)]))
    return program, ids


def end_to_end(members: int, seed: int) -> None:
    with scratch_database("sqlite", pg_server_default()) as scratch:
        db = create_database(scratch.url)
        migrate.upgrade(db)
        began = time.perf_counter()
        program, ids = _load(db, members, seed)
        print(f"end to end (SQLite): {members:,} members enrolled and their purchases "
              f"ingested in {time.perf_counter() - began:.1f} s")
        began = time.perf_counter()
        r = db.read(lambda conn: campaign_results(conn, program, "spring", NOW))
        patron_s = time.perf_counter() - began
        began = time.perf_counter()
        raw = _raw(db, program.id)
        raw_s = time.perf_counter() - began
        s = r.spend_lift
        print(f"  treatment {r.treatment.members} members, {r.treatment.spend_per_member} per "
              f"member; holdout {r.holdout.members}, {r.holdout.spend_per_member}")
        print(f"  spend lift {s.difference:.1f} [{s.low:.1f}, {s.high:.1f}], relative "
              f"{s.relative:+.2%} [{s.relative_low:+.2%}, {s.relative_high:+.2%}]; raw "
              f"baseline {raw[0]:.1f} [{raw[1]:.1f}, {raw[2]:.1f}]")
        print(f"  incremental revenue {r.incremental_revenue}, cost {r.cost}, ROI {r.roi}")
        print(f"  campaign_results {patron_s * 1000:.0f} ms; raw pandas + scipy "
              f"{raw_s * 1000:.0f} ms; ratio {patron_s / raw_s:.2f}")


def _raw(db, program_id: int) -> tuple[float, float, float]:
    with db.engine.connect() as conn:
        frame = pd.read_sql(
            "SELECT cm.member_id, cm.\"group\", COALESCE(SUM(o.total), 0) AS spend "
            "FROM campaign_members cm LEFT JOIN orders o ON o.member_id = cm.member_id "
            f"WHERE cm.program_id = {program_id} GROUP BY cm.member_id, cm.\"group\"", conn)
    t = frame.loc[frame.group == "treatment", "spend"].to_numpy(float)
    h = frame.loc[frame.group == "holdout", "spend"].to_numpy(float)
    ci = scipy_stats.ttest_ind(t, h, equal_var=False).confidence_interval(0.95)
    return float(t.mean() - h.mean()), float(ci.low), float(ci.high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--repetitions", type=int, default=200)
    parser.add_argument("--holdout", type=Decimal, default=Decimal("0.5"))
    parser.add_argument("--e2e-members", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    coverage(args.members, args.repetitions, args.holdout, args.seed)
    estimator_speed(args.members, args.holdout, args.seed)
    if args.e2e_members:
        end_to_end(args.e2e_members, args.seed)


if __name__ == "__main__":
    main()
