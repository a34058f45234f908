"""Single events that arrive while another of the same key is written go in together:
one transaction, each its own answer, its own audit row; a group that fails as a whole
runs again event by event. SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from sqlalchemy import select

from patron.audit.tables import audit_log
from patron.events import api as events_api
from tests.concurrency import race
from tests.factories import member_payload, purchase


@pytest.fixture
def slow_first(monkeypatch):
    """The first event sent alone takes a while, so the next ones queue behind it."""
    real, gate = events_api.ingest, threading.Event()

    def ingest(*args, **kwargs):
        if not gate.is_set():
            gate.set()
            time.sleep(0.4)
        return real(*args, **kwargs)
    monkeypatch.setattr(events_api, "ingest", ingest)
    return gate


def send_together(api, events, first=None):
    """``first`` alone, then ``events`` from as many threads while it is written."""
    answers = {}

    def send(i):
        if i:
            time.sleep(0.1)  # the first is being written by now
        event = first if i == 0 else events[i - 1]
        answers[event["id"]] = api.post("/events", json=event)
    race(len(events) + 1, send)
    return answers


def test_events_queued_behind_one_are_written_together_each_with_its_answer(api, clock,
                                                                            slow_first):
    members = [api.post("/members", json=member_payload()).json()["id"] for _ in range(6)]
    group = api.client.app.state.group_commit
    before = group.groups
    first = purchase({"id": members[0]}, 5_00, clock.now())
    events = [purchase({"id": m}, (i + 1) * 10_00, clock.now()) for i, m in enumerate(members)]
    refused = purchase({"id": 99_999_999}, 10_00, clock.now())  # no such member
    answers = send_together(api, events + [refused], first)
    assert group.groups >= before + 1  # the six and the refused one went in together
    assert answers[first["id"]].status_code == 201
    for i, event in enumerate(events):
        answer = answers[event["id"]]
        assert answer.status_code == 201 and answer.json()["points"] == (i + 1) * 10
    assert answers[refused["id"]].status_code == 404
    assert answers[refused["id"]].json()["code"] == "member_not_found"
    balances = [api.get(f"/members/{m}/balance").json()["pending"]
                + api.get(f"/members/{m}/balance").json()["available"] for m in members]
    assert balances == [15, 20, 30, 40, 50, 60]
    rows = api.db.read(lambda conn: conn.execute(
        select(audit_log.c.request_id, audit_log.c.outcome).where(
            audit_log.c.program_id == api.program.id,
            audit_log.c.operation == "POST /api/v1/events")).all())
    ids = {answer.headers["X-Request-ID"] for answer in answers.values()}
    assert {r.request_id for r in rows} == ids and len(rows) == len(ids) == 8
    assert Counter(r.outcome for r in rows) == Counter(succeeded=8)


def test_the_same_event_twice_in_a_group_is_written_once(api, clock, slow_first):
    member = api.post("/members", json=member_payload())
    member_id = member.json()["id"]
    event = purchase({"id": member_id}, 10_00, clock.now())
    codes = Counter()

    def send(i):
        if i:
            time.sleep(0.1)
        body = purchase({"id": member_id}, 1_00, clock.now()) if i == 0 else event
        codes[api.post("/events", json=body).status_code] += 1
    race(4, send)
    assert codes == Counter({201: 2, 200: 2})
    balance = api.get(f"/members/{member_id}/balance").json()
    assert balance["available"] + balance["pending"] == 11


def test_a_group_that_fails_as_a_whole_runs_event_by_event(api, clock, slow_first,
                                                           monkeypatch):
    group = api.client.app.state.group_commit

    def broken(*args, **kwargs):
        raise RuntimeError("the shared transaction fails")
    monkeypatch.setattr(group, "_ingest", broken)
    before = group.groups
    members = [api.post("/members", json=member_payload()).json()["id"] for _ in range(4)]
    first = purchase({"id": members[0]}, 1_00, clock.now())
    events = [purchase({"id": m}, 10_00, clock.now()) for m in members]
    answers = send_together(api, events, first)
    assert group.groups == before
    assert all(answer.status_code == 201 for answer in answers.values())
    assert [api.get(f"/members/{m}/balance").json()["available"]
            + api.get(f"/members/{m}/balance").json()["pending"] for m in members] == [
        11, 10, 10, 10]
