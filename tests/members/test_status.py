"""Member status over HTTP, on SQLite and PostgreSQL: blocking and closing with who and why,
what a blocked or closed member can no longer do, and the forfeiture a closure writes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from patron import hooks
from patron.flows import jobs
from patron.program.document import ProgramDocument
from patron.program.service import get_program
from patron.program.versions import publish
from patron.members import standing
from tests.concurrency import race
from tests.factories import member_payload, purchase
from tests.listening import heard

DOCUMENT = {
    "name": "Status club",
    "settings": {"currency": "USD", "timezone": "UTC", "pending_days": 0,
                 "expiry": {"days": None}},
    "earn_rules": [{"id": "base", "name": "1 point per $1", "on": "purchase",
                    "points": {"per_currency_unit": "1"}}],
    "rewards": [{"id": "sticker", "name": "Sticker", "type": "gift", "cost_points": 10}],
    "transfers": {"enabled": True},
}


def _publish(api, **settings) -> None:
    document = ProgramDocument.model_validate(
        {**DOCUMENT, "settings": {**DOCUMENT["settings"], **settings}})
    api.db.transact(lambda conn: publish(conn, get_program(conn, api.program.id), document,
                                         actor="test", now=api.clock.now()))


@pytest.fixture
def club(api):
    _publish(api)
    return api


def _member(api, points: int = 0) -> int:
    member_id = api.post("/members", json=member_payload()).json()["id"]
    if points:
        _buy(api, member_id, points * 100)
    return member_id


def _buy(api, member_id: int, total: int) -> dict:
    response = api.post("/events", json=purchase({"id": member_id}, total,
                                                 api.clock.now() - timedelta(minutes=1)))
    assert response.status_code in (200, 201), response.text
    return response.json()


def _status(api, member_id: int, status: str, reason: str | None = "test", **kwargs):
    return api.post(f"/members/{member_id}/status",
                    json={"status": status, "reason": reason}, **kwargs)


def test_transitions_are_checked_before_anything_is_written():
    assert standing.check_change(1, "active", "blocked")
    assert standing.check_change(1, "blocked", "active")
    assert not standing.check_change(1, "blocked", "blocked")
    for current, wanted in (("closed", "active"), ("closed", "blocked"), ("merged", "active"),
                            ("active", "merged")):
        with pytest.raises(standing.StatusChangeNotAllowed):
            standing.check_change(1, current, wanted)


def test_block_records_who_why_and_when_and_get_shows_it(club):
    member = _member(club)
    with heard(hooks.MemberStatusChanged) as seen:
        response = _status(club, member, "blocked", "chargeback dispute")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "blocked"
    got = club.get(f"/members/{member}").json()
    assert got["status"] == "blocked"
    standing_now = got["standing"]
    assert standing_now["reason"] == "chargeback dispute"
    assert standing_now["changed_by"] and standing_now["changed_at"]
    [change] = seen
    assert (change.member_id, change.from_status, change.to_status) == (member, "active",
                                                                         "blocked")
    history = club.get(f"/members/{member}/status-changes").json()
    assert [(h["previous_status"], h["status"], h["reason"]) for h in history] == [
        ("active", "blocked", "chargeback dispute")]
    assert history[0]["actor"] == standing_now["changed_by"]


def test_asking_for_the_same_status_again_writes_nothing(club):
    member = _member(club)
    assert _status(club, member, "blocked").status_code == 200
    with heard(hooks.MemberStatusChanged) as seen:
        again = _status(club, member, "blocked", "another reason")
    assert again.status_code == 200 and again.json()["reason"] == "test"
    assert seen == []
    assert len(club.get(f"/members/{member}/status-changes").json()) == 1


def test_a_retry_with_the_key_answers_as_the_first_even_after_a_later_change(club):
    member = _member(club)
    first = _status(club, member, "blocked", headers={"Idempotency-Key": "blk-1"})
    assert _status(club, member, "active").json()["status"] == "active"
    retry = _status(club, member, "blocked", headers={"Idempotency-Key": "blk-1"})
    assert retry.json() == first.json()
    assert club.get(f"/members/{member}").json()["status"] == "active"


def test_a_blocked_member_earns_nothing_but_the_event_is_recorded_and_says_why(club):
    member = _member(club, points=50)
    _status(club, member, "blocked")
    outcome = _buy(club, member, 2000)
    assert outcome["status"] == "processed" and outcome["points"] == 0
    assert [n["code"] for n in outcome["notes"]] == ["member_blocked"]
    assert club.get(f"/members/{member}/balance").json()["available"] == 50
    _status(club, member, "active")
    assert _buy(club, member, 1000)["points"] == 10


@pytest.mark.parametrize("status", ["blocked", "closed"])
def test_a_halted_member_cannot_spend_redeem_or_transfer(club, status):
    member, friend = _member(club, points=50), _member(club)
    _status(club, member, status)
    code = f"member_{status}"
    spend = club.post(f"/members/{member}/spends", json={
        "points": 10, "reason": "checkout", "idempotency_key": "s-1"})
    redeem = club.post(f"/members/{member}/redemptions",
                       json={"reward_id": "sticker", "idempotency_key": "r-1"})
    transfer = club.post(f"/members/{member}/transfers", role="integration", json={
        "to_member_id": friend, "points": 10, "idempotency_key": "t-1"})
    for response in (spend, redeem, transfer):
        assert response.status_code == 409, response.text
        assert response.json()["code"] == code
    assert club.get(f"/members/{friend}/balance").json()["available"] == 0


def test_closing_forfeits_available_points_naming_the_closure_and_is_final(club):
    member = _member(club, points=70)
    closed = _status(club, member, "closed", "customer asked")
    assert closed.status_code == 200
    balance = club.get(f"/members/{member}/balance").json()
    assert balance["available"] == 0
    [entry] = club.get(f"/members/{member}/ledger", params={"limit": 1}).json()["items"]
    assert entry["points"] == -70 and entry["kind"] == "adjust"
    assert "closed" in entry["reason"] and "customer asked" in entry["reason"]
    for wanted in ("active", "blocked"):
        refused = _status(club, member, wanted)
        assert refused.status_code == 409
        assert refused.json()["code"] == "status_change_not_allowed"
    assert club.get(f"/members/{member}").json()["status"] == "closed"
    assert len(club.get(f"/members/{member}/status-changes").json()) == 1


def test_pending_points_are_forfeited_as_they_settle(club):
    _publish(club, pending_days=14)
    club.clock.advance(hours=1)
    member = _member(club)
    _buy(club, member, 3000)
    assert club.get(f"/members/{member}/balance").json()["pending"] == 30
    _status(club, member, "closed")
    assert club.get(f"/members/{member}/balance").json()["pending"] == 30
    club.clock.advance(days=15)
    first = jobs.run_all(club.db, club.clock.now())
    assert first["closures"]["forfeited"] >= 30
    balance = club.get(f"/members/{member}/balance").json()
    assert (balance["available"], balance["pending"]) == (0, 0)
    assert jobs.run_all(club.db, club.clock.now())["closures"]["forfeited"] == 0
    [entry] = club.get(f"/members/{member}/ledger", params={"limit": 1}).json()["items"]
    assert entry["points"] == -30 and "closed" in entry["reason"]


@pytest.mark.parametrize("body, status, code", [
    ({"status": "merged"}, 422, "validation_error"),
    ({"status": "gone"}, 422, "validation_error"),
    ({"status": "blocked", "reason": "x" * 501}, 422, "validation_error"),
    ({"status": "blocked", "extra": 1}, 422, "validation_error"),
])
def test_bad_status_changes_are_refused(club, body, status, code):
    member = _member(club)
    response = club.post(f"/members/{member}/status", json=body)
    assert (response.status_code, response.json()["code"]) == (status, code)


def test_status_of_an_unknown_member_is_404(club):
    response = _status(club, 987654321, "blocked")
    assert (response.status_code, response.json()["code"]) == (404, "member_not_found")
    assert club.get("/members/987654321/status-changes").status_code == 404


def test_a_closure_racing_spends_never_takes_more_than_the_member_had(club):
    member = _member(club, points=100)

    def attempt(n: int):
        if n == 0:
            return _status(club, member, "closed")
        return club.post(f"/members/{member}/spends", json={
            "points": 30, "reason": "checkout", "idempotency_key": f"race-{n}"})
    responses: list = []
    race(5, lambda n: responses.append(attempt(n)))
    assert club.get(f"/members/{member}/balance").json()["available"] == 0
    entries = club.get(f"/members/{member}/ledger", params={"limit": 50}).json()["items"]
    assert sum(e["points"] for e in entries) == 0
    spent = [r for r in responses if r.request.url.path.endswith("/spends")]
    assert {r.status_code for r in spent} <= {201, 409}
    assert {r.json()["code"] for r in spent if r.status_code == 409} <= {
        "member_closed", "insufficient_points"}
