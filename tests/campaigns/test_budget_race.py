"""Clients racing past a campaign's small budget never overspend it."""

from __future__ import annotations

from patron.campaigns import repository, service
from patron.events.schemas import EventIn
from patron.flows.ingest import ingest
from tests.campaigns.factories import Shop
from tests.concurrency import at_once

CHECK_IN_BONUS = {"id": "spring", "name": "Check-in week", "starts": "2026-03-01",
                  "ends": "2026-03-31", "holdout": "0", "budget": {"points": 95},
                  "earn_rules": [{"id": "spring-check-in", "name": "Check-in bonus",
                                  "on": "check_in", "points": {"fixed": 10}}]}


def _check_ins_at_once(shop: Shop, members: list[int]) -> list[int]:
    def send(member_id: int) -> list[int]:
        event = EventIn.model_validate({
            "id": f"c-{shop.program.id}-{member_id}", "type": "check_in",
            "member": {"id": member_id}, "occurred_at": shop.clock.now().isoformat()})
        outcomes = shop.db.transact(lambda conn: ingest(conn, shop.program, [event],
                                                        now=shop.clock.now(), actor="test"))
        return [o.points for o in outcomes]

    return at_once(members, send)


def test_racing_check_ins_never_overspend_a_campaign_budget(database, clock):
    shop = Shop(database, clock, CHECK_IN_BONUS, rules=())
    members = shop.members(12)
    shop.db.transact(lambda conn: service.assign(conn, shop.program, clock.now()))
    results = _check_ins_at_once(shop, members)
    assert sorted(results) == [0] * 2 + [5] + [10] * 9
    used = database.read(lambda conn: repository.budgets_used(conn, shop.program.id,
                                                              ["spring"]))
    assert used == {"spring": (95, 48)}
