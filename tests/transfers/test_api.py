"""Point transfers over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.transfers.factories import Club


@pytest.fixture
def club(api, database, clock) -> Club:
    return Club(database, clock, {"enabled": True, "minimum_points": 10},
                settings={"expiry": {"days": 30}}, program=api.program)


def send(api, sender: int, body: dict):
    return api.post(f"/members/{sender}/transfers", role="integration", json=body)


def test_a_transfer_moves_points_soonest_expiring_first_and_shows_in_both_ledgers(api, club,
                                                                                   clock):
    sender, receiver = club.member(points=100), club.member()
    clock.advance(days=5)
    club.give(sender, 500)
    soon, later = [e.expires_at for e in club.balance(sender).expiring]

    response = send(api, sender, {"to_member_id": receiver, "points": 300,
                                  "idempotency_key": "gift-1", "message": "Happy birthday"})
    assert response.status_code == 201, response.text
    transfer = response.json()
    assert (transfer["direction"], transfer["from_member_id"], transfer["to_member_id"],
            transfer["points"], transfer["message"]) == ("sent", sender, receiver, 300,
                                                         "Happy birthday")
    assert [(lot["points"], lot["expires_at"]) for lot in transfer["lots"]] == [
        (100, soon.isoformat().replace("+00:00", "Z")),
        (200, later.isoformat().replace("+00:00", "Z"))]

    assert api.get(f"/members/{sender}/balance").json()["available"] == 300
    received = api.get(f"/members/{receiver}/balance").json()
    assert received["available"] == 300
    assert [(e["points"], e["expires_at"]) for e in received["expiring"]] == [
        (100, transfer["lots"][0]["expires_at"]), (200, transfer["lots"][1]["expires_at"])]

    [out] = api.get(f"/members/{sender}/ledger", params={"limit": 1}).json()["items"]
    assert (out["kind"], out["points"], out["reason"]) == (
        "transfer", -300, f"Sent 300 points to member {receiver}")
    assert out["details"] == {"transfer_id": transfer["id"], "to_member_id": receiver,
                              "message": "Happy birthday", "program_version": 2}
    assert out["id"] == transfer["out_entry_id"]
    [into] = api.get(f"/members/{receiver}/ledger", params={"limit": 1}).json()["items"]
    assert (into["kind"], into["points"], into["reason"], into["member_id"]) == (
        "transfer", 300, f"Received 300 points from member {sender}", receiver)
    assert into["details"]["from_member_id"] == sender
    assert into["id"] == transfer["in_entry_id"]

    [seen] = api.get(f"/members/{receiver}/transfers").json()["items"]
    assert (seen["id"], seen["direction"], seen["lots"]) == (transfer["id"], "received", None)
    club.exact(member_id=sender)
    club.exact(member_id=receiver)


def test_a_retry_returns_the_first_transfer_and_a_reused_key_is_refused(api, club):
    sender, receiver = club.member(points=500), club.member()
    body = {"to_member_id": receiver, "points": 200, "idempotency_key": "k-1"}
    first = send(api, sender, body)
    again = send(api, sender, body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert club.points(sender) == 300 and club.points(receiver) == 200

    for changed in ({"points": 201}, {"to_member_id": club.member()}, {"message": "hi"}):
        reused = send(api, sender, {**body, **changed})
        assert reused.status_code == 409
        assert reused.json()["code"] == "idempotency_key_reused"
    assert club.points(sender) == 300
    assert len(club.transfers(sender).items) == 1


@pytest.mark.parametrize("body", [
    {"points": 0}, {"points": -5}, {"points": "10"}, {"points": 1.5},
    {"idempotency_key": None}, {"idempotency_key": "has space"}, {"to_member_id": 0},
    {"message": ""}, {"message": "x" * 281}, {"surprise": True}])
def test_payloads_that_fail_validation_are_422(api, club, body):
    sender, receiver = club.member(points=500), club.member()
    payload = {"to_member_id": receiver, "points": 50, "idempotency_key": "k", **body}
    response = send(api, sender, {k: v for k, v in payload.items() if v is not None})
    assert response.status_code == 422, response.text
    assert club.points(sender) == 500


def test_refusals_are_problem_details_with_stable_codes(api, club, database, clock):
    sender, receiver = club.member(points=500), club.member()
    elsewhere = Club(database, clock).member(points=500)     # a member of another program

    def code(member: int, **body):
        response = send(api, member, {"to_member_id": receiver, "points": 50,
                                      "idempotency_key": f"k-{len(body)}-{sorted(body)}",
                                      **body})
        assert response.headers["content-type"].startswith("application/problem+json")
        return response.status_code, response.json()["code"]

    assert code(sender, to_member_id=sender) == (422, "self_transfer")
    assert code(sender, to_member_id=10**12) == (404, "member_not_found")
    assert code(10**12) == (404, "member_not_found")
    assert code(sender, to_member_id=elsewhere) == (404, "member_not_found")
    assert code(elsewhere) == (404, "member_not_found")
    assert code(sender, points=9) == (409, "transfer_below_minimum")
    assert code(sender, points=501) == (409, "insufficient_points")
    club.set_status(receiver, "blocked")
    assert code(sender) == (409, "receiver_not_active")
    club.publish({"enabled": False})
    club.set_status(receiver, "active")
    assert code(sender) == (409, "transfers_disabled")
    assert api.get(f"/members/{10**12}/transfers").status_code == 404
    assert club.points(sender) == 500 and club.points(receiver) == 0


def test_the_list_pages_newest_first_through_sent_and_received(api, club, clock):
    alice, bob = club.member(points=1000), club.member(points=1000)
    made = []
    for n in range(5):
        sender, receiver = (alice, bob) if n % 2 == 0 else (bob, alice)
        response = send(api, sender, {"to_member_id": receiver, "points": 10 + n,
                                      "idempotency_key": f"p-{n}"})
        made.append(response.json()["id"])
        clock.advance(minutes=1)
    first = api.get(f"/members/{alice}/transfers", params={"limit": 2}).json()
    assert [t["id"] for t in first["items"]] == made[:-3:-1]
    assert [t["direction"] for t in first["items"]] == ["sent", "received"]
    rest = api.get(f"/members/{alice}/transfers",
                   params={"limit": 10, "before": first["next_cursor"]}).json()
    assert [t["id"] for t in rest["items"]] == made[2::-1] and rest["next_cursor"] is None
    assert club.points(alice) == 1000 - (10 + 12 + 14) + (11 + 13)


@pytest.fixture
def crew(club) -> list[int]:
    """Three members with 1,000 points each, and an id no member has."""
    club.publish({"enabled": True, "minimum_points": 10, "maximum_points": 600,
                  "daily_maximum_points": 1500})
    return [club.member(points=1000) for _ in range(3)] + [10**12]


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(
    st.integers(min_value=0, max_value=3), st.integers(min_value=0, max_value=3),
    st.integers(min_value=-5, max_value=700), st.sampled_from(["a", "b", "c", "d"]),
    st.one_of(st.none(), st.text(max_size=300))), min_size=1, max_size=6))
def test_any_sequence_of_requests_answers_without_a_server_error_and_conserves_points(
        api, club, crew, requests):
    for sender, receiver, points, key, message in requests:
        body = {"to_member_id": crew[receiver], "points": points, "idempotency_key": key}
        if message is not None:
            body["message"] = message
        response = send(api, crew[sender], body)
        assert response.status_code in (200, 201, 404, 409, 422), response.text
        if response.status_code >= 400:
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["code"]
    assert sum(club.exact(member_id=m).available for m in crew[:3]) == 3000
