"""The demo's people who do things together: a family pooling Beans in a household, a
member paying for the Coffee Club, and friends who joined with a member's referral code.

Each goes through Patron's own services, as the API would: enrolment (with a referral
code), the households service, the memberships service and ingest for purchases. The
README's tour counts on the ids of a fresh demo database: member 1 owns the household
(with a partner and a child who joined on the day the campaign opened) and has referred
two friends, one of whom already bought (qualified) and one who has not yet (pending);
member 2 pays for the Coffee Club (Gold benefits).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from patron.db import Database
from patron.events.schemas import EventIn
from patron.flows.enrolment import create_member
from patron.flows.ingest import ingest
from patron.households import service as households
from patron.households.schemas import HouseholdCreate
from patron.members.schemas import MemberCreate
from patron.members.service import get_member
from patron.memberships import service as memberships
from patron.memberships.schemas import MembershipCreate
from patron.program.service import Program
from patron.referrals.service import code_for

SEED = 29
"""Draws of their own: the rest of the demo stays as it was."""
PLAN = "coffee_club"
FAMILY = (("Noor", "female", "adult", 1988), ("Sami", "male", "child", 2014))
"""Who joins the household owner: given name, gender, household role, year of birth."""
FRIENDS = (("Theo", "male", 20, 6), ("Ines", "female", 2, None))
"""Friends who joined with the owner's referral code: days before ``now`` they joined and
(if they did) bought their first order, inside the referral's return window."""
ORDER = [{"sku": "BNS-ETH", "category": "beans", "quantity": 1, "amount": 1650,
          "department": "retail", "subcategory": "single origin", "brand": "Demo Coffee"}]


def _purchase(member_id: int, at: datetime, ref: str) -> EventIn:
    return EventIn.model_validate({
        "id": f"demo-purchase-{ref}", "type": "purchase", "member": {"id": member_id},
        "occurred_at": at.isoformat(), "channel": "pos",
        "data": {"order_id": ref, "currency": "USD", "store_id": "dupont-circle",
                 "total": sum(line["amount"] for line in ORDER), "lines": ORDER}})


def _relative(owner: dict, given: str, gender: str, year: int, n: int) -> MemberCreate:
    """One of the owner's family: their family name and address, an email of their own."""
    family = owner["family_name"]
    return MemberCreate.model_validate({
        "identities": [{"type": "email", "value": f"{given}.{family}.family{n}@example.com"
                        .lower(), "channel": "pos"}],
        "profile": {"given_name": given, "family_name": family, "gender": gender,
                    "birthdate": f"{year}-0{n + 3}-1{n}", "address": owner["address"],
                    "join_channel": "pos"}})


def start_household(db: Database, program: Program, owner_id: int, subscriber_id: int,
                    at: datetime, now: datetime) -> tuple[int, list[int], list[EventIn]]:
    """At ``at`` (the campaign's opening): the owner's partner and child enrol and the
    three start a household pooling their Beans, and another member subscribes to the
    paid plan. Returns the household, its members, and the family's later purchases
    (their earnings go to the pool)."""
    rng = random.Random(SEED)

    def work(conn):
        owner = get_member(conn, program, owner_id).profile.model_dump(mode="json")
        relatives = [create_member(conn, program, _relative(owner, given, gender, year, n),
                                   at, actor="demo").id
                     for n, (given, gender, _, year) in enumerate(FAMILY)]
        household = households.create_household(
            conn, program, HouseholdCreate(name=f"The {owner['family_name']} family",
                                           owner_member_id=owner_id), now=at, actor="demo")
        for member_id, (_, _, role, _) in zip(relatives, FAMILY):
            households.add_member(conn, program, household.id, member_id, role, now=at,
                                  actor="demo")
        memberships.subscribe(conn, program, subscriber_id, MembershipCreate.model_validate(
            {"plan_id": PLAN, "payment": {"reference": f"demo-{PLAN}-{subscriber_id}",
                                          "amount": 4900}}), actor="demo", now=at)
        return household.id, [owner_id, *relatives]
    household_id, family = db.transact(work)
    span = (now - at).total_seconds()
    purchases = [_purchase(member_id, at + timedelta(seconds=rng.uniform(0, span)),
                           f"F-{member_id}-{k}")
                 for member_id in family[1:] for k in range(rng.randint(2, 4))]
    return household_id, family, purchases


def bring_friends(db: Database, program: Program, referrer_id: int, now: datetime
                  ) -> list[int]:
    """Friends enrol with the referrer's code; the first one's first order qualifies
    the referral (paid once its return window has passed), the second has not bought."""
    rng = random.Random(SEED + 1)
    code = db.transact(lambda conn: code_for(conn, program, referrer_id, now - timedelta(
        days=max(days for _, _, days, _ in FRIENDS) + 1)))
    friends = []
    for n, (given, gender, joined_days, bought_days) in enumerate(FRIENDS):
        joined = now - timedelta(days=joined_days, hours=rng.uniform(0, 6))
        payload = MemberCreate.model_validate({
            "identities": [{"type": "email", "value": f"{given}.friend{n}@example.com".lower(),
                            "channel": "web"}],
            "profile": {"given_name": given, "family_name": "Friend", "gender": gender,
                        "join_channel": "web"},
            "referral_code": code})
        member_id = db.transact(lambda conn: create_member(conn, program, payload, joined,
                                                           actor="demo").id)
        friends.append(member_id)
        if bought_days is not None:
            event = _purchase(member_id, now - timedelta(days=bought_days),
                              f"R-{member_id}")
            db.transact(lambda conn: ingest(conn, program, [event], now=now, actor="demo"))
    return friends
