"""Delivery: signed, retried with backoff, dead after N failures, replayed, in order per
member, leased; on SQLite and PostgreSQL with a clock the test moves."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from patron.clock import FrozenClock
from patron.webhooks import jobs as webhook_jobs
from patron.webhooks import service
from patron.webhooks.delivery import WEBHOOK_FAILURES, Deliverer, DeliveryRunner
from patron.webhooks.domain import RetryPolicy
from tests.webhooks.helpers import attempts, earn, messages, new_member, subscribe
from tests.webhooks.receiver import Receiver

POLICY = RetryPolicy(max_attempts=3, backoff_seconds=10, backoff_max_seconds=60)


@contextmanager
def worker(db, clock, program, answer: Callable[[httpx.Request], httpx.Response] | None = None,
           **options) -> Iterator[Deliverer]:
    client = httpx.Client(transport=httpx.MockTransport(answer)) if answer else None
    deliverer = Deliverer(db, clock, policy=options.pop("policy", POLICY), client=client,
                          jitter=lambda: 0.0, program_ids=[program.id], **options)
    try:
        yield deliverer
    finally:
        deliverer.close()


def test_a_message_arrives_signed_with_the_endpoint_secret(database, program):
    clock = FrozenClock(datetime.now(timezone.utc))  # the signature's time is checked
    with Receiver() as receiver:
        endpoint = subscribe(database, program, clock, url=receiver.url)
        member_id = new_member(database, program, clock)
        earn(database, program, clock, member_id, 50, "a")
        with worker(database, clock, program) as deliverer:
            done = deliverer.deliver_once()
    assert (done.claimed, done.delivered) == (1, 1)
    [got] = receiver.received
    [row] = messages(database, program)
    payload = Webhook(endpoint.secret).verify(got["body"], got["headers"])
    assert payload == json.loads(row.payload) and payload["data"]["member_id"] == member_id
    assert got["headers"]["webhook-id"] == row.webhook_id
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(got["body"].replace(b"50", b"51"), got["headers"])
    with pytest.raises(WebhookVerificationError):
        Webhook(service.domain.new_secret()).verify(got["body"], got["headers"])
    assert (row.state, row.attempts, row.last_status) == ("delivered", 1, 204)
    [log] = attempts(database, row.id)
    assert (log.attempt, log.outcome, log.status_code, log.error) == (1, "delivered", 204, None)


def test_failures_back_off_then_the_message_is_dead_then_replayed(database, program, clock):
    answers = [500]
    subscribe(database, program, clock)
    earn(database, program, clock, new_member(database, program, clock), 50, "a")
    dead_before = WEBHOOK_FAILURES.labels("dead")._value.get()
    with worker(database, clock, program,
                lambda request: httpx.Response(answers[0], text="try later")) as deliverer:
        assert deliverer.deliver_once().retrying == 1
        [row] = messages(database, program)
        assert row.next_attempt_at == clock.now() + timedelta(seconds=5)  # 10 s, jitter 0
        assert deliverer.deliver_once().claimed == 0                      # not due yet
        clock.advance(seconds=5)
        assert deliverer.deliver_once().retrying == 1
        assert messages(database, program)[0].next_attempt_at == clock.now() + timedelta(
            seconds=10)
        clock.advance(seconds=10)
        assert deliverer.deliver_once().dead == 1
        clock.advance(days=30)
        assert deliverer.deliver_once().claimed == 0                      # dead stays dead
        [row] = messages(database, program)
        assert (row.state, row.attempts, row.last_status) == ("dead", 3, 500)
        assert row.last_error == "HTTP 500: try later"
        assert WEBHOOK_FAILURES.labels("dead")._value.get() == dead_before + 1

        replayed = database.transact(lambda conn: service.replay_message(
            conn, program, row.id, clock.now()))
        assert (replayed.state, replayed.attempts, replayed.next_attempt_at) == (
            "pending", 0, None)
        answers[0] = 200
        assert deliverer.deliver_once().delivered == 1
    log = attempts(database, row.id)
    assert [(a.attempt, a.outcome, a.status_code) for a in log] == [
        (1, "failed", 500), (2, "failed", 500), (3, "failed", 500), (1, "delivered", 200)]
    assert messages(database, program)[0].webhook_id == row.webhook_id


def test_an_unreachable_endpoint_is_a_failed_attempt_with_its_error(database, program, clock):
    subscribe(database, program, clock)                      # nothing listens there
    earn(database, program, clock, new_member(database, program, clock), 50, "a")
    with worker(database, clock, program, timeout=2) as deliverer:
        assert deliverer.deliver_once().retrying == 1
    [row] = messages(database, program)
    [log] = attempts(database, row.id)
    assert log.status_code is None and "ConnectError" in log.error
    assert row.state == "pending" and row.last_status is None


def test_a_members_later_message_waits_for_the_earlier_one(database, program, clock):
    subscribe(database, program, clock, types=["points.earned"])
    ann, bob = new_member(database, program, clock), new_member(database, program, clock)
    earn(database, program, clock, ann, 1, "ann-1")
    earn(database, program, clock, ann, 2, "ann-2")
    earn(database, program, clock, bob, 3, "bob-1")
    failing, sent = {1}, []

    def answer(request):
        points = json.loads(request.content)["data"]["points"]
        if points in failing:
            return httpx.Response(503)
        sent.append(points)
        return httpx.Response(200)

    with worker(database, clock, program, answer,
                policy=RetryPolicy(max_attempts=5, backoff_seconds=10)) as deliverer:
        first = deliverer.deliver_once()
        assert (first.claimed, first.delivered, first.retrying) == (2, 1, 1)  # ann-1, bob-1
        clock.advance(seconds=3)
        assert deliverer.deliver_once().claimed == 0         # ann-2 waits behind ann-1
        clock.advance(seconds=10)
        failing.clear()
        assert deliverer.deliver_once().delivered == 1
        assert deliverer.deliver_once().delivered == 1
    assert sent == [3, 1, 2]


def test_a_dead_message_lets_the_next_one_go(database, program, clock):
    subscribe(database, program, clock)
    ann = new_member(database, program, clock)
    earn(database, program, clock, ann, 1, "ann-1")
    earn(database, program, clock, ann, 2, "ann-2")
    with worker(database, clock, program,
                lambda r: httpx.Response(200 if b'"points":2' in r.content else 500),
                policy=RetryPolicy(max_attempts=1)) as deliverer:
        assert deliverer.deliver_once().dead == 1
        assert deliverer.deliver_once().delivered == 1
    assert [r.state for r in messages(database, program)] == ["dead", "delivered"]


def test_a_lease_that_ran_out_is_claimed_again_and_the_old_worker_changes_nothing(
        database, program, clock):
    subscribe(database, program, clock)
    earn(database, program, clock, new_member(database, program, clock), 50, "a")
    with worker(database, clock, program, lambda r: httpx.Response(500)) as crashed, \
            worker(database, clock, program, lambda r: httpx.Response(200)) as later:
        [claimed] = crashed.claim(10)                 # then the process died
        assert later.claim(10) == []                  # leased
        clock.advance(seconds=crashed.lease.total_seconds() + 1)
        assert later.deliver_once().delivered == 1    # sent again: at least once
        crashed.record([crashed.send(claimed)])       # a late result of the first claim
    [row] = messages(database, program)
    assert (row.state, row.attempts) == ("delivered", 1)
    assert [a.outcome for a in attempts(database, row.id)] == ["delivered", "failed"]


def test_workers_claiming_at_once_take_different_messages_and_lanes(database, program, clock):
    subscribe(database, program, clock)
    members = [new_member(database, program, clock) for _ in range(12)]
    for n, member_id in enumerate(members):
        earn(database, program, clock, member_id, 10, f"a{n}")
        earn(database, program, clock, member_id, 20, f"b{n}")
    claimed: list[list] = [[], [], []]
    start = threading.Barrier(3)
    with worker(database, clock, program) as a, worker(database, clock, program) as b, \
            worker(database, clock, program) as c:
        def claim(slot, deliverer):
            start.wait()
            claimed[slot] = deliverer.claim(30)
        threads = [threading.Thread(target=claim, args=(n, d)) for n, d in enumerate((a, b, c))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    ids = [m.id for slot in claimed for m in slot]
    assert len(ids) == len(set(ids)) == 12                  # each member's first, once
    firsts = {row.member_id: row.id for row in reversed(messages(database, program))}
    assert sorted(ids) == sorted(firsts.values())


def test_a_hanging_endpoint_does_not_hold_up_ingest(database, program, clock):
    release = threading.Event()
    arrived = threading.Event()

    def hang(request):
        arrived.set()
        release.wait(30)
        return httpx.Response(200)

    subscribe(database, program, clock)
    member_id = new_member(database, program, clock)
    earn(database, program, clock, member_id, 50, "a")
    with worker(database, clock, program, hang) as deliverer:
        runner = DeliveryRunner(deliverer, idle_seconds=0.05).start()
        try:
            assert arrived.wait(30)
            for n in range(5):                             # while the endpoint hangs
                earn(database, program, clock, member_id, 1, f"more-{n}")
            assert not release.is_set()
            assert len(messages(database, program)) == 6
        finally:
            release.set()
            runner.stop()


def test_delivered_messages_leave_the_outbox_after_the_retention(database, program, clock):
    subscribe(database, program, clock)
    ann = new_member(database, program, clock)
    earn(database, program, clock, ann, 1, "ann-1")
    earn(database, program, clock, new_member(database, program, clock), 2, "bob-1")
    with worker(database, clock, program,
                lambda r: httpx.Response(200 if b'"points":1' in r.content else 500),
                policy=RetryPolicy(max_attempts=1)) as deliverer:
        deliverer.deliver_once()
    assert sorted(r.state for r in messages(database, program)) == ["dead", "delivered"]
    clock.advance(days=29)
    assert webhook_jobs.prune(database, clock.now(), 30) == 0
    clock.advance(days=2)
    assert webhook_jobs.prune(database, clock.now(), 30) >= 1
    assert [r.state for r in messages(database, program)] == ["dead"]   # kept for a replay
