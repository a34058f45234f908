"""The console's staff pages over HTTP: households, tiers by hand, status, merges and the
merge review queue; roles and CSRF for each action; forms that fail validation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from patron.auth.service import Role
from patron.matching import candidates
from patron.program.document import ProgramDocument
from patron.program.service import get_program
from patron.program.versions import publish
from tests.factories import member_payload
from tests.flows.test_ingest import BASE
from tests.households.conftest import POOLED
from tests.tiers.test_tiers import LADDER
from tests.web.test_console import console  # noqa: F401 - the signed-in client fixture


@pytest.fixture
def shop(api):
    """The ``api`` client on a program with pooled households (3 at most) and tiers."""
    document = ProgramDocument.model_validate({
        "name": "Shop", "settings": {"currency": "USD", "pending_days": 0,
                                     "expiry": {"days": None}},
        "earn_rules": [BASE], "tiers": {"metric": "qualifying_spend", "levels": LADDER},
        "households": {**POOLED, "max_members": 3}})
    api.db.transact(lambda conn: publish(conn, get_program(conn, api.program.id), document,
                                         actor="test", now=api.clock.now()))
    return api


def new_member(api, points: int = 0, **payload) -> int:
    member_id = api.post("/members", json=member_payload(**payload)).json()["id"]
    if points:
        assert api.post(f"/members/{member_id}/adjustments", json={
            "points": points, "reason": "welcome",
            "idempotency_key": f"w{member_id}"}).status_code == 201
    return member_id


def family(api, owner: int, *adults: int) -> int:
    created = api.post("/households", json={"name": "The Smiths", "owner_member_id": owner})
    household_id = created.json()["id"]
    for adult in adults:
        assert api.post(f"/households/{household_id}/members",
                        json={"member_id": adult, "role": "adult"}).status_code == 201
    return household_id


def test_households_list_with_head_members_and_pool_and_search(console, shop):  # noqa: F811
    owner, adult = new_member(shop, 120), new_member(shop, 30)
    household_id = family(shop, owner, adult)
    console.sign_in(Role.ANALYST)
    listed = console.client.get("/console/households").text
    assert "The Smiths" in listed and f'href="/console/households/{household_id}"' in listed
    assert '<td class="num">150</td>' in listed  # both members' points, pooled
    for query in ("smith", str(adult)):
        assert "The Smiths" in console.client.get(f"/console/households?q={query}").text
    assert "No household matches" in console.client.get("/console/households?q=jones").text
    page = console.client.get(f"/console/households/{household_id}").text
    assert 'id="pool-available">150<' in page and f"#{adult}" in page
    assert "Add a member" not in page and "Remove" not in page  # analysts only read
    member_page = console.client.get(f"/console/members/{owner}").text
    assert f'href="/console/households/{household_id}" id="household-link"' in member_page


def test_staff_add_and_remove_members_under_the_household_rules(console, shop):  # noqa: F811
    owner, adult, child, fourth = (new_member(shop) for _ in range(4))
    household_id = family(shop, owner, adult)
    token = console.sign_in(Role.INTEGRATION)
    path = f"/console/households/{household_id}"
    added = console.client.post(f"{path}/members", data={
        "member_id": child, "role": "child", "csrf_token": token}, follow_redirects=False)
    assert added.status_code == 303
    again = console.client.post(f"{path}/members", data={
        "member_id": child, "role": "child", "csrf_token": token})
    assert 'role="alert"' in again.text and "already belongs" in again.text
    full = console.client.post(f"{path}/members", data={
        "member_id": fourth, "role": "adult", "csrf_token": token})
    assert 'id="member-error"' in full.text and f'value="{fourth}"' in full.text
    owner_leaves = console.client.post(f"{path}/members/{owner}/remove",
                                       data={"csrf_token": token})
    assert 'role="alert"' in owner_leaves.text
    removed = console.client.post(f"{path}/members/{adult}/remove", data={"csrf_token": token},
                                  follow_redirects=False)
    assert removed.status_code == 303
    body = shop.get(f"/households/{household_id}").json()
    assert {(m["member_id"], m["role"]) for m in body["members"]} == {
        (owner, "owner"), (child, "child")}


def test_household_actions_need_the_role_and_the_token(console, shop):  # noqa: F811
    owner, other = new_member(shop), new_member(shop)
    household_id = family(shop, owner)
    token = console.sign_in(Role.ANALYST)
    path = f"/console/households/{household_id}/members"
    denied = console.client.post(path, data={"member_id": other, "role": "adult",
                                             "csrf_token": token})
    assert denied.status_code == 403 and "<html" in denied.text
    console.sign_in(Role.ADMIN)
    forged = console.client.post(path, data={"member_id": other, "role": "adult",
                                             "csrf_token": "forged"})
    assert forged.status_code == 403
    assert len(shop.get(f"/households/{household_id}").json()["members"]) == 1


def test_an_admin_sets_a_tier_once_with_a_reason(console, shop):  # noqa: F811
    member = new_member(shop)
    token = console.sign_in(Role.ADMIN)
    path = f"/console/members/{member}"
    assert "Set a tier" in console.client.get(path).text
    until = (shop.clock.now() + timedelta(days=30)).date().isoformat()
    form = {"tier": "gold", "until": until, "reason": "Complaint made good",
            "csrf_token": token}
    for _ in range(2):
        assert console.client.post(f"{path}/tier", data=form,
                                   follow_redirects=False).status_code == 303
    tier = shop.get(f"/members/{member}/tier").json()
    assert tier["tier"]["id"] == "gold" and tier["source"] == "manual"
    assert [h["kind"] for h in tier["history"]].count("manual") == 1
    assert "Complaint made good" in tier["history"][0]["reason"]
    unknown = console.client.post(f"{path}/tier", data={**form, "tier": "diamond"})
    assert 'id="tier-error"' in unknown.text and "Complaint made good" in unknown.text


def test_only_admins_set_tiers_merge_or_undo(console, shop):  # noqa: F811
    member, other = new_member(shop), new_member(shop)
    token = console.sign_in(Role.INTEGRATION)
    path = f"/console/members/{member}"
    page = console.client.get(path).text
    assert "Set a tier" not in page and "Merge another member" not in page
    assert "Block" in page  # writers block and unblock
    until = (shop.clock.now() + timedelta(days=30)).date().isoformat()
    for action, form in ((f"{path}/tier", {"tier": "gold", "until": until, "reason": "x"}),
                         (f"{path}/merges/confirm", {"other": str(other)}),
                         (f"{path}/merges", {"member_id": other}),
                         ("/console/merges/1/undo", {"member": member})):
        denied = console.client.post(action, data={**form, "csrf_token": token})
        assert denied.status_code == 403, action
    assert shop.get(f"/members/{other}").json()["status"] == "active"


def test_block_unblock_and_close_from_the_member_page(console, shop):  # noqa: F811
    member = new_member(shop, 70)
    token = console.sign_in(Role.INTEGRATION)
    path = f"/console/members/{member}"
    for status in ("blocked", "active", "closed"):
        sent = console.client.post(f"{path}/status", data={
            "status": status, "reason": f"to {status}", "csrf_token": token},
            follow_redirects=False)
        assert sent.status_code == 303
        assert f'id="member-status">{status}<' in console.client.get(path).text
    assert shop.get(f"/members/{member}/balance").json()["available"] == 0  # forfeited
    assert "Close the membership" not in console.client.get(path).text


def test_merge_by_identity_after_a_confirm_then_undo(console, shop):  # noqa: F811
    survivor = new_member(shop, 10)
    merged = new_member(shop, 25, identities=[{"type": "phone", "value": "+1 415 555 0199"}])
    token = console.sign_in(Role.ADMIN)
    path = f"/console/members/{survivor}"
    confirm = console.client.post(f"{path}/merges/confirm", data={
        "other": "(415) 555-0199", "reason": "Same person", "csrf_token": token})
    assert confirm.status_code == 200
    assert f"Merge member #{merged} into #{survivor}?" in confirm.text
    assert shop.get(f"/members/{merged}").json()["status"] == "active"  # nothing moved yet
    for _ in range(2):  # a form sent twice merges once
        done = console.client.post(f"{path}/merges", data={
            "member_id": merged, "reason": "Same person", "csrf_token": token},
            follow_redirects=False)
        assert done.status_code == 303
    [merge] = shop.get(f"/members/{survivor}/merges").json()["merges"]
    assert merge["state"] == "merged" and merge["reason"] == "Same person"
    page = console.client.get(path).text
    assert 'id="balance-available">35<' in page and f'aria-label="Undo merge {merge["id"]}"' in page
    undone = console.client.post(f"/console/merges/{merge['id']}/undo", data={
        "member": survivor, "csrf_token": token}, follow_redirects=False)
    assert undone.status_code == 303
    assert shop.get(f"/merges/{merge['id']}").json()["state"] == "undone"
    assert shop.get(f"/members/{merged}/balance").json()["available"] == 25
    twice = console.client.post(f"/console/merges/{merge['id']}/undo", data={
        "member": survivor, "csrf_token": token})
    assert twice.status_code == 409 and "already undone" in twice.text


def test_merge_refusals_are_pages(console, shop):  # noqa: F811
    member = new_member(shop)
    token = console.sign_in(Role.ADMIN)
    path = f"/console/members/{member}/merges/confirm"
    itself = console.client.post(path, data={"other": str(member), "csrf_token": token})
    assert itself.status_code == 422 and "<html" in itself.text
    nobody = console.client.post(path, data={"other": "nobody@example.com",
                                             "csrf_token": token})
    assert nobody.status_code == 404 and "no single member matches" in nobody.text


def _pair(shop, name: str) -> tuple[int, int, int]:
    a = new_member(shop, profile={"name": name})
    b = new_member(shop, profile={"name": name})
    evidence = {"name": {"agrees": True, "key": "name",
                         "values": {str(a): name.lower(), str(b): name.lower()}}}
    candidate = shop.db.transact(lambda conn: candidates.suggest(
        conn, shop.program.id, a, b, probability=1.0, rule="same_name", evidence=evidence,
        now=shop.clock.now()))
    return candidate, a, b


def test_the_review_queue_accepts_into_the_chosen_survivor_and_rejects(console, shop):  # noqa: F811
    first, a, b = _pair(shop, "Ada Lovelace")
    second, c, d = _pair(shop, "Alan Turing")
    token = console.sign_in(Role.ADMIN)
    queue = console.client.get("/console/merge-candidates").text
    assert f'id="candidate-{first}"' in queue and "ada lovelace" in queue
    assert 'class="agree"' in queue
    accepted = console.client.post(f"/console/merge-candidates/{first}/accept", data={
        "survivor_id": b, "csrf_token": token}, follow_redirects=False)
    assert accepted.status_code == 303
    assert shop.get(f"/members/{a}/360").json()["merged_into"] == b
    rejected = console.client.post(f"/console/merge-candidates/{second}/reject", data={
        "reason": "Twins", "csrf_token": token}, follow_redirects=False)
    assert rejected.status_code == 303
    again = console.client.post(f"/console/merge-candidates/{first}/accept",
                                data={"csrf_token": token})
    assert 'id="decide-error"' in again.text
    assert "Twins" in console.client.get("/console/merge-candidates?state=rejected").text
    assert shop.get(f"/members/{c}").json()["status"] == "active"
    assert shop.get(f"/members/{d}").json()["status"] == "active"


def test_the_review_queue_is_read_only_without_admin_and_needs_the_token(console, shop):  # noqa: F811
    candidate, a, _ = _pair(shop, "Grace Hopper")
    token = console.sign_in(Role.INTEGRATION)
    queue = console.client.get("/console/merge-candidates").text
    assert f'id="candidate-{candidate}"' in queue and "Accept: merge" not in queue
    assert console.client.post(f"/console/merge-candidates/{candidate}/accept",
                               data={"csrf_token": token}).status_code == 403
    console.sign_in(Role.ADMIN)
    assert console.client.post(f"/console/merge-candidates/{candidate}/reject",
                               data={"csrf_token": "forged"}).status_code == 403
    assert shop.get("/merge-candidates").json()["items"][0]["state"] == "pending"


def test_forms_that_fail_validation_answer_with_a_page(console, shop):  # noqa: F811
    member = new_member(shop)
    token = console.sign_in(Role.ADMIN)
    path = f"/console/members/{member}"
    bad = console.client.post(f"{path}/adjustments", data={
        "points": "lots", "reason": "", "idempotency_key": "k", "csrf_token": token},
        headers={"Referer": f"http://testserver{path}"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("text/html")
    assert "<strong>points</strong>" in bad.text and f'href="{path}"' in bad.text
    fragment = console.client.post(f"{path}/status", data={
        "status": "gone", "reason": "x", "csrf_token": token}, headers={"HX-Request": "true"})
    assert fragment.status_code == 422 and "<html" not in fragment.text
    assert "<strong>status</strong>" in fragment.text
    for form, field in (({"coupon_type": "x", "count": "0", "idempotency_key": "k"}, "count"),
                        ({"tier": "gold", "until": "someday", "reason": "x"}, "until")):
        action = "/console/coupons/batches" if field == "count" else f"{path}/tier"
        page = console.client.post(action, data={**form, "csrf_token": token})
        assert page.status_code == 422 and f"<strong>{field}</strong>" in page.text
    console.client.post("/console/logout", data={"csrf_token": token})
    login = console.client.get("/console/login")
    too_long = console.client.post("/console/login", data={
        "email": "a" * 300, "password": "x", "csrf_token": login.cookies.get(
            "patron_console_login") or ""})
    assert too_long.status_code == 422 and "<strong>email</strong>" in too_long.text
    api = shop.post(f"/members/{member}/adjustments", json={"points": "lots"})
    assert api.status_code == 422 and api.headers["content-type"].startswith(
        "application/problem+json")


def test_a_household_started_from_the_member_page(console, shop):  # noqa: F811
    owner, other = new_member(shop, 40), new_member(shop)
    family(shop, other)
    token = console.sign_in(Role.INTEGRATION)
    assert "Start household" in console.client.get(f"/console/members/{owner}").text
    made = console.client.post("/console/households", data={
        "owner_member_id": owner, "name": "The Parks", "csrf_token": token},
        follow_redirects=False)
    assert made.status_code == 303
    page = console.client.get(made.headers["location"]).text
    assert "Household created." in page and 'id="pool-available">40<' in page
    taken = console.client.post("/console/households", data={
        "owner_member_id": other, "name": "Again", "csrf_token": token})
    assert taken.status_code == 409 and "already belongs" in taken.text
    blank = console.client.post("/console/households", data={
        "owner_member_id": owner, "name": "   ", "csrf_token": token})
    assert blank.status_code == 422 and "<strong>name</strong>" in blank.text
    console.sign_in(Role.ANALYST)
    assert "Start household" not in console.client.get(
        f"/console/members/{new_member(shop)}").text
