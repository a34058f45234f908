"""Erasing a member: personal data gone, every point and total where it was."""

from __future__ import annotations

import json

from sqlalchemy import select
from typer.testing import CliRunner

from patron import hooks
from patron.analytics.query import ReportQuery
from patron.analytics.service import run_report
from patron.cli.main import app as cli
from patron.matching import candidates
from patron.matching.schemas import MergeCandidate
from patron.members import consents
from patron.members.tables import merge_candidates
from tests.flows.privacy_shop import ANN, SECRETS, ann_everywhere, enrol

REPORTS = ("points", "members", "stores", "products", "rewards")


def totals(api) -> dict:
    """What finance reads: each report's summary, the liability, both balances."""
    def read(conn):
        found = {}
        for name in REPORTS:
            report = run_report(conn, api.program, name, ReportQuery(), api.clock.now())
            found[name] = report.summary.model_dump()
            if name == "points":
                found["liability"] = report.liability.model_dump()
        return found
    return api.db.read(read)


def books(api, ids: dict[str, int]) -> dict:
    return {name: (api.get(f"/members/{member}/balance").json(),
                   [(e["id"], e["kind"], e["points"], e["reason"]) for e in
                    api.get(f"/members/{member}/ledger").json()["items"]],
                   api.get(f"/members/{member}/wallet").json()["balance"])
            for name, member in ids.items()}


def erase(api, member_id: int, key: str | None = None, **body):
    headers = {"Idempotency-Key": key} if key else {}
    return api.post(f"/members/{member_id}/erase", json=body or None, headers=headers)


def test_erasure_keeps_the_ledger_and_every_total_and_leaves_no_personal_data(api):
    ids = ann_everywhere(api)
    ann = ids["ann"]
    before, kept = totals(api), books(api, ids)
    assert before["liability"]["points"] > 0 and before["members"]["revenue"] == 150_00
    held = json.dumps(api.get(f"/members/{ann}/export").json()).lower()
    assert [secret for secret in SECRETS if secret.lower() not in held] == []
    heard: list[hooks.MemberErased] = []

    def listen(conn, happened: hooks.MemberErased) -> None:
        heard.append(happened)
    hooks.subscribe(hooks.MemberErased, listen)
    try:
        done = erase(api, ann, reason="request DSR-42")
    finally:
        hooks.unsubscribe(hooks.MemberErased, listen)
    assert done.status_code == 200, done.text
    answer = done.json()
    assert (answer["member_id"], answer["status"], answer["records"]) == (ann, "erased", [ann])
    assert (answer["identities_pseudonymised"], answer["consents_withdrawn"]) == (2, 2)
    assert answer["reason"] == "request DSR-42" and answer["actor"].startswith("key:")
    assert [(h.member_id, h.records, h.reason) for h in heard] == [
        (ann, (ann,), "request DSR-42")]

    assert totals(api) == before
    assert books(api, ids) == kept

    for identity in ("email:ann.lee@example.com", "phone:+12025550143"):
        assert api.get("/members", params={"identity": identity}).json()["items"] == []
    record = api.get(f"/members/{ann}").json()
    assert record["status"] == "erased" and record["standing"]["reason"] == "request DSR-42"
    assert record["profile"] == {"name": None, "given_name": None, "family_name": None,
                                 "birthdate": None, "gender": None, "address": None,
                                 "region": None, "join_channel": "web", "attributes": {}}
    assert all(i["value"].startswith("erased:") and len(i["value"]) == 39
               for i in record["identities"])
    assert len({i["value"] for i in record["identities"]}) == 2
    assert not any(c["granted"] for c in record["consents"].values())
    assert not api.db.read(lambda conn: consents.allowed(conn, ann, "email"))

    export = api.get(f"/members/{ann}/export").json()
    text = json.dumps(export)
    assert [secret for secret in SECRETS if secret.lower() in text.lower()] == []
    sections = export["sections"]
    assert [e["data"] for e in sections["events"] if e["type"] == "review"] == [
        {"product_sku": "BEANS-1", "rating": 5}]
    assert [e["data"]["lines"] for e in sections["events"] if e["type"] == "purchase"] == [
        [{"sku": "BEANS-1", "category": "beans", "quantity": 1, "amount": 120_00}]]
    assert sections["tags"] == [] and sections["features"] == []
    assert [t["points"] for t in sections["point_transfers"]] == [10]
    assert [(c["channel"], c["granted"], c["source"]) for c in sections["consent_changes"]] == [
        ("email", True, "web"), ("sms", True, "web"), ("email", False, "erasure"),
        ("sms", False, "erasure")]
    assert [s["status"] for s in sections["status_changes"]] == ["blocked", "active", "erased"]

    bob = api.get(f"/members/{ids['bob']}").json()
    assert bob["profile"]["given_name"] == "Bob" and bob["status"] == "active"
    received = api.get(f"/members/{ids['bob']}/ledger").json()["items"]
    assert all("message" not in (e["details"] or {}) for e in received)

    audit = api.get("/audit", params={"member_id": ann}).json()["items"]
    assert (audit[0]["operation"], audit[0]["outcome"]) == (
        "POST /api/v1/members/{member_id}/erase", "succeeded")


def test_erasing_twice_is_409_and_a_retry_with_its_key_answers_the_same(api):
    ids = ann_everywhere(api)
    ann = ids["ann"]
    first = erase(api, ann, "erase-ann", reason="asked")
    assert first.status_code == 200
    assert erase(api, ann, "erase-ann", reason="asked").json() == first.json()
    for again in (erase(api, ann), erase(api, ann, "erase-ann-2")):
        assert again.status_code == 409
        assert again.headers["content-type"].startswith("application/problem+json")
        assert (again.json()["code"], again.json()["member_id"]) == ("member_erased", ann)
    reused = erase(api, ann, "erase-ann", reason="something else")
    assert reused.json()["code"] == "idempotency_key_reused"

    refusals = {
        "spend": api.post(f"/members/{ann}/spends", json={
            "points": 1, "reason": "x", "idempotency_key": "late-spend"}),
        "patch": api.patch(f"/members/{ann}", json={"profile": {"given_name": "Ann"}}),
        "identity": api.post(f"/members/{ann}/identities",
                             json={"type": "email", "value": "ann.lee@example.com"}),
        "consent": api.post(f"/members/{ann}/consents",
                            json={"consents": [{"channel": "email", "granted": True}]}),
        "tag": api.request("PUT", f"/members/{ann}/tags/vip"),
        "portal link": api.post(f"/members/{ann}/portal-links"),
    }
    assert {name: (r.status_code, r.json()["code"]) for name, r in refusals.items()} == {
        name: (409, "member_erased") for name in refusals}
    reopened = api.post(f"/members/{ann}/status", json={"status": "active"})
    assert reopened.json()["code"] == "status_change_not_allowed"
    for role in ("integration", "analyst"):
        assert api.post(f"/members/{ids['bob']}/erase", role=role).status_code == 403
    assert api.post("/members/999999999999/erase").json()["code"] == "member_not_found"

    late = api.post("/events", json={
        "id": "late-1", "type": "purchase", "member": {"id": ann},
        "occurred_at": api.clock.now().isoformat(),
        "data": {"order_id": "O-late", "currency": "USD", "total": 10_00}}).json()
    assert late["points"] == 0 and late["notes"][0]["code"] == "member_erased"
    stranger = api.post("/events", json={
        "id": "late-2", "type": "purchase",
        "member": {"identity": {"type": "email", "value": "Ann.Lee@Example.com"}},
        "occurred_at": api.clock.now().isoformat(),
        "data": {"order_id": "O-new", "currency": "USD", "total": 10_00}}).json()
    assert stranger["enrolled"] is True and stranger["member_id"] not in (ann, ids["bob"])


def test_a_merged_record_is_erased_with_its_survivor_and_kept_answers_lose_the_data(api):
    ids = ann_everywhere(api)
    ann = ids["ann"]
    twin_payload = {"identities": [{"type": "card", "value": "CARD-77"}],
                    "profile": {"given_name": "Ann", "family_name": "Leeworthy"}}
    created = api.post("/members", json=twin_payload, headers={"Idempotency-Key": "twin"})
    twin = created.json()["id"]
    other = enrol(api, {"identities": [{"type": "email", "value": "carla@example.com"}]})
    pair = api.db.transact(lambda conn: candidates.suggest(
        conn, api.program.id, other, ann, probability=0.95, rule="family_birthdate",
        evidence={"family_name": {"values": {str(ann): "Leeworthy"}}}, now=api.clock.now()))
    merge = api.post(f"/members/{ann}/merges", json={"member_id": twin,
                                                     "reason": "same Leeworthy"}).json()
    decided = api.post(f"/merge-candidates/{pair}/reject", json={"reason": "Leeworthy's aunt"},
                       headers={"Idempotency-Key": "reject-pair"})
    assert decided.status_code == 200 and "Leeworthy" in decided.text

    done = erase(api, twin)  # the merged id stands for the survivor
    assert (done.json()["member_id"], done.json()["records"]) == (ann, [ann, twin])
    retried = api.post("/members", json=twin_payload, headers={"Idempotency-Key": "twin"})
    assert retried.status_code == 201 and retried.json()["id"] == twin
    assert "Leeworthy" not in retried.text and "CARD77" not in retried.text
    again = api.post(f"/merge-candidates/{pair}/reject", json={"reason": "Leeworthy's aunt"},
                     headers={"Idempotency-Key": "reject-pair"})
    assert again.status_code == 200 and "Leeworthy" not in again.text
    MergeCandidate.model_validate(again.json())
    row = api.db.read(lambda conn: conn.execute(
        select(merge_candidates).where(merge_candidates.c.id == pair)).one())
    assert (row.state, row.evidence, row.reason) == ("rejected", {}, None)

    export = json.dumps(api.get(f"/members/{ann}/export").json())
    assert "Leeworthy" not in export and "CARD77" not in export
    undo = api.post(f"/merges/{merge['id']}/undo")
    assert (undo.status_code, undo.json()["code"]) == (409, "member_erased")
    assert api.get(f"/members/{twin}", follow_redirects=False).status_code == 301


def test_a_pending_candidate_with_an_erased_member_is_rejected(api):
    ids = ann_everywhere(api)
    pair = api.db.transact(lambda conn: candidates.suggest(
        conn, api.program.id, ids["ann"], ids["bob"], probability=0.91, rule="m",
        evidence={"given_name": {"values": ["Ann", "Bob"]}}, now=api.clock.now()))
    erase(api, ids["ann"]).raise_for_status()
    row = api.db.read(lambda conn: conn.execute(
        select(merge_candidates).where(merge_candidates.c.id == pair)).one())
    assert (row.state, row.reason, row.evidence) == ("rejected", "member erased", {})
    assert api.get("/merge-candidates").json()["items"] == []


def test_patron_members_erase(api, database):
    ids = ann_everywhere(api)
    url = database.engine.url.render_as_string(hide_password=False)
    args = ["members", "erase", str(ids["ann"]), "--program", api.program.slug, "--db", url,
            "--reason", "paper form 17", "--yes"]
    done = CliRunner().invoke(cli, args)
    assert done.exit_code == 0, done.output
    assert "2 identities pseudonymised" in done.output
    assert api.get("/members", params={"identity": "email:" + ANN["identities"][0]["value"]}
                   ).json()["items"] == []
    [entry] = [e for e in api.get("/audit", params={"member_id": ids["ann"]}).json()["items"]
               if e["actor"] == "cli"]
    assert entry["operation"] == "cli: patron members erase"
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 2 and "member_erased" in again.output
