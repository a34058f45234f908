"""Members and identities over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from patron.idempotency import repository as idempotency_repository
from tests.concurrency import race
from tests.factories import member_payload


def test_create_normalises_identities_and_finds_member_by_any_of_them(api):
    created = api.post("/members", json={
        "identities": [{"type": "email", "value": "  Ann.Lee@Example.COM ", "channel": "web"},
                       {"type": "phone", "value": "(202) 555-0143", "channel": "pos"},
                       {"type": "card", "value": "1234 5678-ab"}],
        "profile": {"name": "Ann Lee", "birthdate": "1990-04-02", "region": "East",
                    "join_channel": "web", "attributes": {"favourite": "flat white"}},
        "consents": {"email_marketing": True}})
    assert created.status_code == 201, created.text
    member = created.json()
    values = {i["type"]: i["value"] for i in member["identities"]}
    assert values == {"email": "ann.lee@example.com", "phone": "+12025550143",
                      "card": "12345678AB"}
    assert member["consents"]["email_marketing"]["granted"] is True
    for query in ("email:ANN.LEE@example.com", "phone:+1 202 555 0143", "card:12345678ab"):
        found = api.get("/members", params={"identity": query}).json()["items"]
        assert [m["id"] for m in found] == [member["id"]], query


def test_identity_is_unique_per_program_and_409_names_the_owner(api):
    first = api.post("/members", json=member_payload(
        identities=[{"type": "email", "value": "dup@example.com"}])).json()
    again = api.post("/members", json=member_payload(
        identities=[{"type": "email", "value": "DUP@example.com"}]))
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert again.json()["code"] == "identity_taken"
    assert again.json()["member_id"] == first["id"]


def test_same_identity_can_exist_in_another_program(api, database, clock):
    from fastapi.testclient import TestClient

    from tests.conftest import Api, make_program

    other = make_program(database, clock)
    api.post("/members", json=member_payload(
        identities=[{"type": "email", "value": "shared@example.com"}]))
    other_api = Api(api.client, database, other, clock)
    response = other_api.post("/members", json=member_payload(
        identities=[{"type": "email", "value": "shared@example.com"}]))
    assert response.status_code == 201


def test_a_key_sees_only_its_own_program(api, database, clock):
    from tests.conftest import Api, make_program

    member = api.post("/members", json=member_payload()).json()
    other_api = Api(api.client, database, make_program(database, clock), clock)
    response = other_api.get(f"/members/{member['id']}")
    assert response.status_code == 404
    assert response.json()["code"] == "member_not_found"
    assert other_api.get(f"/members/{member['id']}/balance").status_code == 404


def test_patch_changes_only_what_is_sent_and_merges_attributes(api):
    member = api.post("/members", json=member_payload(
        profile={"name": "Bo", "region": "North", "attributes": {"a": 1, "b": 2}})).json()
    patched = api.patch(f"/members/{member['id']}", json={
        "profile": {"region": "South", "attributes": {"b": None, "c": 3}},
        "consents": {"sms": False}})
    assert patched.status_code == 200, patched.text
    profile = patched.json()["profile"]
    assert profile["name"] == "Bo" and profile["region"] == "South"
    assert profile["attributes"] == {"a": 1, "c": 3}
    assert patched.json()["consents"]["sms"]["granted"] is False


def test_add_identity_is_idempotent_and_refuses_someone_elses(api):
    ann = api.post("/members", json=member_payload()).json()
    bob = api.post("/members", json=member_payload()).json()
    card = {"type": "card", "value": "CARD0001"}
    assert api.post(f"/members/{ann['id']}/identities", json=card).status_code == 200
    again = api.post(f"/members/{ann['id']}/identities", json=card)
    assert [i["value"] for i in again.json()["identities"]].count("CARD0001") == 1
    taken = api.post(f"/members/{bob['id']}/identities", json=card)
    assert taken.status_code == 409 and taken.json()["member_id"] == ann["id"]


def test_create_with_idempotency_key_returns_the_first_member(api):
    payload = member_payload()
    headers = {"Idempotency-Key": "enrol-1"}
    first = api.post("/members", json=payload, headers=headers)
    second = api.post("/members", json=payload, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    reused = api.post("/members", json=member_payload(), headers=headers)
    assert reused.status_code == 409 and reused.json()["code"] == "idempotency_key_reused"


def test_invalid_identities_get_clear_errors(api):
    bad_email = api.post("/members", json={"identities": [{"type": "email", "value": "nope"}]})
    assert bad_email.status_code == 422 and bad_email.json()["code"] == "invalid_identity"
    assert bad_email.json()["field"] == "identities[0].value"
    bad_phone = api.post("/members", json={"identities": [{"type": "phone", "value": "12"}]})
    assert bad_phone.json()["code"] == "invalid_identity"
    unknown = api.post("/members", json={"identities": [{"type": "fax", "value": "1"}]})
    assert unknown.status_code == 422 and unknown.json()["code"] == "validation_error"
    assert unknown.json()["errors"][0]["field"] == "identities[0].type"
    query = api.get("/members", params={"identity": "nocolon"})
    assert query.status_code == 422 and query.json()["field"] == "identity"


def test_list_members_pages_by_cursor(api):
    ids = [api.post("/members", json=member_payload()).json()["id"] for _ in range(5)]
    page = api.get("/members", params={"limit": 2}).json()
    seen = [m["id"] for m in page["items"]]
    while page["next_cursor"]:
        page = api.get("/members", params={"limit": 2, "after": page["next_cursor"]}).json()
        seen += [m["id"] for m in page["items"]]
    assert seen == ids


def test_a_retry_that_looked_before_the_first_enrolment_committed_answers_its_member(
        api, monkeypatch):
    payload, headers = member_payload(), {"Idempotency-Key": "enrol-race"}
    first = api.post("/members", json=payload, headers=headers)
    assert first.status_code == 201
    # The retry read the key before the first request committed, then met its identity.
    looked, calls = idempotency_repository.record_of, []
    monkeypatch.setattr(idempotency_repository, "record_of",
                        lambda *args: looked(*args) if calls.append(args) or len(calls) > 1
                        else None)
    retry = api.post("/members", json=payload, headers=headers)
    assert (retry.status_code, retry.json()) == (201, first.json())
    found = api.get("/members", params={"identity": "email:" + payload["identities"][0]["value"]})
    assert [m["id"] for m in found.json()["items"]] == [first.json()["id"]]


def test_concurrent_retries_of_one_enrolment_all_answer_the_member_it_created(api):
    for round_ in range(15):
        payload, headers = member_payload(), {"Idempotency-Key": f"enrol-{round_}"}
        answers: Counter = Counter()

        def enrol(_: int) -> None:
            response = api.post("/members", json=payload, headers=headers)
            answers[(response.status_code, response.json().get("id"),
                     response.json().get("code"))] += 1

        race(8, enrol)
        assert len(answers) == 1 and next(iter(answers))[0] == 201, answers


FUTURE_BIRTHDATE = {
    "type": "https://patron.dev/problems/validation_error", "title": "Invalid request",
    "status": 422, "code": "validation_error",
    "detail": "profile.birthdate: Value error, birthdate must be between 1900-01-01 and today",
    "errors": [{"field": "profile.birthdate", "type": "value_error",
                "message": "Value error, birthdate must be between 1900-01-01 and today"}]}


def _without_request_id(problem: dict) -> dict:
    """A problem without its request id (each answer names its own request)."""
    return {key: value for key, value in problem.items() if key != "request_id"}


def test_a_birthdate_after_today_is_refused_as_an_invalid_payload(api):
    tomorrow = (api.clock.now() + timedelta(days=1)).date().isoformat()
    refused = api.post("/members", json=member_payload(profile={"birthdate": tomorrow}),
                       headers={"Idempotency-Key": "born-tomorrow"})
    assert refused.status_code == 422 and _without_request_id(refused.json()) == FUTURE_BIRTHDATE
    member = api.post("/members", json=member_payload()).json()
    changed = api.patch(f"/members/{member['id']}", json={"profile": {"birthdate": tomorrow}})
    assert changed.status_code == 422 and _without_request_id(changed.json()) == FUTURE_BIRTHDATE
    unknown = api.patch("/members/999999", json={"profile": {"birthdate": tomorrow}})
    assert unknown.status_code == 422
    today = api.clock.now().date().isoformat()
    assert api.patch(f"/members/{member['id']}",
                     json={"profile": {"birthdate": today}}).status_code == 200
    too_early = api.post("/members", json=member_payload(profile={"birthdate": "1899-12-31"}))
    assert too_early.status_code == 422
    assert too_early.json()["errors"][0]["message"] == FUTURE_BIRTHDATE["errors"][0]["message"]
