"""Ingest on SQLite and PostgreSQL: members an event names by identity, within one batch."""

from __future__ import annotations

from datetime import timedelta

from patron.members.service import get_member
from tests.flows.test_ingest import Shop
from tests.factories import purchase

WHO = {"identity": {"type": "email", "value": "new@example.com"}}


def review(n: int, at) -> dict:
    return {"id": f"rev-{n}", "type": "review", "member": WHO, "occurred_at": at.isoformat(),
            "data": {"stars": 5}}


def test_an_event_after_the_one_that_enrols_its_identity_finds_that_member(database, clock):
    shop = Shop(database, clock, [])
    sign_up = {"id": "su-1", "type": "sign_up", "member": WHO,
               "occurred_at": clock.now().isoformat(), "data": {}}
    bought, signed, reviewed = shop.send(purchase(WHO, 10_00, clock.now()), sign_up,
                                         review(1, clock.now()))
    assert [r.status for r in (bought, signed, reviewed)] == ["processed"] * 3
    assert bought.enrolled and not signed.enrolled and not reviewed.enrolled
    assert bought.member_id == signed.member_id == reviewed.member_id


def test_an_event_before_the_one_that_enrols_its_identity_finds_that_member_too(database,
                                                                               clock):
    shop = Shop(database, clock, [])
    early = clock.now() - timedelta(days=2)
    reviewed, bought = shop.send(review(2, early), purchase(WHO, 10_00, clock.now()))
    assert (reviewed.status, bought.status) == ("processed", "processed")
    assert bought.enrolled and not reviewed.enrolled
    assert reviewed.member_id == bought.member_id
    member = database.read(lambda conn: get_member(conn, shop.program, bought.member_id))
    assert member.created_at == clock.now()  # only an event that can enrol dates the member


def test_an_event_whose_identity_nothing_in_the_batch_enrols_is_still_refused(database, clock):
    shop = Shop(database, clock, [])
    [reviewed] = shop.send(review(3, clock.now()))
    assert reviewed.status == "rejected" and reviewed.error["code"] == "member_not_found"
