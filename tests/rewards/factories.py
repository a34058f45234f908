"""A program with a rewards catalog, and shortcuts to drive it."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from patron.ledger import repository as ledger_repository
from patron.ledger.service import adjust_points, balance
from patron.flows import redemption
from patron.flows.enrolment import create_member
from patron.program.service import get_program
from patron.program.versions import publish
from patron.rewards import service
from patron.rewards.repository import stock_row
from patron.program.document import ProgramDocument
from tests.conftest import make_program
from tests.factories import member_create

SETTINGS = {"currency": "USD", "timezone": "UTC", "pending_days": 0, "expiry": {"days": None}}
COUPONS = [{"id": "five_off", "name": "5 off", "discount": {"amount": 500}, "valid_days": 30}]
TIERS = {"metric": "tier_points", "levels": [
    {"id": "blue", "name": "Blue", "threshold": 0},
    {"id": "gold", "name": "Gold", "threshold": 1000,
     "benefits": {"rewards": ["lounge"]}}]}
PLANS = [{"id": "plus", "name": "Plus", "price": 4900, "period_months": 12,
          "benefits": {"rewards": ["plus-box"]}}]
REWARDS: list[dict[str, Any]] = [
    {"id": "coffee", "name": "Free coffee", "type": "coupon", "cost_points": 100,
     "coupon_type": "five_off"},
    {"id": "mug", "name": "Mug", "type": "gift", "cost_points": 300, "stock": 10},
    {"id": "tasting", "name": "Tasting evening", "type": "experience", "cost_points": 500,
     "stock": 2, "limit_per_member": {"period": "year", "count": 1}},
    {"id": "cash5", "name": "5 back", "type": "cashback", "cost_points": 250, "cashback": 500},
    {"id": "trees", "name": "Plant a tree", "type": "donation", "cost_points": 50,
     "cause": "Reforestation"},
]
_keys = itertools.count(1)


def document(rewards: list[dict[str, Any]] | None = None, *, settings: dict[str, Any] | None = None,
             **sections: Any) -> ProgramDocument:
    return ProgramDocument.model_validate({
        "name": "Store", "settings": {**SETTINGS, **(settings or {})}, "coupons": COUPONS,
        "rewards": REWARDS if rewards is None else rewards, **sections})


class Store:
    """A program whose current document offers ``rewards``."""

    def __init__(self, db, clock, rewards: list[dict[str, Any]] | None = None, *,
                 settings: dict[str, Any] | None = None, program: Any = None,
                 **sections: Any) -> None:
        self.db, self.clock = db, clock
        self.settings = {**SETTINGS, **(settings or {})}
        self.program = program or make_program(db, clock, **self.settings)
        self.publish(rewards, **sections)

    def publish(self, rewards: list[dict[str, Any]] | None = None, **sections: Any) -> None:
        doc = document(rewards, settings=self.settings, **sections)
        self.db.transact(lambda conn: publish(conn, self.program, doc, actor="test",
                                              now=self.clock.now()))
        self.program = self.db.read(lambda conn: get_program(conn, self.program.id))

    def member(self, points: int = 0, **profile: Any) -> int:
        payload = member_create(profile=profile) if profile else member_create()
        member_id = self.db.transact(lambda conn: create_member(
            conn, self.program, payload, self.clock.now())).id
        if points:
            self.give(member_id, points)
        return member_id

    def give(self, member_id: int, points: int) -> None:
        self.db.transact(lambda conn: adjust_points(
            conn, self.program, member_id, points=points, reason="opening balance",
            key=f"give-{next(_keys)}", actor="test", now=self.clock.now()))

    def redeem(self, member_id: int, reward_id: str, key: str | None = None):
        key = key or f"r-{next(_keys)}"
        return self.db.transact(lambda conn: redemption.redeem(
            conn, self.program, member_id, reward_id=reward_id, key=key, actor="test",
            now=self.clock.now()))[0]

    def cancel(self, redemption_id: int, reason: str | None = None):
        return self.db.transact(lambda conn: redemption.cancel(
            conn, self.program, redemption_id, reason=reason, actor="test",
            now=self.clock.now()))

    def catalog(self, member_id: int, everything: bool = False):
        return self.db.read(lambda conn: service.catalog(
            conn, self.program, member_id, self.clock.now(), everything=everything))

    def offer(self, member_id: int, reward_id: str):
        return next(o for o in self.catalog(member_id, everything=True).items
                    if o.id == reward_id)

    def points(self, member_id: int) -> int:
        return self.db.read(lambda conn: balance(conn, self.program, member_id)).available

    def stock(self, reward_id: str):

        return self.db.read(lambda conn: stock_row(conn, self.program.id, reward_id))

    def lots(self, member_id: int) -> dict[int, Any]:
        """The member's lots by id: (remaining, state, expires_at)."""
        from sqlalchemy import select

        from patron.ledger.tables import lots

        def read(conn):
            account = ledger_repository.accounts_by_member(conn, self.program.id,
                                                           [member_id])[member_id]
            return {r.id: (r.remaining, r.state, r.expires_at) for r in conn.execute(
                select(lots).where(lots.c.account_id == account.id).order_by(lots.c.id))}
        return self.db.read(read)

    def assert_exact(self, member_id: int):
        """available == Σ open lots == Σ posted entries, never below zero."""
        def check(conn):
            account = ledger_repository.accounts_by_member(conn, self.program.id,
                                                           [member_id])[member_id]
            totals = ledger_repository.ledger_totals(conn, account.id)
            assert account.available == totals["available"] == totals["open_lots"] >= 0
            assert account.pending == totals["pending"] == totals["pending_lots"]
            return account
        return self.db.read(check)

    def advance(self, days: int) -> None:
        self.clock.advance(days=days)

    def set_tier(self, member_id: int, tier: str) -> None:
        from patron.tiers.service import set_manual

        now = self.clock.now()
        self.db.transact(lambda conn: set_manual(conn, self.program, member_id, tier,
                                                 now + timedelta(days=365), "test", "test",
                                                 now))

    def subscribe(self, member_id: int, plan_id: str = "plus") -> None:
        from patron.memberships import service as memberships
        from patron.memberships.schemas import MembershipCreate, PaymentIn

        payload = MembershipCreate(plan_id=plan_id, payment=PaymentIn(
            reference=f"pay-{next(_keys)}", amount=4900))
        self.db.transact(lambda conn: memberships.subscribe(
            conn, self.program, member_id, payload, actor="test", now=self.clock.now()))
