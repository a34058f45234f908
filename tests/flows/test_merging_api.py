"""Merges over HTTP, and a spend racing a merge, on SQLite and PostgreSQL."""

from __future__ import annotations

from patron.flows.enrolment import create_member
from patron.flows.merging import merge_members
from patron.ledger import repository as ledger_repository
from patron.ledger.service import spend_points
from tests.concurrency import race
from tests.conftest import make_program
from tests.factories import member_create, member_payload
from tests.households.test_api import family_api, new_member  # noqa: F401


def test_merge_over_http_and_old_ids_and_identities_follow_the_survivor(api):
    payload = member_payload()
    a, b = new_member(api, 100), api.post("/members", json=payload).json()["id"]
    api.post(f"/members/{b}/adjustments", json={"points": 40, "reason": "w",
                                                 "idempotency_key": "wb"})
    made = api.post(f"/members/{a}/merges", json={"member_id": b, "reason": "same person"})
    assert made.status_code == 201, made.text
    merge = made.json()
    assert (merge["survivor_id"], merge["merged_id"], merge["state"]) == (a, b, "merged")
    assert merge["moved"]["identities"] == 1 and merge["moved"]["points_available"] == 40
    again = api.post(f"/members/{a}/merges", json={"member_id": b, "reason": "same person"})
    assert again.status_code == 200 and again.json()["id"] == merge["id"]

    moved = api.get(f"/members/{b}", follow_redirects=False)
    assert moved.status_code == 301
    assert moved.headers["location"].endswith(f"/api/v1/members/{a}")
    assert moved.json()["merged_into"] == a and moved.json()["code"] == "member_merged"
    assert api.get(f"/members/{b}/balance").json()["available"] == 140
    assert api.get(f"/members/{b}/balance").json()["member_id"] == a
    spent = api.post(f"/members/{b}/spends", json={"points": 30, "reason": "coffee",
                                                   "idempotency_key": "s-1"})
    assert spent.status_code == 201, spent.text
    assert api.get(f"/members/{a}/balance").json()["available"] == 110
    found = api.db.read(lambda conn: ledger_repository.accounts_by_member(
        conn, api.program.id, [a])[a].available)
    assert found == 110
    assert [m["id"] for m in api.get(f"/members/{b}/merges").json()["merges"]] == [merge["id"]]
    assert api.get(f"/merges/{merge['id']}").json()["reason"] == "same person"

    assert api.post(f"/merges/{merge['id']}/undo", role="integration").status_code == 403
    undone = api.post(f"/merges/{merge['id']}/undo")
    assert undone.status_code == 200, undone.text
    assert undone.json()["state"] == "undone"
    assert api.get(f"/members/{b}/balance").json()["available"] == 40
    assert api.get(f"/members/{a}/balance").json()["available"] == 70
    twice = api.post(f"/merges/{merge['id']}/undo")
    assert (twice.status_code, twice.json()["code"]) == (409, "merge_already_undone")


def test_bad_merges_get_clear_problems(api):
    a, b, c = new_member(api), new_member(api), new_member(api)
    self_merge = api.post(f"/members/{a}/merges", json={"member_id": a})
    assert (self_merge.status_code, self_merge.json()["code"]) == (422, "merge_self")
    assert api.post(f"/members/{a}/merges", json={"member_id": b},
                    role="integration").status_code == 403
    other = make_program(api.db, api.clock)
    stranger = api.db.transact(lambda conn: create_member(conn, other, member_create(),
                                                          api.clock.now())).id
    across = api.post(f"/members/{a}/merges", json={"member_id": stranger})
    assert (across.status_code, across.json()["code"]) == (404, "member_not_found")
    assert api.post(f"/members/{a}/merges", json={"member_id": b}).status_code == 201
    twice = api.post(f"/members/{c}/merges", json={"member_id": b})
    assert (twice.status_code, twice.json()["code"]) == (409, "already_merged")
    into_merged = api.post(f"/members/{b}/merges", json={"member_id": c})
    assert (into_merged.status_code, into_merged.json()["code"]) == (409, "merge_into_inactive")
    assert api.get("/merges/999999999").json()["code"] == "merge_not_found"
    bad = api.post(f"/members/{a}/merges", json={"member_id": "x"})
    assert bad.status_code == 422


def test_a_household_holder_cannot_be_merged(family_api):
    api = family_api
    owner, other = new_member(api, 10), new_member(api)
    family = api.post("/households", json={"name": "H", "owner_member_id": owner},
                      headers={"Idempotency-Key": "h-1"}).json()
    holder = family["account_member_id"]
    refused = api.post(f"/members/{other}/merges", json={"member_id": holder})
    assert (refused.status_code, refused.json()["code"]) == (409, "merge_household_holder")
    pooled = api.post(f"/members/{other}/merges", json={"member_id": owner})
    assert (pooled.status_code, pooled.json()["code"]) == (409, "merge_household_conflict")


def test_a_spend_racing_a_merge_never_spends_twice(database, clock):
    from tests.flows.test_merging import _shop, adjust
    shop = _shop(database, clock)
    pairs = []
    for _ in range(4):
        a, b = shop.member(), shop.member()
        adjust(shop, a, 50, f"a{a}")
        adjust(shop, b, 100, f"b{b}")
        pairs.append((a, b))
    for a, b in pairs:
        def attempt(n, a=a, b=b):
            if n == 0:
                shop.db.transact(lambda conn: merge_members(
                    conn, shop.program, a, b, reason=None, actor="t", now=clock.now()))
            else:  # spend b's 100 by b's id, racing the merge that moves them
                shop.db.transact(lambda conn: spend_points(
                    conn, shop.program, b, points=100, reason="race", key=f"r{b}-{n}",
                    actor="t", now=clock.now()))
        outcomes = race(3, attempt)
        assert sum(outcomes.values()) == 3 and 1 <= outcomes["ok"] <= 2, outcomes
        totals = {m: shop.db.read(lambda conn, m=m: (
            ledger_repository.accounts_by_member(conn, shop.program.id, [m])[m].available))
            for m in (a, b)}
        assert totals[b] == 0 and totals[a] in (50, 150)
        spends = outcomes["ok"] - 1
        assert spends <= 1 and totals[a] == 150 - 100 * spends
        for m in (a, b):
            shop.balance(m)  # the account agrees with its ledger and lots
