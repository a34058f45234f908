"""Small builders for earn-rule tests: documents, events, members and usage over time."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from patron.program.context import (
    EventContext,
    MemberContext,
    MemberProfile,
    PeriodUsage,
    UsageSnapshot,
    period_bounds,
)
from patron.program.document import PERIODS, ProgramDocument
from patron.program.engine import Evaluation, evaluate
from patron.program.validate import format_problems, validate_document, validate_file

# Friday 14 March 2025, 11:00 in New York (the demo program's timezone).
T0 = datetime(2025, 3, 14, 15, 0, tzinfo=timezone.utc)
DEMO = Path(__file__).parents[2] / "src/patron/program/examples/demo_coffee.yaml"


def demo() -> ProgramDocument:
    document, problems = validate_file(DEMO)
    assert document is not None, format_problems(problems)
    return document


def program(*rules: dict[str, Any], event_types: list[dict[str, Any]] | None = None,
            **settings: Any) -> ProgramDocument:
    data: dict[str, Any] = {
        "name": "Test program",
        "settings": {"currency": "USD", "timezone": "America/New_York", **settings},
        "earn_rules": list(rules),
    }
    if event_types:
        data["event_types"] = event_types
    document, problems = validate_document(data)
    assert document is not None, format_problems(problems)
    return document


def rule(rule_id: str, on: str = "purchase", **fields: Any) -> dict[str, Any]:
    fields.setdefault("points", {"fixed": 10})
    return {"id": rule_id, "name": fields.pop("name", rule_id.replace("_", " ").title()),
            "on": on, **fields}


def line(sku: str, amount: int, category: str = "drinks", quantity: int = 1) -> dict[str, Any]:
    return {"sku": sku, "category": category, "quantity": quantity, "amount": amount}


def purchase(*lines: dict[str, Any], total: int | None = None, at: datetime = T0,
             order_id: str = "order-1", channel: str = "web") -> EventContext:
    lines = lines or (line("LATTE", 500),)
    data = {"order_id": order_id, "currency": "USD", "lines": list(lines),
            "total": sum(item["amount"] for item in lines) if total is None else total}
    return EventContext("purchase", at, data, channel, f"evt-{order_id}")


def event(event_type: str, at: datetime = T0, **data: Any) -> EventContext:
    return EventContext(event_type, at, data, "app", f"evt-{event_type}-{at.isoformat()}")


def member(purchases: int = 0, birthdate: date | None = None, tier: str | None = None,
           **profile: Any) -> MemberContext:
    return MemberContext("m-1", MemberProfile(birthdate=birthdate, **profile), tier,
                         {"purchase": purchases})


def earn(document: ProgramDocument, evt: EventContext, who: MemberContext | None = None,
         usage: Any = None) -> Evaluation:
    return evaluate(document, 1, evt, who or member(), usage or UsageSnapshot(),
                    now=evt.occurred_at)


def by_rule(evaluation: Evaluation) -> dict[str, int]:
    return {total.rule_id: total.points for total in evaluation.totals}


class History:
    """A member's past awards, answering the engine's usage questions like the ledger would."""

    def __init__(self, document: ProgramDocument) -> None:
        self.document = document
        self.awards: list[tuple[datetime, str, int]] = []

    def usage_for(self, at: datetime) -> UsageSnapshot:
        zone = self.document.settings.zone
        member: dict[tuple[str, str], PeriodUsage] = {}
        for period in PERIODS:
            start, end = period_bounds(period, at, zone)
            for rule_id in {rule_id for _, rule_id, _ in self.awards}:
                hits = [p for t, r, p in self.awards if r == rule_id
                        and (start is None or t >= start) and (end is None or t < end)]
                member[(rule_id, period)] = PeriodUsage(sum(hits), len(hits))
        budget: dict[str, int] = {}
        for _, rule_id, points in self.awards:
            budget[rule_id] = budget.get(rule_id, 0) + points
        return UsageSnapshot(member, budget)

    def earn(self, evt: EventContext, who: MemberContext | None = None) -> Evaluation:
        evaluation = earn(self.document, evt, who, self.usage_for(evt.occurred_at))
        for total in evaluation.totals:
            self.awards.append((evt.occurred_at, total.rule_id, total.points))
        return evaluation

    def earn_all(self, events: Iterable[EventContext]) -> list[Evaluation]:
        return [self.earn(evt) for evt in events]
