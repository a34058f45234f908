"""A 20-rule program and a synthetic event stream, to measure simulation speed.

Run: ``python -m tests.program.benchmark 200000`` (prints events per second).
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

from patron.program.context import MemberProfile
from patron.program.document import ProgramDocument
from patron.program.simulate import SimulationReport, Simulator
from patron.program.validate import format_problems, validate_document


def _r(rule_id: str, on: str, points: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": rule_id, "name": rule_id.replace("_", " ").title(), "on": on,
            "points": points, **extra}


RULES = [
    _r("base", "purchase", {"per_currency_unit": "1"}),
    _r("first", "purchase", {"fixed": 50}, when="member.purchase_count == 0"),
    _r("big", "purchase", {"fixed": 100}, min_spend=5000),
    _r("birthday", "purchase", {"multiplier": "2", "of": ["base"]},
       when="member.is_birthday_month"),
    _r("beans", "purchase", {"multiplier": "2", "of": ["base"]},
       lines={"categories": ["beans"]}, valid_from="2025-03-12", valid_until="2025-03-18"),
    _r("web", "purchase", {"fixed": 10}, when="event.channel == 'web' && event.data.total >= 2000"),
    _r("gold", "purchase", {"multiplier": "1.5"}, when="member.tier == 'gold'"),
    _r("weekend", "purchase", {"fixed": 5}, when="event.local.weekday >= 6"),
    _r("mugs", "purchase", {"fixed": 3}, scope="line", when="line.sku.startsWith('MUG')"),
    _r("sign_up", "sign_up", {"fixed": 100}, limits={"per_member": {"lifetime": {"awards": 1}}}),
    _r("review", "review", {"fixed": 20}, when="event.data.rating >= 3",
       limits={"per_member": {"month": {"awards": 5}}}),
    _r("photo", "review", {"fixed": 10}, when="event.data.has_photo"),
    _r("check_in", "check_in", {"fixed": 5}, limits={"per_member": {"day": {"awards": 1}}}),
    _r("eco", "eco_action", {"fixed": 10}, limits={"per_member": {"day": {"points": 20}}}),
    _r("share", "social_share", {"fixed": 5}, limits={"per_member": {"week": {"awards": 3}}}),
    _r("profile", "profile_completed", {"fixed": 50}),
    _r("referral", "referral", {"fixed": 200}, limits={"budget": 100_000}),
    _r("campaign", "campaign_participation", {"fixed": 25}),
    _r("eu", "purchase", {"fixed": 2}, when="member.profile.region == 'EU'",
       limits={"per_event": 2, "per_member": {"week": {"points": 10}}}),
    _r("pastry", "purchase", {"fixed": 15}, limits={"budget": 500_000},
       when="event.data.lines.exists(l, l.category == 'pastry')"),
]


def twenty_rule_program() -> ProgramDocument:
    document, problems = validate_document({
        "name": "Benchmark", "settings": {"currency": "USD", "timezone": "America/New_York"},
        "earn_rules": RULES})
    assert document is not None, format_problems(problems)
    return document


def profiles(members: int, seed: int = 2) -> dict[str, MemberProfile]:
    rnd = random.Random(seed)
    return {f"id:{m}": MemberProfile(birthdate=date(1990, rnd.randint(1, 12), 1),
                                     region=rnd.choice(["EU", "US"])) for m in range(members)}


def events(count: int, members: int = 50_000, seed: int = 1) -> Iterator[dict[str, Any]]:
    """Half purchases (1-3 lines), the rest behaviour events and some returns."""
    rnd = random.Random(seed)
    at = datetime(2025, 3, 1, tzinfo=timezone.utc)
    kinds = ["purchase"] * 6 + ["review", "check_in", "eco_action", "sign_up", "social_share",
                                "return"]
    open_orders: dict[int, dict[str, Any]] = {}
    for i in range(count):
        at += timedelta(seconds=rnd.randint(1, 20))
        who, kind = rnd.randrange(members), rnd.choice(kinds)
        data: dict[str, Any] = {}
        if kind == "purchase":
            data = _order(rnd, f"o{i}")
            open_orders[who] = data
        elif kind == "return" and who in open_orders:
            data = {"order_id": open_orders.pop(who)["order_id"],
                    "lines": [{"line_index": 0, "quantity": 1}]}
        elif kind == "return":
            kind, data = "check_in", {"location_id": "s1"}
        elif kind == "review":
            data = {"rating": rnd.randint(1, 5), "has_photo": rnd.random() < 0.3}
        yield {"id": f"e{i}", "type": kind, "member": {"id": who}, "occurred_at": at.isoformat(),
               "channel": rnd.choice(["web", "pos", "app"]), "data": data}


def _order(rnd: random.Random, order_id: str) -> dict[str, Any]:
    categories = rnd.sample(["beans", "drinks", "pastry", "gear"], rnd.randint(1, 3))
    lines = [{"sku": f"{'MUG' if c == 'gear' else 'SKU'}-{rnd.randint(1, 50)}", "category": c,
              "quantity": rnd.randint(1, 3), "amount": rnd.randint(100, 4000)}
             for c in categories]
    return {"order_id": order_id, "currency": "USD", "lines": lines,
            "total": sum(item["amount"] for item in lines)}


def measure(count: int) -> tuple[SimulationReport, float, float]:
    """The report, events per CPU second (what the code costs, whatever else runs on
    the machine) and events per wall-clock second."""
    stream = list(events(count))
    simulator = Simulator(twenty_rule_program(), profiles=profiles(50_000))
    cpu, wall = time.process_time(), time.perf_counter()
    report = simulator.run(stream)
    return report, count / (time.process_time() - cpu), count / (time.perf_counter() - wall)


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    result, per_cpu_second, per_second = measure(n)
    print(f"{n:,} events: {per_cpu_second:,.0f} events per CPU second, {per_second:,.0f} "
          f"events/s wall clock; points issued {result.points_issued:,}, members "
          f"{result.members_seen:,}, skipped {result.events_skipped}")
