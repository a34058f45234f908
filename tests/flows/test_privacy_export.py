"""A member's export: every table about a member has a section, and the export holds it all."""

from __future__ import annotations

import json

from sqlalchemy import BigInteger, Column, ForeignKey, MetaData, Table
from typer.testing import CliRunner

from patron.cli.main import app as cli
from patron.flows.privacy.sections import NOT_EXPORTED, SECTIONS
from patron.migrations.tables import all_tables
from tests.flows.privacy_shop import ann_everywhere, enrol


def member_tables(metadata: MetaData) -> set[str]:
    """Tables that name a member (a ``member_id`` column, or a key to ``members``), and
    tables that hang off those (an order's lines, an account's lots), through any depth."""
    found = {"members"}
    for table in metadata.sorted_tables:
        if any(c.name == "member_id" or c.name.endswith("_member_id") for c in table.columns):
            found.add(table.name)
    while True:
        more = {table.name for table in metadata.sorted_tables if table.name not in found
                and any(fk.column.table.name in found for fk in table.foreign_keys)}
        if not more:
            return found
        found |= more


def test_every_table_about_a_member_has_an_export_section():
    covered = {section.table.name for section in SECTIONS} | set(NOT_EXPORTED)
    tables = member_tables(all_tables())
    assert tables - covered == set(), "tables about members missing from the export"
    assert covered - tables == set(), "export sections of tables that are not about members"
    assert len({section.name for section in SECTIONS}) == len(SECTIONS)
    assert {"ledger_entries", "lots", "order_lines", "consent_changes", "audit_log",
            "households", "segment_members"} <= tables


def test_a_new_table_about_members_is_seen_by_the_check():
    copy = MetaData()
    for table in all_tables().sorted_tables:
        table.to_metadata(copy)
    Table("loyalty_notes", copy, Column("id", BigInteger, primary_key=True),
          Column("author", BigInteger, ForeignKey("members.id")))
    Table("loyalty_note_replies", copy, Column("id", BigInteger, primary_key=True),
          Column("note_id", BigInteger, ForeignKey("loyalty_notes.id")))
    tables = member_tables(copy)
    assert {"loyalty_notes", "loyalty_note_replies"} <= tables
    assert "programs" not in tables and "idempotency_records" not in tables


def test_the_export_holds_everything_about_the_member(api):
    ids = ann_everywhere(api)
    ann = ids["ann"]
    api.post(f"/members/{ann}/portal-links").raise_for_status()
    response = api.get(f"/members/{ann}/export")
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == (
        f'attachment; filename="member-{ann}.json"')
    body = response.json()
    assert (body["format"], body["member_id"], body["records"]) == (
        "patron.member-export/1", ann, [ann])
    assert body["program"]["slug"] == api.program.slug
    sections = body["sections"]
    assert set(sections) == set(body["descriptions"]) == {s.name for s in SECTIONS}
    [member] = sections["member"]
    assert (member["family_name"], member["city"], member["birthdate"]) == (
        "Leeworthy", "Surry Hills", "1990-04-02")
    assert {i["value"] for i in sections["identities"]} == {"ann.lee@example.com",
                                                           "+12025550143"}
    assert [(c["channel"], c["granted"], c["notice"]) for c in sections["consent_changes"]] == [
        ("email", True, "v1"), ("sms", True, None)]
    assert sorted(e["kind"] for e in sections["ledger_entries"]) == [
        "earn", "earn", "spend", "transfer"]
    assert sum(e["points"] for e in sections["ledger_entries"]) == sum(
        a["available"] for a in sections["accounts"]) == 120 + 5 - 20 - 10
    assert {lot["entry_id"] for lot in sections["lots"]} <= {
        e["id"] for e in sections["ledger_entries"]}
    assert [(o["order_id"], o["total"]) for o in sections["orders"]] == [(f"O-{ann}-1", 120_00)]
    assert [line["sku"] for line in sections["order_lines"]] == ["BEANS-1"]
    assert [e["type"] for e in sections["events"]] == ["purchase", "review"]
    assert sections["events"][1]["data"]["comment"] == "leave it by the red door"
    assert [t["message"] for t in sections["point_transfers"]] == ["Happy birthday Bob"]
    assert [s["status"] for s in sections["status_changes"]] == ["blocked", "active"]
    assert [t["tag"] for t in sections["tags"]] == ["expecting-twins"]
    assert sections["tier_states"][0]["manual_reason"] == "owner's sister"
    assert {e["operation"] for e in sections["audit_entries"]} >= {
        "POST /api/v1/members/{member_id}/spends", "POST /api/v1/members/{member_id}/status"}
    [link] = sections["portal_links"]
    assert "token_hash" not in link and link["member_id"] == ann
    assert sections["households"] == [] and sections["merges"] == []
    # Bob's rows stay out of Ann's export
    assert all(row.get("member_id") in (None, ann) for name, rows in sections.items()
               if name != "point_transfers" for row in rows)


def test_a_merged_record_exports_the_survivor_with_it_and_only_admins_export(api):
    ids = ann_everywhere(api)
    twin = enrol(api, {"identities": [{"type": "card", "value": "CARD-77"}],
                       "profile": {"given_name": "A.", "family_name": "Leeworthy"}})
    api.post(f"/members/{ids['ann']}/merges", json={"member_id": twin}).raise_for_status()
    body = api.get(f"/members/{twin}/export").json()
    assert (body["member_id"], body["records"]) == (ids["ann"], [ids["ann"], twin])
    assert [m["id"] for m in body["sections"]["member"]] == [ids["ann"], twin]
    assert "CARD77" in {i["value"] for i in body["sections"]["identities"]}
    assert [(m["survivor_id"], m["merged_id"]) for m in body["sections"]["merges"]] == [
        (ids["ann"], twin)]
    for role in ("integration", "analyst"):
        assert api.get(f"/members/{ids['ann']}/export", role=role).status_code == 403
    missing = api.get("/members/999999999999/export")
    assert (missing.status_code, missing.json()["code"]) == (404, "member_not_found")


def test_patron_members_export_writes_the_same_json(api, database, tmp_path):
    ids = ann_everywhere(api)
    url = database.engine.url.render_as_string(hide_password=False)
    out = tmp_path / "ann.json"
    done = CliRunner().invoke(cli, ["members", "export", str(ids["ann"]), "--out", str(out),
                                    "--program", api.program.slug, "--db", url])
    assert done.exit_code == 0, done.output
    written = json.loads(out.read_text())
    served = api.get(f"/members/{ids['ann']}/export").json()
    written.pop("exported_at"), served.pop("exported_at")
    assert written == served
    missing = CliRunner().invoke(cli, ["members", "export", "999999999999", "--program",
                                       api.program.slug, "--db", url])
    assert missing.exit_code == 2 and "member_not_found" in missing.output
