"""One ID over HTTP with the real merge, on SQLite and PostgreSQL: enrol look-alikes, review
the pair, accept, undo; and an enrolment that an auto-merge rule merges at once."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from patron.flows import enrolment
from patron.members.schemas import MemberCreate
from patron.members.tables import members, merges
from tests.matching.conftest import RULES, with_matching
from tests.webhooks import helpers as webhooks

SUGGEST_NAME_AND_BIRTHDATE = {"suggest": [{"name": "name_and_birthdate",
                                           "fields": ["given_name", "family_name", "birthdate"]}]}


def _payload(email: str, **profile: Any) -> dict[str, Any]:
    return {"identities": [{"type": "email", "value": email}],
            "profile": {"given_name": "Siobhán", "family_name": "O'Neill",
                        "birthdate": "1984-02-29", **profile}}


def _enrol(api, email: str, points: int = 0, **profile: Any) -> int:
    made = api.post("/members", json=_payload(email, **profile))
    assert made.status_code == 201, made.text
    member_id = made.json()["id"]
    if points:
        given = api.post(f"/members/{member_id}/adjustments", json={
            "points": points, "reason": "welcome", "idempotency_key": f"w-{member_id}"})
        assert given.status_code == 201, given.text
    return member_id


@pytest.fixture
def review_api(api):
    api.program = with_matching(api.db, api.program, api.clock, SUGGEST_NAME_AND_BIRTHDATE)
    return api


def _emails(api, member_id: int) -> list[str]:
    return sorted(i["value"] for i in api.get(f"/members/{member_id}").json()["identities"])


def test_look_alikes_enrolled_over_http_are_reviewed_merged_and_unmerged(review_api):
    api = review_api
    old = _enrol(api, "siobhan@example.com", 120, address={"postcode": "D02 X285"})
    new = _enrol(api, "s.oneill@work.example", 30, given_name="SIOBHAN", family_name="ONeill",
                 address={"postcode": "d02x285"})

    [candidate] = api.get("/merge-candidates").json()["items"]
    assert (candidate["member_a"]["id"], candidate["member_b"]["id"]) == (old, new)
    assert candidate["rule"] == "name_and_birthdate" and candidate["state"] == "pending"
    assert set(candidate["evidence"]) >= {"given_name", "family_name", "birthdate"}
    assert candidate["evidence"]["given_name"]["values"] == {str(old): "Siobhán",
                                                             str(new): "SIOBHAN"}

    accepted = api.post(f"/merge-candidates/{candidate['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["state"] == "merged" and accepted.json()["merge_id"] is not None
    merge_id = accepted.json()["merge_id"]
    assert api.get("/merge-candidates").json()["items"] == []

    assert _emails(api, old) == ["s.oneill@work.example", "siobhan@example.com"]
    assert api.get(f"/members/{old}/balance").json()["available"] == 150
    moved = api.get(f"/members/{new}", follow_redirects=False)
    assert moved.status_code == 301 and moved.json()["merged_into"] == old
    view = api.get(f"/members/{old}/360").json()
    assert [(m["id"], m["role"], m["merged_id"], m["state"]) for m in view["merges"]] == \
        [(merge_id, "survivor", new, "merged")]
    assert api.get(f"/merges/{merge_id}").json()["source"] == "review"

    undone = api.post(f"/merges/{merge_id}/undo")
    assert undone.status_code == 200, undone.text
    assert api.get(f"/members/{new}", follow_redirects=False).status_code == 200
    assert _emails(api, old) == ["siobhan@example.com"]
    assert _emails(api, new) == ["s.oneill@work.example"]
    assert api.get(f"/members/{old}/balance").json()["available"] == 120
    assert api.get(f"/members/{new}/balance").json()["available"] == 30


def test_accept_into_the_named_survivor_and_a_retry_returns_the_first_answer(review_api):
    api = review_api
    old, new = _enrol(api, "a@example.com", 10), _enrol(api, "b@example.com", 5)
    [candidate] = api.get("/merge-candidates").json()["items"]
    path, key = f"/merge-candidates/{candidate['id']}/accept", {"Idempotency-Key": "acc-1"}
    first = api.post(path, json={"survivor_id": new}, headers=key)
    assert first.status_code == 200, first.text
    again = api.post(path, json={"survivor_id": new}, headers=key)
    assert again.status_code == 200 and again.json() == first.json()
    made = api.db.read(lambda conn: conn.execute(select(merges.c.survivor_id, merges.c.merged_id)
                                                 .where(merges.c.program_id == api.program.id))
                       .all())
    assert [tuple(r) for r in made] == [(new, old)]
    assert api.get(f"/members/{old}", follow_redirects=False).json()["merged_into"] == new
    assert api.get(f"/members/{new}/balance").json()["available"] == 15
    without_key = api.post(path, json={"survivor_id": new})
    assert (without_key.status_code, without_key.json()["code"]) == \
        (409, "merge_candidate_decided")


def test_accept_refuses_a_survivor_outside_the_pair_and_a_rejected_pair(review_api):
    api = review_api
    _enrol(api, "c@example.com"), _enrol(api, "d@example.com")
    stranger = _enrol(api, "e@example.com", given_name="Someone", family_name="Else")
    [candidate] = api.get("/merge-candidates").json()["items"]
    path = f"/merge-candidates/{candidate['id']}"
    outside = api.post(f"{path}/accept", json={"survivor_id": stranger})
    assert (outside.status_code, outside.json()["code"]) == (422, "survivor_not_in_pair")
    assert api.post(f"{path}/reject", json={"reason": "twins"}).status_code == 200
    late = api.post(f"{path}/accept")
    assert (late.status_code, late.json()["code"]) == (409, "merge_candidate_decided")


def test_an_enrolment_an_auto_merge_rule_matches_answers_200_with_the_existing_member(api):
    api.program = with_matching(api.db, api.program, api.clock, RULES)
    old = _enrol(api, "first@example.com", 70)
    payload = _payload("second@example.com", given_name="siobhan", family_name="oneill")
    merged = api.post("/members", json=payload, headers={"Idempotency-Key": "enrol-2"})
    assert merged.status_code == 200, merged.text
    body = merged.json()
    assert body["id"] == old and body["status"] == "active"
    assert sorted(i["value"] for i in body["identities"]) == ["first@example.com",
                                                             "second@example.com"]
    [made] = api.db.read(lambda conn: conn.execute(
        select(merges.c.survivor_id, merges.c.merged_id, merges.c.source)
        .where(merges.c.program_id == api.program.id)).all())
    assert (made.survivor_id, made.source) == (old, "enrolment")
    assert api.get(f"/members/{made.merged_id}", follow_redirects=False).status_code == 301
    assert api.get(f"/members/{made.merged_id}/balance").json()["available"] == 70
    retry = api.post("/members", json=payload, headers={"Idempotency-Key": "enrol-2"})
    assert (retry.status_code, retry.json()) == (200, body)
    found = api.get("/members", params={"identity": "email:second@example.com"}).json()
    assert [m["id"] for m in found["items"]] == [old]


def test_an_enrolment_merge_is_undone_over_http_and_both_members_are_as_before(api):
    """Undoing the merge enrolment matching made: the existing member is as it was before
    the look-alike enrolled, the look-alike is a member of its own (its id answers 200, not
    301), and integrators heard both the merge and its undo."""
    api.program = with_matching(api.db, api.program, api.clock, RULES)
    webhooks.subscribe(api.db, api.program, api.clock,
                       types=["member.merged", "member.merge_undone"])
    old = _enrol(api, "first@example.com", 70)
    before = api.get(f"/members/{old}/360").json()
    merged = api.post("/members", json=_payload("second@example.com"),
                      headers={"Idempotency-Key": "enrol-look-alike"})
    assert (merged.status_code, merged.json()["id"]) == (200, old)
    [merge] = api.get(f"/members/{old}/merges").json()["merges"]
    gone = merge["merged_id"]
    counts = {name: n for name, n in merge["moved"].items() if n}
    assert counts == {"identities": 1}
    assert api.get(f"/members/{gone}", follow_redirects=False).status_code == 301

    undone = api.post(f"/merges/{merge['id']}/undo")
    assert (undone.status_code, undone.json()["state"]) == (200, "undone")
    after = api.get(f"/members/{old}/360").json()
    assert [m["id"] for m in after.pop("merges")] == [merge["id"]] and before.pop("merges") == []
    assert after == before
    back = api.get(f"/members/{gone}", follow_redirects=False)
    assert (back.status_code, back.json()["status"]) == (200, "active")
    assert _emails(api, gone) == ["second@example.com"]
    assert api.get(f"/members/{gone}/balance").json()["available"] == 0
    assert api.get(f"/members/{old}/balance").json()["available"] == 70
    told = [(b["type"], b["data"]["merged_id"]) for b in webhooks.bodies(api.db, api.program)]
    assert told == [("member.merged", gone), ("member.merge_undone", gone)]
    retry = api.post("/members", json=_payload("second@example.com"),
                     headers={"Idempotency-Key": "enrol-look-alike"})
    assert (retry.status_code, retry.json()) == (200, merged.json())


def test_the_auto_merge_commits_or_rolls_back_with_the_enrolment(api):
    """The merge runs in the enrolment's transaction: when the work that enrolled fails
    afterwards, the existing member keeps only its own identity and no merge exists."""
    api.program = with_matching(api.db, api.program, api.clock, RULES)
    old = _enrol(api, "first@example.com")

    class Refused(Exception):
        pass

    def enrol_then_fail(conn):
        member, new = enrolment.enrol_member(conn, api.program, MemberCreate.model_validate(
            _payload("second@example.com")), api.clock.now())
        assert (member.id, new) == (old, False)
        raise Refused

    with pytest.raises(Refused):
        api.db.transact(enrol_then_fail)
    assert _emails(api, old) == ["first@example.com"]
    assert api.db.read(lambda conn: conn.execute(select(merges.c.id).where(
        merges.c.program_id == api.program.id)).all()) == []


def _keys(api, member_id: int) -> tuple[str | None, str | None]:
    return api.db.read(lambda conn: tuple(conn.execute(
        select(members.c.family_key, members.c.postcode_key)
        .where(members.c.id == member_id)).one()))


def test_an_edited_family_name_and_postcode_are_what_later_enrolments_find(api):
    """A member who married and moved is found by their new name and postcode."""
    api.program = with_matching(api.db, api.program, api.clock, {"suggest": [{
        "name": "family_and_postcode", "fields": ["given_name", "family_name", "postcode"]}]})
    old = _enrol(api, "ann@example.com", given_name="Ann", family_name="Lee",
                 address={"postcode": "2000"})
    before = _keys(api, old)
    edited = api.patch(f"/members/{old}", json={"profile": {
        "family_name": "Nguyen-Lee", "address": {"postcode": "3000"}}})
    assert edited.status_code == 200, edited.text
    assert _keys(api, old) != before
    api.patch(f"/members/{old}", json={"profile": {"given_name": "Annie"}})  # keys unchanged
    api.patch(f"/members/{old}", json={"profile": {"given_name": "Ann"}})
    new = _enrol(api, "ann.nl@example.com", given_name="ann", family_name="nguyen lee",
                 address={"postcode": "3000"}, birthdate=None)
    [candidate] = api.get("/merge-candidates").json()["items"]
    assert (candidate["member_a"]["id"], candidate["member_b"]["id"]) == (old, new)
    assert candidate["rule"] == "family_and_postcode"


def test_clearing_the_postcode_clears_its_key(api):
    old = _enrol(api, "bo@example.com", address={"postcode": "2000"})
    assert _keys(api, old)[1] is not None
    assert api.patch(f"/members/{old}", json={"profile": {"address": None}}).status_code == 200
    assert _keys(api, old)[1] is None and _keys(api, old)[0] is not None
