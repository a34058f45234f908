"""Every tier move is announced (``hooks.TierChanged``) in the transaction that records it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from patron import hooks
from patron.errors import Conflict
from patron.tiers.service import set_manual
from patron.tiers.tables import tier_changes
from tests.listening import heard as listening
from tests.tiers.test_tiers import sweep, tier_shop, view


@pytest.fixture
def announced():
    """What a subscriber registered for the test heard: each move with the tier history
    its transaction could read when it was announced. Removed after the test."""
    heard: list[tuple[hooks.TierChanged, list[tuple[str, str]]]] = []

    def listen(conn, happened: hooks.TierChanged) -> None:
        rows = conn.execute(select(tier_changes.c.kind, tier_changes.c.to_tier).where(
            tier_changes.c.member_id == happened.member_id)).all()
        heard.append((happened, [tuple(row) for row in rows]))

    with listening(hooks.TierChanged, listen):
        yield heard


def test_an_upgrade_through_ingest_is_announced(database, clock, announced):
    shop = tier_shop(database, clock)
    member = shop.member()
    shop.send(shop.purchase(member, [("BIG", "", 1, 600_00)]))
    [(happened, seen)] = announced
    assert happened == hooks.TierChanged(shop.program, member, "member", "gold", "upgrade",
                                         clock.now())
    assert ("upgrade", "gold") in seen


def test_a_review_downgrade_is_announced_and_a_kept_tier_is_not(database, clock, announced):
    shop = tier_shop(database, clock)
    member = shop.member()
    shop.send(shop.purchase(member, [("BIG", "", 1, 600_00)]))
    clock.set(datetime(2027, 6, 1, tzinfo=timezone.utc))
    shop.send(shop.purchase(member, [("BIG", "", 1, 550_00)]))
    clock.set(datetime(2028, 2, 1, tzinfo=timezone.utc))
    sweep(shop)
    assert view(shop, member)["history"][0]["kind"] == "retained"
    assert [h.kind for h, _ in announced] == ["upgrade"]
    clock.set(datetime(2029, 2, 1, tzinfo=timezone.utc))
    sweep(shop)
    happened, seen = announced[-1]
    assert (happened.member_id, happened.from_tier, happened.to_tier, happened.kind) == (
        member, "gold", "silver", "downgrade")
    assert happened.at == datetime(2029, 1, 31, tzinfo=timezone.utc)
    assert ("downgrade", "silver") in seen


def test_a_manual_tier_and_its_end_are_announced(database, clock, announced):
    shop = tier_shop(database, clock)
    member = shop.member()
    until = clock.now() + timedelta(days=10)
    shop.db.transact(lambda conn: set_manual(conn, shop.program, member, "platinum", until,
                                             "service recovery", "test", clock.now()))
    happened, seen = announced[-1]
    assert happened == hooks.TierChanged(shop.program, member, "member", "platinum", "manual",
                                         clock.now())
    assert seen == [("manual", "platinum")]
    clock.advance(days=11)
    sweep(shop)
    ended, _ = announced[-1]
    assert (ended.from_tier, ended.to_tier, ended.kind, ended.at) == (
        "platinum", "member", "manual_end", until)


def test_a_refused_move_leaves_nothing_behind(database, clock):
    shop = tier_shop(database, clock)
    member = shop.member()

    def refuse(conn, happened: hooks.TierChanged) -> None:
        raise Conflict("the CRM refuses platinum")

    with listening(hooks.TierChanged, refuse), pytest.raises(Conflict):
        shop.db.transact(lambda conn: set_manual(
            conn, shop.program, member, "platinum", clock.now() + timedelta(days=10),
            "service recovery", "test", clock.now()))
    state = view(shop, member)
    assert state["tier"]["id"] == "member" and state["manual"] is None
    assert state["history"] == []
