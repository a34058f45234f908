"""Rewards ready: a member told once each time their available points reach a reward's
cost, only for rewards they may redeem, in their language and on their consent; the
webhooks carry it too (``reward.ready``). On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from patron.ledger import jobs as ledger_jobs
from patron.members import consents
from patron.rewards.ready import crossed
from patron.program.incentives import Reward
from tests.flows.test_ingest import BASE, Shop
from tests.notifications.test_notifications import rows
from tests.rewards.factories import Store
from tests.webhooks.helpers import bodies, subscribe

REWARDS: list[dict[str, Any]] = [
    {"id": "sticker", "name": "Sticker", "type": "gift", "cost_points": 1000},
    {"id": "mug", "name": "Mug", "type": "gift", "cost_points": 2000},
    {"id": "gone", "name": "Sold out", "type": "gift", "cost_points": 900, "stock": 0},
    {"id": "later", "name": "Next year", "type": "gift", "cost_points": 950,
     "valid_from": "2099-01-01"},
]


def consent(db, program, clock, member_id, purpose="service", channel="any"):
    db.transact(lambda conn: consents.record(
        conn, program.id, member_id, [consents.Decision(channel, purpose, True)],
        actor="test", now=clock.now()))


def ready(db, program) -> list[str]:
    return [row.subject for row in rows(db, program) if row.kind == "reward_ready"]


def test_crossing_is_below_before_and_at_or_above_after():
    rewards = [Reward.model_validate({"id": i, "name": i, "type": "gift", "cost_points": c})
               for i, c in (("a", 100), ("b", 200), ("c", 300))]
    assert [r.id for r in crossed(rewards, 99, 200)] == ["a", "b"]
    assert crossed(rewards, 100, 199) == []        # already there: not again
    assert [r.id for r in crossed(rewards, -50, 100)] == ["a"]


def test_told_once_per_crossing_and_again_after_falling_below(database, clock):
    store = Store(database, clock, REWARDS)
    member_id = store.member()
    consent(database, store.program, clock, member_id)
    store.give(member_id, 800)
    assert ready(database, store.program) == []
    store.give(member_id, 300)                     # 1,100: the sticker (not the sold-out one,
    assert ready(database, store.program) == ["You can now redeem Sticker"]  # not next year's)
    store.give(member_id, 100)                     # still above: nothing new
    assert len(ready(database, store.program)) == 1
    store.redeem(member_id, "sticker", key="r1")   # 200 left: below again
    store.give(member_id, 2000)                    # 2,200: both crossed at once
    assert sorted(ready(database, store.program)) == [
        "You can now redeem Mug", "You can now redeem Sticker", "You can now redeem Sticker"]
    [row, *_] = [row for row in rows(database, store.program) if row.kind == "reward_ready"]
    assert "You have 1,100 points" in row.body and "Sticker (1,000 points)" in row.body


def test_without_consent_nobody_is_told_but_the_webhook_still_carries_it(database, clock):
    store = Store(database, clock, REWARDS)
    subscribe(database, store.program, clock, types=["reward.ready"])
    told, quiet = store.member(), store.member()
    consent(database, store.program, clock, told)
    consent(database, store.program, clock, quiet, purpose="marketing")
    for member_id in (told, quiet):
        store.give(member_id, 1000)
    assert [row.member_id for row in rows(database, store.program)
            if row.kind == "reward_ready"] == [told]
    assert [(b["type"], b["data"]["member_id"], b["data"]["reward_id"],
             b["data"]["available_points"]) for b in bodies(database, store.program)] == [
        ("reward.ready", told, "sticker", 1000), ("reward.ready", quiet, "sticker", 1000)]


def test_in_french(database, clock):
    store = Store(database, clock, REWARDS)
    member_id = store.member(attributes={"language": "fr"})
    consent(database, store.program, clock, member_id)
    store.give(member_id, 1000)
    [row] = [row for row in rows(database, store.program) if row.kind == "reward_ready"]
    assert row.language == "fr" and row.subject == "Vous pouvez maintenant obtenir Sticker"
    assert "Vous avez 1\u202f000 points" in row.body


def test_pending_points_count_when_the_sweep_releases_them(database, clock):
    shop = Shop(database, clock, [BASE], pending_days=14)
    shop.program = shop.publish_full(shop.program, [BASE], settings={"pending_days": 14},
                                     rewards=REWARDS[:1])
    member_id = shop.member()
    consent(database, shop.program, clock, member_id)
    shop.send(shop.purchase(member_id, [("BNS", "beans", 1, 1500_00)]))
    assert ready(database, shop.program) == []     # 1,500 pending: not spendable yet
    clock.advance(days=15)
    assert ledger_jobs.release_pending(database, clock.now()).points >= 1500
    assert ready(database, shop.program) == ["You can now redeem Sticker"]
