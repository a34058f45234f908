"""Builders for engagement tests: documents with badges, challenges and streaks, a pure
member whose events run through ``engage``, and a shop that ingests them for real."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from patron.events.schemas import EventIn
from patron.flows.enrolment import create_member
from patron.flows.ingest import ingest
from patron.program.context import EventContext, MemberContext, parse_purchase
from patron.program.document import ProgramDocument
from patron.program.engagement import ChallengeBudget
from patron.program.engagement_engine import Engaged, MemberState, engage, fits
from patron.program.engagement_plan import engagement_plan
from patron.program.service import get_program
from patron.program.validate import format_problems, validate_document
from patron.program.versions import publish
from tests.conftest import make_program
from tests.factories import member_create

SETTINGS = {"currency": "USD", "timezone": "Europe/Paris", "pending_days": 0,
            "expiry": {"days": None}, "points_name": "Beans", "point_value_minor": "0.5"}
COUPONS = [{"id": "five-off", "name": "$5 off", "discount": {"amount": 500}},
           {"id": "pct", "name": "10% off", "discount": {"percent": 10}}]
_ids = itertools.count(1)


def document(**sections: Any) -> ProgramDocument:
    data = {"name": "Engaging", "settings": {**SETTINGS, **sections.pop("settings", {})},
            "earn_rules": sections.pop("earn_rules", []), "coupons": COUPONS, **sections}
    found, problems = validate_document(data)
    assert found is not None, format_problems(problems)
    return found


def challenge(**fields: Any) -> dict[str, Any]:
    return {"id": "may-visits", "name": "May visits", "starts": "2026-05-01",
            "ends": "2026-05-31", "on": ["purchase"],
            "goal": {"measure": "count", "target": 3, "unit": "visits"},
            "reward": {"points": 200}, **fields}


def streak(**fields: Any) -> dict[str, Any]:
    return {"id": "weekly", "name": "Weekly coffee", "period": "week",
            "on": ["purchase", "social_share", "eco_action"], **fields}


def event(at: datetime, kind: str = "purchase", channel: str = "pos",
          **data: Any) -> EventContext:
    if kind == "purchase":
        data = {"order_id": f"o-{next(_ids)}", "currency": "USD", "total": 1000, **data}
    return EventContext(kind, at, data, channel, f"e-{next(_ids)}")


class Budget:
    """An in-memory budget, as the simulator keeps one."""

    def __init__(self) -> None:
        self.used: dict[str, tuple[int, int]] = {}

    def take(self, challenge_id: str, cost: tuple[int, int], budget: ChallengeBudget) -> bool:
        used = self.used.get(challenge_id, (0, 0))
        if not fits(budget, used, cost):
            return False
        self.used[challenge_id] = (used[0] + cost[0], used[1] + cost[1])
        return True


class Member:
    """One member's events through ``engage``, counts kept as ingest keeps them."""

    def __init__(self, doc: ProgramDocument, held_out: frozenset[str] = frozenset(),
                 budget: Budget | None = None) -> None:
        self.plan = engagement_plan(doc)
        self.state: MemberState = {}
        self.counts: dict[str, int] = {}
        self.held_out = held_out
        self.budget = budget or Budget()

    def send(self, e: EventContext) -> Engaged:
        self.counts[e.type] = self.counts.get(e.type, 0) + 1  # the member after the event
        type_plan = self.plan.plan(e.type)
        assert type_plan is not None
        purchase = parse_purchase(e.data, "USD") if e.type == "purchase" else None
        return engage(self.plan, type_plan, e, MemberContext("1", counts=self.counts),
                      self.state, purchase, held_out=lambda c: c in self.held_out,
                      budgets=self.budget)

    def texts(self, e: EventContext) -> list[str]:
        return [m.text for m in self.send(e).moved]


class Shop:
    """A program with engagement sections, its members, and events ingested for real."""

    def __init__(self, db, clock, **sections: Any) -> None:
        self.db, self.clock = db, clock
        self.program = make_program(db, clock, **{k: v for k, v in SETTINGS.items()
                                                  if k != "point_value_minor"})
        self.publish(**sections)

    def publish(self, **sections: Any) -> None:
        doc = document(**sections)
        program = self.program
        self.db.transact(lambda conn: publish(conn, program, doc, actor="test",
                                              now=self.clock.now()))
        self.program = self.db.read(lambda conn: get_program(conn, program.id))

    def member(self) -> int:
        return self.db.transact(lambda conn: create_member(
            conn, self.program, member_create(), self.clock.now())).id

    def event_in(self, member_id: int, at: datetime | None = None, kind: str = "purchase",
                 event_id: str | None = None, **data: Any) -> EventIn:
        n = next(_ids)
        if kind == "purchase":
            data = {"order_id": f"o-{self.program.id}-{n}", "currency": "USD", "total": 1000,
                    **data}
        return EventIn.model_validate({
            "id": event_id or f"e-{self.program.id}-{n}", "type": kind,
            "member": {"id": member_id}, "occurred_at": (at or self.clock.now()).isoformat(),
            "data": data})

    def send(self, *events: EventIn):
        return self.db.transact(lambda conn: ingest(conn, self.program, list(events),
                                                    now=self.clock.now(), actor="test"))
