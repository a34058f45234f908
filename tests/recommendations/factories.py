"""A coffee-and-tea shop with a rewards catalog, members with tastes, and shortcuts to
train and read recommendations."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from patron.events.schemas import EventIn
from patron.flows.ingest import ingest
from patron.recommendations import jobs, service
from patron.recommendations.model import Parameters
from tests.rewards.factories import Store

TIERS = {"metric": "tier_points", "levels": [
    {"id": "blue", "name": "Blue", "threshold": 0},
    {"id": "gold", "name": "Gold", "threshold": 100_000}]}
REWARDS: list[dict[str, Any]] = [
    {"id": "mug", "name": "Coffee mug", "type": "gift", "cost_points": 300},
    {"id": "teapot", "name": "Teapot", "type": "gift", "cost_points": 500},
    {"id": "lounge", "name": "Gold lounge", "type": "experience", "cost_points": 100,
     "eligibility": {"tiers": ["gold"]}},
    {"id": "sampler", "name": "Tea sampler", "type": "gift", "cost_points": 100, "stock": 2},
    {"id": "welcome", "name": "Welcome pin", "type": "gift", "cost_points": 50,
     "limit_per_member": {"period": "lifetime", "count": 1}},
]
COFFEE = [("BNS-1", "coffee"), ("FLT-1", "filters")]
TEA = [("TEA-1", "tea"), ("CUP-1", "cups")]
_orders = itertools.count(1)


class Shop(Store):
    """A program whose catalog is ``REWARDS`` and whose ladder is ``TIERS``."""

    def __init__(self, db, clock, rewards: list[dict[str, Any]] | None = None,
                 **sections: Any) -> None:
        super().__init__(db, clock, REWARDS if rewards is None else rewards,
                         **{"tiers": TIERS, **sections})

    def buy(self, member_id: int, lines: list[tuple[str, str]], days_ago: int = 1) -> None:
        n = next(_orders)
        at = self.clock.now() - timedelta(days=days_ago)
        event = EventIn.model_validate({
            "id": f"rec-{self.program.id}-{n}", "type": "purchase", "member": {"id": member_id},
            "occurred_at": at.isoformat(), "data": {
                "order_id": f"rec-o-{n}", "currency": "USD", "total": 1000 * len(lines),
                "lines": [{"sku": sku, "category": category, "quantity": 1, "amount": 1000}
                          for sku, category in lines]}})
        self.db.transact(lambda conn: ingest(conn, self.program, [event], now=self.clock.now(),
                                             actor="test"))

    def coffee_lover(self, orders: int = 3, redeem: str | None = "mug") -> int:
        member = self.member(points=2000)
        for day in range(orders):
            self.buy(member, COFFEE, days_ago=day + 2)
        if redeem:
            self.redeem(member, redeem)
        return member

    def tea_lover(self, orders: int = 3, redeem: str | None = "teapot") -> int:
        member = self.member(points=2000)
        for day in range(orders):
            self.buy(member, TEA, days_ago=day + 2)
        if redeem:
            self.redeem(member, redeem)
        return member

    def train(self, **parameters: Any) -> jobs.Trained:
        return jobs.train_program(self.db, self.program.id, self.clock.now(),
                                  Parameters(**parameters))

    def recommendations(self, member_id: int, limit: int = 10) -> dict[str, Any]:
        return self.db.read(lambda conn: service.member_recommendations(
            conn, self.program, member_id, self.clock.now(), limit))

    def rewards_of(self, member_id: int) -> list[str]:
        return [r["reward_id"] for r in self.recommendations(member_id)["rewards"]]
