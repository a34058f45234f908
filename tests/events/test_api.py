"""Event ingest over HTTP: earning, pending windows, idempotency, enrolment."""

from __future__ import annotations

from datetime import timedelta

from collections import Counter

from patron.events import repository as events_repository
from patron.ledger import jobs
from tests.concurrency import race
from tests.conftest import Api, make_program
from tests.factories import member_payload, purchase


def make_api(api, clock, **settings) -> Api:
    return Api(api.client, api.db, make_program(api.db, clock, **settings), clock)


def test_purchase_earns_pending_points_released_after_the_return_window(api, clock):
    shop = make_api(api, clock, pending_days=14, expiry={"days": 365})
    member = shop.post("/members", json=member_payload()).json()
    sent = shop.post("/events", json=purchase({"id": member["id"]}, 12_50, clock.now(),
                                              order_id="A-1"))
    assert sent.status_code == 201, sent.text
    outcome = sent.json()
    assert outcome["points"] == 12 and outcome["awards"][0]["status"] == "pending"
    assert outcome["awards"][0]["rule_id"] == "base_spend" and outcome["program_version"] == 1
    assert outcome["awards"][0]["reason"] == "1 points per USD 1: +12"
    balance = shop.get(f"/members/{member['id']}/balance").json()
    assert (balance["available"], balance["pending"], balance["lifetime_earned"]) == (0, 12, 12)
    spend = shop.post(f"/members/{member['id']}/spends",
                      json={"points": 5, "reason": "cookie", "idempotency_key": "s1"})
    assert spend.status_code == 409 and spend.json()["code"] == "insufficient_points"

    clock.advance(days=14)
    jobs.run_all(shop.db, clock.now())
    balance = shop.get(f"/members/{member['id']}/balance").json()
    assert (balance["available"], balance["pending"]) == (12, 0)
    assert balance["expiring"][0]["points"] == 12
    ledger = shop.get(f"/members/{member['id']}/ledger").json()["items"]
    assert [(e["kind"], e["points"], e["status"]) for e in ledger] == [
        ("release", 12, "posted"), ("earn", 12, "pending")]
    assert ledger[1]["source"] == {"type": "event", "id": outcome["id"],
                                   "event_type": "purchase"}


def test_same_event_twice_returns_first_outcome_and_writes_nothing(api, clock):
    member = api.post("/members", json=member_payload()).json()
    event = purchase({"id": member["id"]}, 30_00, clock.now())
    first = api.post("/events", json=event)
    second = api.post("/events", json=event)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["status"] == "duplicate"
    assert second.json()["points"] == first.json()["points"] == 30
    assert api.get(f"/members/{member['id']}/balance").json()["available"] == 30
    assert len(api.get(f"/members/{member['id']}/ledger").json()["items"]) == 1


def test_resending_a_batch_of_1000_changes_nothing(api, clock):
    members = [api.post("/members", json=member_payload()).json()["id"] for _ in range(20)]
    events = [purchase({"id": members[n % 20]}, 100 + n, clock.now() - timedelta(minutes=n))
              for n in range(1000)]
    first = api.post("/events/batch", json={"events": events})
    assert first.status_code == 200, first.text
    assert first.json()["processed"] == 1000
    balances = [api.get(f"/members/{m}/balance").json() for m in members]
    again = api.post("/events/batch", json={"events": events})
    assert again.json()["duplicates"] == 1000 and again.json()["processed"] == 0
    assert [r["points"] for r in again.json()["results"]] == \
        [r["points"] for r in first.json()["results"]]
    assert [api.get(f"/members/{m}/balance").json() for m in members] == balances


def test_unknown_identity_on_purchase_enrols_a_member(api, clock):
    ref = {"identity": {"type": "email", "value": "New.Person@example.com", "channel": "pos"}}
    outcome = api.post("/events", json=purchase(ref, 5_00, clock.now())).json()
    assert outcome["enrolled"] is True
    again = api.post("/events", json=purchase(ref, 5_00, clock.now())).json()
    assert again["enrolled"] is False and again["member_id"] == outcome["member_id"]
    member = api.get(f"/members/{outcome['member_id']}").json()
    assert member["identities"][0]["value"] == "new.person@example.com"
    assert member["profile"]["join_channel"] == "web"


def test_batch_enrols_an_unknown_identity_once(api, clock):
    ref = {"identity": {"type": "phone", "value": "+1 202 555 0177"}}
    events = [purchase(ref, 1_00, clock.now()) for _ in range(3)]
    results = api.post("/events/batch", json={"events": events}).json()["results"]
    assert len({r["member_id"] for r in results}) == 1
    assert [r["enrolled"] for r in results] == [True, False, False]


def test_auto_enrol_off_gives_a_clear_404(api, clock):
    shop = make_api(api, clock, auto_enrol=False)
    ref = {"identity": {"type": "email", "value": "stranger@example.com"}}
    response = shop.post("/events", json=purchase(ref, 5_00, clock.now()))
    assert response.status_code == 404 and response.json()["code"] == "member_not_found"
    assert shop.get("/members", params={"identity": "email:stranger@example.com"}).json() == \
        {"items": [], "next_cursor": None}


def test_batch_reports_each_rejected_event_and_keeps_the_rest(api, clock):
    member = api.post("/members", json=member_payload()).json()
    ref = {"id": member["id"]}
    good = purchase(ref, 10_00, clock.now(), order_id="O-1")
    events = [good,
              purchase(ref, 10_00, clock.now(), order_id="O-1"),
              purchase(ref, 10_00, clock.now(), currency="EUR"),
              purchase(ref, 10_00, clock.now() + timedelta(days=1)),
              purchase({"id": 999_999_999}, 10_00, clock.now()),
              {**purchase(ref, 10_00, clock.now()), "data": {"order_id": "x"}}]
    body = api.post("/events/batch", json={"events": events}).json()
    codes = [(r["status"], (r["error"] or {}).get("code")) for r in body["results"]]
    assert codes == [("processed", None), ("rejected", "duplicate_order"),
                     ("rejected", "currency_mismatch"), ("rejected", "occurred_in_future"),
                     ("rejected", "member_not_found"), ("rejected", "invalid_input")]
    assert api.get(f"/members/{member['id']}/balance").json()["available"] == 10
    # A rejected event is not recorded: fixed, it can be sent again with the same id.
    fixed = dict(events[2], data=dict(events[2]["data"], currency="USD"))
    assert api.post("/events", json=fixed).status_code == 201


def test_other_event_types_are_recorded(api, clock):
    member = api.post("/members", json=member_payload()).json()
    response = api.post("/events", json={
        "id": "rev-1", "type": "review", "member": {"id": member["id"]},
        "occurred_at": clock.now().isoformat(), "data": {"sku": "LAT-1", "stars": 5}})
    assert response.status_code == 201
    assert response.json()["status"] == "processed"
    assert api.post("/events", json={
        "id": "rev-1", "type": "review", "member": {"id": member["id"]},
        "occurred_at": clock.now().isoformat(),
        "data": {"stars": 5, "sku": "LAT-1"}}).json()["status"] == "duplicate"


def test_an_event_id_resent_with_another_body_is_refused_and_writes_nothing(api, clock):
    member = api.post("/members", json=member_payload()).json()
    other = api.post("/members", json=member_payload()).json()
    event = purchase({"id": member["id"]}, 30_00, clock.now(), order_id="A-1")
    assert api.post("/events", json=event).status_code == 201
    changed = [dict(event, data=dict(event["data"], total=40_00, lines=[])),
               dict(event, member={"id": other["id"]}),
               dict(event, occurred_at=(clock.now() - timedelta(hours=1)).isoformat()),
               dict(event, channel="pos"),
               dict(event, type="review")]
    for body in changed:
        response = api.post("/events", json=body)
        assert response.status_code == 409, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "idempotency_key_reused"
        assert response.json()["event_id"] == event["id"]
    assert api.post("/events", json=event).json()["status"] == "duplicate"
    for who in (member, other):
        assert api.get(f"/members/{who['id']}/balance").json()["available"] == \
            (30 if who is member else 0)
        assert len(api.get(f"/members/{who['id']}/ledger").json()["items"]) == \
            (1 if who is member else 0)


def test_an_event_resent_by_its_identity_is_a_duplicate_however_the_identity_is_typed(
        api, clock):
    first = purchase({"identity": {"type": "email", "value": "Ann@Example.com"}}, 5_00,
                     clock.now())
    assert api.post("/events", json=first).status_code == 201
    again = dict(first, member={"identity": {"type": "email", "value": " ann@EXAMPLE.com",
                                             "channel": "pos"}})
    assert api.post("/events", json=again).json()["status"] == "duplicate"
    someone = dict(first, member={"identity": {"type": "email", "value": "bob@example.com"}})
    response = api.post("/events", json=someone)
    assert response.status_code == 409 and response.json()["code"] == "idempotency_key_reused"
    assert api.get("/members", params={"identity": "email:bob@example.com"}).json()["items"] \
        == []


def test_a_batch_rejects_a_reused_event_id_with_another_body_and_keeps_the_rest(api, clock):
    member = api.post("/members", json=member_payload()).json()
    ref = {"id": member["id"]}
    sent = purchase(ref, 10_00, clock.now())
    assert api.post("/events", json=sent).status_code == 201
    fresh = purchase(ref, 20_00, clock.now())
    twice = purchase(ref, 5_00, clock.now())
    other = api.post("/members", json=member_payload()).json()
    events = [sent, dict(sent, data=dict(sent["data"], total=9_00, lines=[])), fresh, twice,
              dict(twice, channel="pos"), twice, dict(sent, member={"id": other["id"]}), sent]
    body = api.post("/events/batch", json={"events": events}).json()
    codes = [(r["status"], (r["error"] or {}).get("code")) for r in body["results"]]
    assert codes == [("duplicate", None), ("rejected", "idempotency_key_reused"),
                     ("processed", None), ("processed", None),
                     ("rejected", "idempotency_key_reused"), ("duplicate", None),
                     ("rejected", "idempotency_key_reused"), ("duplicate", None)]
    assert body["results"][1]["error"]["status"] == 409
    assert api.get(f"/members/{member['id']}/balance").json()["available"] == 35


def test_a_retry_that_looked_before_the_first_send_committed_answers_its_outcome(
        api, clock, monkeypatch):
    member = api.post("/members", json=member_payload()).json()
    event = purchase({"id": member["id"]}, 25_00, clock.now(), order_id="RACE-1")
    first = api.post("/events", json=event)
    assert first.status_code == 201
    # The retry looked the id up before the first send committed, then met its order.
    looked, calls = events_repository.recorded_events, []
    monkeypatch.setattr(events_repository, "recorded_events",
                        lambda *args: looked(*args) if calls.append(args) or len(calls) > 1
                        else {})
    retry = api.post("/events", json=event)
    assert retry.status_code == 200, retry.text
    assert retry.json() == dict(first.json(), status="duplicate")
    assert api.get(f"/members/{member['id']}/balance").json()["available"] == 25


def test_the_same_event_sent_by_several_clients_at_once_answers_one_outcome(api, clock):
    member = api.post("/members", json=member_payload()).json()
    for round_ in range(8):
        event = purchase({"id": member["id"]}, 10_00, clock.now(), order_id=f"AT-ONCE-{round_}")
        answers: Counter = Counter()

        def send(_: int) -> None:
            response = api.post("/events", json=event)
            body = response.json()
            answers[(response.status_code, body.get("status"), body.get("code"),
                     body.get("points"))] += 1

        race(6, send)
        assert answers == Counter({(201, "processed", None, 10): 1,
                                   (200, "duplicate", None, 10): 5}), answers
    assert api.get(f"/members/{member['id']}/balance").json()["available"] == 80
