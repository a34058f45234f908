"""``/webhooks`` over HTTP: validation as problem details, idempotent writes, admin only,
messages and replays."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from patron.api.app import create_app
from patron.cli.main import app as cli
from patron.webhooks.domain import new_secret, secret_problem
from tests.api.test_operations import scrape, value
from tests.conftest import Api
from tests.factories import member_payload
from tests.webhooks.helpers import NOWHERE
from tests.webhooks.receiver import Receiver

ENDPOINT = {"url": "https://crm.example.com/patron", "event_types": ["points.earned"]}


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code
    return body


def test_an_endpoint_is_created_with_a_standard_secret_and_listed_without_it(api):
    made = api.post("/webhooks/endpoints", json={**ENDPOINT, "description": "CRM"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert secret_problem(body["secret"]) is None and body["enabled"] is True
    assert body["event_types"] == ["points.earned"] and body["description"] == "CRM"
    [listed] = api.get("/webhooks/endpoints").json()["items"]
    assert "secret" not in listed and listed["id"] == body["id"]
    assert api.get(f"/webhooks/endpoints/{body['id']}/secret").json() == {
        "secret": body["secret"]}
    names = {t["name"] for t in api.get("/webhooks/event-types", role="integration")
             .json()["items"]}
    assert {"points.earned", "campaign.started", "coupon.issued"} <= names


def test_a_retry_with_the_same_idempotency_key_returns_the_first_endpoint(api):
    headers = {"Idempotency-Key": "hook-1"}
    first = api.post("/webhooks/endpoints", json=ENDPOINT, headers=headers)
    again = api.post("/webhooks/endpoints", json=ENDPOINT, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert len(api.get("/webhooks/endpoints").json()["items"]) == 1
    problem(api.post("/webhooks/endpoints", headers=headers,
                     json={**ENDPOINT, "url": "https://other.example.com/"}),
            409, "idempotency_key_reused")


def test_bad_endpoints_are_refused_as_problems_and_nothing_is_written(api):
    cases = [
        ({**ENDPOINT, "url": "ftp://crm.example.com/x"}, "validation_error"),
        ({**ENDPOINT, "url": "crm.example.com/x"}, "validation_error"),
        ({**ENDPOINT, "url": "https://crm.example.com/a b"}, "validation_error"),
        ({**ENDPOINT, "url": "https://crm.example.com:99999/"}, "validation_error"),
        ({**ENDPOINT, "url": "https://x.example.com/" + "a" * 2000}, "validation_error"),
        ({**ENDPOINT, "url": "https://crm.example.com/\u0000"}, "validation_error"),
        ({**ENDPOINT, "event_types": []}, "validation_error"),
        ({**ENDPOINT, "event_types": "points.earned"}, "validation_error"),
        ({**ENDPOINT, "extra": 1}, "validation_error"),
        ({"event_types": ["points.earned"]}, "validation_error"),
        ({**ENDPOINT, "secret": "whsec_QUJD"}, "invalid_webhook_secret"),
        ({**ENDPOINT, "secret": "plain-password"}, "invalid_webhook_secret"),
    ]
    for payload, code in cases:
        problem(api.post("/webhooks/endpoints", json=payload), 422, code)
    unknown = problem(api.post("/webhooks/endpoints", json={
        **ENDPOINT, "event_types": ["points.earned", "points.stolen"]}), 422,
        "unknown_event_type")
    assert unknown["event_type"] == "points.stolen" and "points.earned" in unknown["known"]
    problem(api.post("/webhooks/endpoints", json=ENDPOINT, role="integration"), 403,
            "forbidden")
    assert api.get("/webhooks/endpoints").json()["items"] == []


def test_a_given_secret_is_kept(api):
    secret = new_secret()
    made = api.post("/webhooks/endpoints", json={**ENDPOINT, "secret": secret}).json()
    assert made["secret"] == secret


def test_patch_changes_what_is_sent_and_again_changes_nothing(api):
    made = api.post("/webhooks/endpoints", json=ENDPOINT).json()
    change = {"event_types": ["tier.changed", "tier.changed", "points.spent"], "enabled": False}
    first = api.patch(f"/webhooks/endpoints/{made['id']}", json=change)
    assert first.status_code == 200, first.text
    assert first.json()["event_types"] == ["tier.changed", "points.spent"]
    assert first.json()["enabled"] is False and first.json()["url"] == ENDPOINT["url"]
    again = api.patch(f"/webhooks/endpoints/{made['id']}", json=change)
    assert again.json() == first.json()
    problem(api.patch(f"/webhooks/endpoints/{made['id']}", json={"event_types": ["nope"]}),
            422, "unknown_event_type")
    problem(api.patch(f"/webhooks/endpoints/{made['id']}", json={"url": "mailto:x@y.z"}), 422,
            "validation_error")
    problem(api.patch("/webhooks/endpoints/999999999", json=change), 404,
            "webhook_endpoint_not_found")


def test_delete_removes_the_endpoint_and_its_messages_and_again_is_404(api):
    made = api.post("/webhooks/endpoints", json={**ENDPOINT, "url": NOWHERE,
                                                 "event_types": ["member.enrolled"]}).json()
    member = api.post("/members", json=member_payload()).json()
    [message] = api.get("/webhooks/messages").json()["items"]
    assert message["member_id"] == member["id"]
    once = {"Idempotency-Key": "drop-crm"}
    path = f"/webhooks/endpoints/{made['id']}"
    assert api.request("DELETE", path, headers=once).status_code == 204
    assert api.request("DELETE", path, headers=once).status_code == 204    # a retry
    problem(api.request("DELETE", path), 404, "webhook_endpoint_not_found")
    problem(api.get(path), 404, "webhook_endpoint_not_found")
    assert api.get("/webhooks/endpoints").json()["items"] == []
    assert api.get("/webhooks/messages").json()["items"] == []
    problem(api.get(f"/webhooks/messages/{message['id']}"), 404, "webhook_message_not_found")


def test_messages_are_listed_paged_and_replayed(api):
    made = api.post("/webhooks/endpoints", json={**ENDPOINT, "url": NOWHERE,
                                                 "event_types": ["member.enrolled"]}).json()
    members = [api.post("/members", json=member_payload()).json()["id"] for _ in range(3)]
    page = api.get(f"/webhooks/endpoints/{made['id']}/messages", params={"limit": 2}).json()
    assert [m["member_id"] for m in page["items"]] == members[:0:-1]
    rest = api.get(f"/webhooks/endpoints/{made['id']}/messages",
                   params={"cursor": page["next_cursor"]}).json()
    assert [m["member_id"] for m in rest["items"]] == members[:1] and rest["next_cursor"] is None
    mine = api.get("/webhooks/messages", params={"member_id": members[1]}).json()["items"]
    assert [m["payload"]["data"]["member_id"] for m in mine] == [members[1]]
    assert mine[0]["payload"]["type"] == "member.enrolled" and mine[0]["state"] == "pending"
    detail = api.get(f"/webhooks/messages/{mine[0]['id']}").json()
    assert detail["deliveries"] == [] and detail["webhook_id"] == mine[0]["webhook_id"]
    replayed = api.post(f"/webhooks/messages/{mine[0]['id']}/replay")
    assert replayed.status_code == 200 and replayed.json()["state"] == "pending"
    assert api.post(f"/webhooks/endpoints/{made['id']}/replay", json={}).json() == {
        "replayed": 0}                                   # nothing is dead
    assert api.post(f"/webhooks/endpoints/{made['id']}/replay",
                    json={"state": "pending"}).json() == {"replayed": 3}
    problem(api.get("/webhooks/messages", params={"cursor": "¹"}), 422, "invalid_cursor")
    problem(api.get("/webhooks/messages", params={"state": "lost"}), 422, "validation_error")
    problem(api.post(f"/webhooks/endpoints/{made['id']}/replay", json={"state": "x"}), 422,
            "validation_error")
    problem(api.post("/webhooks/messages/999999999/replay"), 404, "webhook_message_not_found")


def test_the_cli_adds_lists_and_shows_deliveries(api):
    url = api.db.engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    added = runner.invoke(cli, ["webhooks", "add", NOWHERE, "--program", api.program.slug,
                                "--event", "member.enrolled", "--db", url])
    assert added.exit_code == 0, added.output
    assert "secret: whsec_" in added.output
    refused = runner.invoke(cli, ["webhooks", "add", NOWHERE, "--program", api.program.slug,
                                  "--event", "nope", "--db", url])
    assert refused.exit_code == 2 and "unknown_event_type" in refused.output
    listed = runner.invoke(cli, ["webhooks", "list", "--program", api.program.slug,
                                 "--db", url])
    assert NOWHERE in listed.output and "member.enrolled" in listed.output
    member = api.post("/members", json=member_payload()).json()
    shown = runner.invoke(cli, ["webhooks", "deliveries", "--program", api.program.slug,
                                "--db", url])
    assert "member.enrolled" in shown.output and str(member["id"]) in shown.output
    [message] = api.get("/webhooks/messages").json()["items"]
    replay = runner.invoke(cli, ["webhooks", "replay", "--program", api.program.slug,
                                 "--message", str(message["id"]), "--db", url])
    assert replay.exit_code == 0 and "due now" in replay.output
    sent = runner.invoke(cli, ["webhooks", "deliver", "--program", api.program.slug,
                               "--db", url])
    assert sent.exit_code == 0 and "claimed 1" in sent.output and "retrying 1" in sent.output


def test_metrics_show_the_outbox_read_at_scrape_time(api):
    api.post("/webhooks/endpoints", json={**ENDPOINT, "url": NOWHERE,
                                          "event_types": ["member.enrolled"]})
    for _ in range(2):
        api.post("/members", json=member_payload())
    samples = scrape(api.client)
    assert value(samples, "patron_webhook_outbox_messages", program=api.program.slug,
                 state="pending") == 2


def test_the_server_delivers_in_a_thread_of_its_own(database, program, clock):
    app = create_app(database, clock, webhooks_interval=0.05)
    with Receiver() as receiver, TestClient(app) as client:
        api = Api(client, database, program, clock)
        api.post("/webhooks/endpoints", json={**ENDPOINT, "url": receiver.url,
                                              "event_types": ["member.enrolled"]})
        member = api.post("/members", json=member_payload()).json()
        deadline = time.monotonic() + 60        # however slow the machine: not a timing check
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.02)
    [got] = receiver.received
    assert b'"member.enrolled"' in got["body"] and f'"member_id":{member["id"]}'.encode() in got[
        "body"]
