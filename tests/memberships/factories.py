"""A program with membership plans, and shortcuts to drive it."""

from __future__ import annotations

from typing import Any

from patron.ledger.service import balance
from patron.flows.enrolment import create_member
from patron.memberships import jobs, service
from patron.memberships.schemas import MembershipCreate, PaymentIn
from patron.program.service import get_program
from patron.program.versions import publish
from patron.program.document import ProgramDocument
from tests.conftest import make_program
from tests.factories import member_create

SETTINGS = {"currency": "USD", "timezone": "UTC", "pending_days": 0, "expiry": {"days": None}}
PLANS = [
    {"id": "plus", "name": "Plus", "price": 4900, "period_months": 12, "grace_days": 14,
     "benefits": {"welcome_bonus": 500, "earn_multiplier": "2", "perks": ["free delivery"]}},
    {"id": "monthly", "name": "Monthly", "price": 500, "period_months": 1, "grace_days": 7},
    {"id": "free", "name": "Friends", "price": 0, "period_months": 1, "grace_days": 0},
]


def club_document(plans: list[dict[str, Any]] | None = None) -> ProgramDocument:
    return ProgramDocument.model_validate({"name": "Club", "settings": SETTINGS,
                                           "memberships": PLANS if plans is None else plans})


class Club:
    """A program whose current document offers ``PLANS``."""

    def __init__(self, db, clock, plans: list[dict[str, Any]] | None = None) -> None:
        self.db, self.clock = db, clock
        program = make_program(db, clock, **SETTINGS)
        self.program = self.publish(program, plans)
        self.payments = 0

    def publish(self, program, plans=None):
        self.db.transact(lambda conn: publish(conn, program, club_document(plans),
                                              actor="test", now=self.clock.now()))
        return self.db.read(lambda conn: get_program(conn, program.id))

    def member(self) -> int:
        return self.db.transact(lambda conn: create_member(
            conn, self.program, member_create(), self.clock.now())).id

    def payment(self, amount: int = 4900, reference: str | None = None) -> PaymentIn:
        self.payments += 1
        return PaymentIn(reference=reference or f"pay-{self.program.id}-{self.payments}",
                         amount=amount)

    def subscribe(self, member_id: int, plan_id: str = "plus", paid: bool = True):
        payload = MembershipCreate(plan_id=plan_id, payment=self.payment(
            next((p["price"] for p in PLANS if p["id"] == plan_id), 100)) if paid else None)
        return self.db.transact(lambda conn: service.subscribe(
            conn, self.program, member_id, payload, actor="test", now=self.clock.now()))

    def renew(self, membership_id: int, payment: PaymentIn | None = None):
        payment = payment or self.payment()
        return self.db.transact(lambda conn: service.renew(
            conn, self.program, membership_id, payment, actor="test", now=self.clock.now()))

    def cancel(self, membership_id: int, reason: str | None = None):
        return self.db.transact(lambda conn: service.cancel(
            conn, self.program, membership_id, reason, actor="test", now=self.clock.now()))

    def get(self, membership_id: int):
        return self.db.read(lambda conn: service.get_membership(
            conn, self.program, membership_id, self.clock.now()))

    def sweep(self) -> dict[str, int]:
        return jobs.run(self.db, self.clock.now(), program_id=self.program.id)

    def points(self, member_id: int) -> int:
        return self.db.read(lambda conn: balance(conn, self.program, member_id)).available

    def plans_at(self, member_ids, at):
        return self.db.read(lambda conn: service.active_plans(conn, self.program.id,
                                                              member_ids, at))
