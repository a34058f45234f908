"""Consents per channel and purpose, with their history, on SQLite and PostgreSQL."""

from __future__ import annotations

from patron.members import consents
from patron.members.consents import Decision
from tests.factories import member_payload


def enrol(api, **overrides) -> dict:
    response = api.post("/members", json=member_payload(**overrides))
    assert response.status_code == 201, response.text
    return response.json()


def post_consents(api, member_id: int, *items: dict, **kwargs):
    return api.post(f"/members/{member_id}/consents", json={"consents": list(items)},
                    **kwargs)


def allowed(api, member_id: int, channel: str, purpose: str = "marketing") -> bool:
    return api.db.read(lambda conn: consents.allowed(conn, member_id, channel, purpose))


def test_grant_and_withdraw_keep_the_whole_history_with_who_when_and_where(api, clock):
    member = enrol(api, profile={"name": "Ann", "join_channel": "web"},
                   consents={"email_marketing": True})
    clock.advance(days=3)
    changed = post_consents(api, member["id"],
                            {"channel": "sms", "purpose": "marketing", "granted": True,
                             "source": "pos", "notice": "privacy-2026-01"},
                            {"channel": "email", "granted": False, "source": "app"},
                            role="integration")
    assert changed.status_code == 200, changed.text
    body = changed.json()
    history = [(c["channel"], c["purpose"], c["granted"], c["source"]) for c in body["history"]]
    assert history == [("email", "marketing", True, "web"), ("sms", "marketing", True, "pos"),
                       ("email", "marketing", False, "app")]
    key_id = api.db.read(lambda conn: conn.exec_driver_sql(
        "SELECT id FROM api_keys WHERE program_id = %d AND role = 'integration'"
        % api.program.id).scalar())
    assert {c["actor"] for c in body["history"][1:]} == {f"key:{key_id}"}
    assert body["history"][0]["recorded_at"] == "2026-03-02T12:00:00Z"
    assert body["history"][1]["recorded_at"] == "2026-03-05T12:00:00Z"
    assert body["history"][1]["notice"] == "privacy-2026-01"
    assert [(c["channel"], c["granted"]) for c in body["current"]] == [("sms", True),
                                                                       ("email", False)]
    assert api.get(f"/members/{member['id']}/consents").json() == body
    record = api.get(f"/members/{member['id']}").json()["consents"]
    assert record["email_marketing"]["granted"] is False
    assert (record["sms_marketing"]["channel"], record["sms_marketing"]["source"]) == ("sms",
                                                                                      "pos")
    assert not allowed(api, member["id"], "email") and allowed(api, member["id"], "sms")


def test_sending_the_same_decision_again_records_nothing_and_a_key_replays(api):
    member = enrol(api)
    grant = {"channel": "push", "purpose": "offers", "granted": True}
    first = post_consents(api, member["id"], grant).json()
    again = post_consents(api, member["id"], grant).json()
    assert len(first["history"]) == len(again["history"]) == 1
    keyed = post_consents(api, member["id"], dict(grant, granted=False),
                          headers={"Idempotency-Key": "prefs-1"})
    post_consents(api, member["id"], grant)  # granted again after the keyed withdrawal
    replay = post_consents(api, member["id"], dict(grant, granted=False),
                           headers={"Idempotency-Key": "prefs-1"})
    assert replay.json() == keyed.json()
    assert len(api.get(f"/members/{member['id']}/consents").json()["history"]) == 3


def test_the_latest_decision_wins_between_a_channel_and_any_channel(database, program, clock):
    member_id = _member(database, program, clock)

    def decide(*decisions: Decision) -> None:
        clock.advance(minutes=1)
        database.transact(lambda conn: consents.record(
            conn, program.id, member_id, list(decisions), actor="test", now=clock.now()))

    def may(channel: str) -> bool:
        return database.read(lambda conn: consents.allowed(conn, member_id, channel))

    assert not may("email")  # no decision: no contact
    decide(Decision("any", "marketing", True))
    assert may("email") and may("post")
    decide(Decision("email", "marketing", False))
    assert not may("email") and may("post")
    decide(Decision("any", "marketing", False))
    assert not may("post")
    decide(Decision("email", "marketing", True))
    assert may("email") and not may("sms")
    assert not database.read(lambda conn: consents.allowed(conn, member_id, "email",
                                                           "surveys"))
    assert not database.read(lambda conn: consents.allowed(conn, 10**15, "email"))


def _member(database, program, clock) -> int:
    from patron.flows.enrolment import create_member
    from tests.factories import member_create

    return database.transact(lambda conn: create_member(conn, program, member_create(),
                                                        clock.now())).id


def test_enrolment_takes_consents_as_a_list_and_patch_records_the_short_form(api, clock):
    member = enrol(api, profile={"join_channel": "app"}, consents=[
        {"channel": "email", "purpose": "newsletter", "granted": True, "notice": "v3"},
        {"channel": "any", "purpose": "profiling", "granted": False}])
    assert set(member["consents"]) == {"email_newsletter", "profiling"}
    clock.advance(hours=1)
    patched = api.patch(f"/members/{member['id']}", json={"consents": {"profiling": True}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["consents"]["profiling"]["granted"] is True
    history = api.get(f"/members/{member['id']}/consents").json()["history"]
    assert [(c["channel"], c["purpose"], c["granted"], c["source"], c["notice"])
            for c in history] == [("email", "newsletter", True, "app", "v3"),
                                  ("any", "profiling", False, "app", None),
                                  ("any", "profiling", True, None, None)]
    assert allowed(api, member["id"], "sms", "profiling")
    assert not allowed(api, member["id"], "sms", "newsletter")


def test_bad_consents_are_problems_naming_the_field(api):
    member = enrol(api)
    cases = [
        ({"channel": "fax", "granted": True}, "channel"),
        ({"channel": "any", "purpose": "email_marketing", "granted": True}, None),
        ({"channel": "email", "purpose": "Marketing!", "granted": True}, "purpose"),
        ({"channel": "email", "granted": "maybe"}, "granted"),
    ]
    for item, field in cases:
        response = post_consents(api, member["id"], item)
        assert response.status_code == 422, item
        assert response.json()["code"] == "validation_error"
        if field:
            assert any(e["field"].endswith(field) for e in response.json()["errors"]), item
    twice = post_consents(api, member["id"], {"channel": "sms", "granted": True},
                          {"channel": "sms", "granted": False})
    assert twice.status_code == 422 and "listed twice" in twice.text
    assert api.post(f"/members/{member['id']}/consents", json={"consents": []}
                    ).status_code == 422
    assert post_consents(api, 10**12, {"channel": "sms", "granted": True}
                         ).json()["code"] == "member_not_found"
    assert api.post(f"/members/{member['id']}/consents", role="analyst",
                    json={"consents": [{"channel": "sms", "granted": True}]}
                    ).status_code == 403
    assert api.get(f"/members/{member['id']}/consents").json()["history"] == []
