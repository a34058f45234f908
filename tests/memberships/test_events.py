"""Paid memberships meet ingest and tiers: payment events, plan multipliers, tier floors."""

from __future__ import annotations

from patron.events.schemas import EventIn
from patron.flows.ingest import ingest
from patron.program.service import get_program
from patron.program.versions import publish
from patron.program.document import ProgramDocument
from patron.tiers.service import member_tier
from tests.memberships.factories import PLANS, SETTINGS, Club


def send(club, *events):
    batch = [EventIn.model_validate(e) for e in events]
    return club.db.transact(lambda conn: ingest(conn, club.program, batch,
                                                now=club.clock.now(), actor="test"))


def payment_event(club, member, reference, amount=4900):
    return {"id": f"pay-{reference}", "type": "membership_payment", "member": {"id": member},
            "occurred_at": club.clock.now().isoformat(),
            "data": {"reference": reference, "amount": amount}}


def test_a_payment_event_renews_and_a_refused_one_leaves_no_trace(database, clock):
    club = Club(database, clock)
    member, stranger = club.member(), club.member()
    subscribed = club.subscribe(member)
    paid, refused = send(club, payment_event(club, member, "renew-1"),
                         payment_event(club, stranger, "renew-2"))
    assert paid.status == "processed", paid.error
    assert paid.membership["id"] == subscribed.id
    assert paid.membership["paid_until"] > subscribed.paid_until.isoformat()
    assert refused.status == "rejected" and refused.error["code"] == "no_live_membership"
    [again] = send(club, {**payment_event(club, member, "renew-1"), "id": "pay-again"})
    assert again.membership["paid_until"] == paid.membership["paid_until"]


def test_plan_multiplier_and_tier_floor(database, clock):
    club = Club(database, clock)
    document = ProgramDocument.model_validate({
        "name": "Club", "settings": SETTINGS,
        "memberships": [{**PLANS[0], "benefits": {**PLANS[0]["benefits"],
                                                  "tier_floor": "gold"}}],
        "tiers": {"metric": "qualifying_spend", "levels": [
            {"id": "member", "name": "Member", "threshold": 0},
            {"id": "gold", "name": "Gold", "threshold": 100_000}]},
        "earn_rules": [
            {"id": "base", "name": "1 point per $1", "on": "purchase",
             "points": {"per_currency_unit": "1"}},
            {"id": "plus", "name": "Plus doubles", "on": "purchase",
             "points": {"benefit_multiplier": "membership", "of": ["base"]}}]})
    database.transact(lambda conn: publish(conn, club.program, document, actor="test",
                                           now=clock.now()))
    club.program = database.read(lambda conn: get_program(conn, club.program.id))
    member, other = club.member(), club.member()
    club.subscribe(member)
    purchase = {"type": "purchase", "occurred_at": clock.now().isoformat(),
                "data": {"currency": "USD", "total": 10_00}}
    mine, theirs = send(club, {**purchase, "id": "p1", "member": {"id": member},
                               "data": {**purchase["data"], "order_id": "o1"}},
                        {**purchase, "id": "p2", "member": {"id": other},
                         "data": {**purchase["data"], "order_id": "o2"}})
    assert {a.rule_id: a.points for a in mine.awards} == {"base": 10, "plus": 10}
    assert {a.rule_id: a.points for a in theirs.awards} == {"base": 10}
    tier = database.read(lambda conn: member_tier(conn, club.program, member, clock.now()))
    assert (tier["tier"]["id"], tier["source"], tier["earned_tier"]) == ("gold", "membership",
                                                                       "member")
