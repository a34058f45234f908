"""The review queue: suggest, list, reject and accept merge candidates."""

from __future__ import annotations

from datetime import date

import pytest

from patron.errors import Conflict, NotFound
from patron.flows import match_review
from patron.matching import candidates
from tests.matching.conftest import RecordingMerge, enrol, person

BORN = date(1985, 7, 14)
EVIDENCE = {"birthdate": {"agrees": True, "key": "1985-07-14"}}


@pytest.fixture
def pair(database, program, clock):
    return enrol(database, program, clock,
                 dict(person("Mia", "Sand", BORN, city="Oslo"),
                      identities=[("email", "mia@example.com")]),
                 dict(person("Mia", "Sand", BORN, city="OSLO"),
                      identities=[("card", "CARD1234"), ("phone", "+4791234567")]))


def suggest(database, program, clock, a, b, **kwargs):
    values = dict(probability=0.93, rule="model", evidence=EVIDENCE, now=clock.now())
    values.update(kwargs)
    return database.transact(lambda conn: candidates.suggest(conn, program.id, a, b, **values))


def test_a_pair_is_queued_once_lower_id_first(database, program, clock, pair):
    low, high = pair
    first = suggest(database, program, clock, high, low)
    assert first is not None
    assert suggest(database, program, clock, low, high) is None
    [candidate], cursor = database.read(lambda conn: candidates.pending(conn, program.id))
    assert cursor is None
    assert (candidate.id, candidate.member_a.id, candidate.member_b.id) == (first, low, high)
    assert candidate.member_a.identities[0].value == "mia@example.com"
    assert {i.type for i in candidate.member_b.identities} == {"card", "phone"}
    assert (candidate.member_b.city, candidate.probability, candidate.evidence) == (
        "OSLO", 0.93, EVIDENCE)


def test_a_rejected_pair_is_never_suggested_again(database, program, clock, pair):
    found = suggest(database, program, clock, *pair)
    rejected = database.transact(lambda conn: candidates.reject(
        conn, program.id, found, actor="ann", reason="twins", now=clock.now()))
    assert (rejected.state, rejected.decided_by, rejected.reason) == ("rejected", "ann", "twins")
    assert suggest(database, program, clock, *pair, probability=0.999) is None
    again = database.transact(lambda conn: candidates.reject(
        conn, program.id, found, actor="bob", reason=None, now=clock.now()))
    assert (again.decided_by, again.reason) == ("ann", "twins")  # nothing changed
    assert database.read(lambda conn: candidates.pending(conn, program.id))[0] == []
    [listed], _ = database.read(lambda conn: candidates.pending(conn, program.id,
                                                                state="rejected"))
    assert listed.id == found


def test_pages_follow_the_cursor(database, program, clock):
    ids = enrol(database, program, clock, *[person("P", f"Q{n}", BORN) for n in range(5)])
    made = [suggest(database, program, clock, ids[0], other) for other in ids[1:]]
    page, cursor = database.read(lambda conn: candidates.pending(conn, program.id, None, 3))
    assert [c.id for c in page] == made[:3]
    rest, end = database.read(lambda conn: candidates.pending(conn, program.id, cursor, 3))
    assert ([c.id for c in rest], end) == (made[3:], None)


def test_accept_merges_into_the_older_member_and_records_the_merge(database, program, clock,
                                                                   pair):
    found = suggest(database, program, clock, *pair, rule="family_birthdate_postcode")
    merge = RecordingMerge()
    accepted = database.transact(lambda conn: match_review.accept(
        conn, program, found, actor="ann", now=clock.now(), merge=merge))
    assert merge.calls == [dict(program=program.id, survivor=pair[0], merged=pair[1],
                                reason=f"merge candidate {found} accepted "
                                       "(family_birthdate_postcode)",
                                actor="ann", source="review")]
    assert (accepted.state, accepted.decided_by) == ("merged", "ann")
    assert accepted.merge_id is not None
    with pytest.raises(Conflict) as refused:
        database.transact(lambda conn: match_review.accept(
            conn, program, found, actor="ann", now=clock.now(), merge=merge))
    assert refused.value.code == "merge_candidate_decided"
    with pytest.raises(Conflict):
        database.transact(lambda conn: candidates.reject(
            conn, program.id, found, actor="ann", reason=None, now=clock.now()))
    assert len(merge.calls) == 1


def test_accept_into_the_named_survivor_or_refuse_a_stranger(database, program, clock, pair):
    found = suggest(database, program, clock, *pair)
    merge = RecordingMerge()
    with pytest.raises(match_review.SurvivorNotInPair):
        database.transact(lambda conn: match_review.accept(
            conn, program, found, actor="ann", now=clock.now(), survivor_id=pair[1] + 1000,
            merge=merge))
    database.transact(lambda conn: match_review.accept(
        conn, program, found, actor="ann", now=clock.now(), survivor_id=pair[1], merge=merge))
    assert [(c["survivor"], c["merged"]) for c in merge.calls] == [(pair[1], pair[0])]


def test_unknown_candidates_and_other_programs_candidates_are_not_found(database, program,
                                                                        clock, pair):
    from tests.conftest import make_program

    found = suggest(database, program, clock, *pair)
    other = make_program(database, clock)
    for program_id in (program.id, other.id):
        with pytest.raises(NotFound) as missing:
            database.transact(lambda conn: candidates.reject(
                conn, program_id, found + (1000 if program_id == program.id else 0),
                actor="a", reason=None, now=clock.now()))
        assert missing.value.code == "merge_candidate_not_found"


# --- over HTTP ----------------------------------------------------------------------------


def test_review_queue_over_http(api, database, program, clock, pair, monkeypatch):
    merge = RecordingMerge()
    monkeypatch.setattr(match_review, "default_merge", lambda: merge)
    first = suggest(database, program, clock, *pair, rule="family_birthdate_postcode")
    listed = api.get("/merge-candidates", role="integration")
    assert listed.status_code == 200
    [item] = listed.json()["items"]
    assert (item["id"], item["member_a"]["given_name"], item["member_b"]["identities"][0]["type"]
            ) == (first, "Mia", "card")
    assert item["evidence"] == EVIDENCE

    refused = api.post(f"/merge-candidates/{first}/accept", role="integration")
    assert refused.status_code == 403
    headers = {"Idempotency-Key": "accept-1"}
    accepted = api.post(f"/merge-candidates/{first}/accept", headers=headers)
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert (body["state"], body["decided_by"]) == ("merged", merge.calls[0]["actor"])
    assert merge.calls[0]["actor"].startswith("key:") and body["merge_id"] is not None
    retried = api.post(f"/merge-candidates/{first}/accept", headers=headers)
    assert retried.json() == accepted.json() and len(merge.calls) == 1
    again = api.post(f"/merge-candidates/{first}/accept")
    assert (again.status_code, again.json()["code"]) == (409, "merge_candidate_decided")
    rejected = api.post(f"/merge-candidates/{first}/reject", json={"reason": "no"})
    assert (rejected.status_code, rejected.json()["code"]) == (409, "merge_candidate_decided")


def test_reject_over_http_is_idempotent(api, database, program, clock, pair):
    found = suggest(database, program, clock, *pair)
    first = api.post(f"/merge-candidates/{found}/reject", json={"reason": "two people"})
    assert first.status_code == 200 and first.json()["state"] == "rejected"
    second = api.post(f"/merge-candidates/{found}/reject")
    assert second.json() == first.json()
    assert api.get("/merge-candidates").json()["items"] == []
    assert [c["id"] for c in api.get("/merge-candidates?state=rejected").json()["items"]] == [
        found]


@pytest.mark.parametrize("path, body", [("/merge-candidates/999999999/accept", None),
                                        ("/merge-candidates/999999999/reject",
                                         {"reason": "x"})])
def test_unknown_candidate_is_404(api, path, body):
    answer = api.post(path, json=body)
    assert answer.status_code == 404
    assert answer.json()["code"] == "merge_candidate_not_found"


def test_bad_review_input_is_422(api, database, program, clock, pair):
    found = suggest(database, program, clock, *pair)
    for answer in (api.post(f"/merge-candidates/{found}/accept", json={"survivor_id": 0}),
                   api.post(f"/merge-candidates/{found}/accept", json={"winner": pair[0]}),
                   api.post(f"/merge-candidates/{found}/reject", json={"reason": ""}),
                   api.get("/merge-candidates?state=maybe"),
                   api.post("/merge-candidates/0/reject")):
        assert answer.status_code == 422, answer.text
    stranger = api.post(f"/merge-candidates/{found}/accept", json={"survivor_id": pair[1] + 50})
    assert (stranger.status_code, stranger.json()["code"]) == (422, "survivor_not_in_pair")
