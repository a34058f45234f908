"""A program with a campaign, its members and a segment, for the campaign tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from patron.campaigns.tables import campaign_members
from patron.events.schemas import EventIn
from patron.flows.enrolment import create_member
from patron.flows.ingest import ingest
from patron.program.document import ProgramDocument
from patron.program.service import get_program
from patron.program.versions import publish
from patron.segments.tables import segment_members, segments
from tests.conftest import make_program
from tests.factories import member_create

SETTINGS = {"currency": "USD", "timezone": "UTC", "pending_days": 0, "expiry": {"days": None},
            "point_value_minor": "0.5"}
BASE = {"id": "base", "name": "1 point per $1", "on": "purchase",
        "points": {"per_currency_unit": "1"}}
CHECK_IN = {"id": "check-in", "name": "Check-in", "on": "check_in", "points": {"fixed": 1}}
COUPONS = [{"id": "ten-off", "name": "$10 off", "discount": {"amount": 1000}},
           {"id": "pct", "name": "15% off", "discount": {"percent": 15}}]


def campaign(**fields: Any) -> dict[str, Any]:
    return {"id": "spring", "name": "Spring double points", "starts": "2026-03-01",
            "ends": "2026-03-31", "holdout": "0.2",
            "earn_rules": [{"id": "spring-x2", "name": "Spring ×2", "on": "purchase",
                            "points": {"multiplier": 2}}], **fields}


class Shop:
    def __init__(self, db, clock, *campaigns: dict[str, Any], rules=(BASE,)) -> None:
        self.db, self.clock, self.n = db, clock, 0
        self.rules = list(rules)
        self.program = make_program(db, clock, **SETTINGS)
        self.publish(*campaigns)

    def publish(self, *campaigns: dict[str, Any]) -> None:
        document = ProgramDocument.model_validate(
            {"name": "Shop", "settings": SETTINGS, "earn_rules": self.rules,
             "coupons": COUPONS, "campaigns": list(campaigns),
             "rewards": [{"id": "welcome", "name": "Welcome coupon", "type": "coupon",
                          "cost_points": 500, "coupon_type": "ten-off"}]})
        program = self.program
        self.db.transact(lambda conn: publish(conn, program, document, actor="test",
                                              now=self.clock.now()))
        self.program = self.db.read(lambda conn: get_program(conn, program.id))

    def members(self, count: int) -> list[int]:
        return [self.db.transact(lambda conn: create_member(
            conn, self.program, member_create(), self.clock.now())).id for _ in range(count)]

    def segment(self, key: str, member_ids: list[int]) -> None:
        now = self.clock.now()

        def write(conn):
            sid = conn.execute(insert(segments).values(
                program_id=self.program.id, key=key, name=key, kind="static", active=True,
                created_by="test", created_at=now, updated_at=now).returning(segments.c.id)
            ).scalar_one()
            for member_id in member_ids:
                conn.execute(insert(segment_members).values(segment_id=sid, member_id=member_id,
                                                            entered_at=now))
        self.db.transact(write)

    def groups(self, campaign_id: str = "spring") -> dict[int, str]:
        return dict(self.db.read(lambda conn: conn.execute(
            select(campaign_members.c.member_id, campaign_members.c.group).where(
                campaign_members.c.program_id == self.program.id,
                campaign_members.c.campaign_id == campaign_id)).all()))

    def purchase(self, member_id: int, total: int, at: datetime | None = None):
        self.n += 1
        event = EventIn.model_validate({
            "id": f"e-{self.program.id}-{self.n}", "type": "purchase",
            "member": {"id": member_id}, "occurred_at": (at or self.clock.now()).isoformat(),
            "data": {"order_id": f"o-{self.n}", "currency": "USD", "total": total}})
        return self.db.transact(lambda conn: ingest(conn, self.program, [event],
                                                    now=self.clock.now(), actor="test"))[0]
