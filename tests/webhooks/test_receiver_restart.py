"""A real receiver, killed while deliveries are under way and started again: nothing is
lost and no member's messages arrive out of order (on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from patron.clock import SystemClock
from patron.webhooks.delivery import Deliverer, DeliveryRunner
from patron.webhooks.domain import RetryPolicy
from patron.webhooks.tables import webhook_attempts, webhook_messages
from tests.webhooks.helpers import earn, messages, new_member, subscribe

RECEIVER = Path(__file__).with_name("receiver.py")
MEMBERS, EACH = 4, 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_receiver(port: int, log: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, str(RECEIVER), str(port), str(log)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    return process


def received(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.endswith("}")]


def until(condition: Callable[[], bool], seconds: float = 90) -> None:
    """Wait for what the test needs, however slow the machine (not a timing check)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.02)


def attempts_of(database, program) -> list:
    return list(database.read(lambda conn: conn.execute(
        select(webhook_attempts.c.outcome, webhook_messages.c.member_id,
               webhook_messages.c.id)
        .join(webhook_messages, webhook_messages.c.id == webhook_attempts.c.message_id)
        .where(webhook_messages.c.program_id == program.id)
        .order_by(webhook_attempts.c.id)).all()))


def test_a_receiver_killed_mid_delivery_loses_nothing_and_keeps_each_members_order(
        database, program, clock, tmp_path):
    port, log = free_port(), tmp_path / "received.jsonl"
    receiver = start_receiver(port, log)
    subscribe(database, program, clock, url=f"http://127.0.0.1:{port}/hooks")
    members = [new_member(database, program, clock) for _ in range(MEMBERS)]
    deliverer = Deliverer(database, SystemClock(), timeout=2, concurrency=4,
                          policy=RetryPolicy(max_attempts=10_000, backoff_seconds=0.05,
                                             backoff_max_seconds=0.2),
                          program_ids=[program.id])
    runner = DeliveryRunner(deliverer, idle_seconds=0.02).start()
    try:
        for n in range(1, EACH // 2 + 1):
            for member_id in members:
                earn(database, program, clock, member_id, n, f"{member_id}-{n}")
        until(lambda: len(received(log)) >= 6)
        receiver.kill()                                  # mid-delivery: requests in flight
        receiver.wait()
        for n in range(EACH // 2 + 1, EACH + 1):        # ingest goes on meanwhile
            for member_id in members:
                earn(database, program, clock, member_id, n, f"{member_id}-{n}")
        until(lambda: any(a.outcome == "failed" for a in attempts_of(database, program)))
        receiver = start_receiver(port, log)
        until(lambda: all(row.state == "delivered" for row in messages(database, program)))
    finally:
        runner.stop()
        receiver.kill()
        receiver.wait()

    rows = messages(database, program)
    assert len(rows) == MEMBERS * EACH
    got = received(log)
    assert {row.webhook_id for row in rows} <= {entry["webhook_id"] for entry in got}
    for member_id in members:
        firsts: list[int] = []
        for entry in got:
            data = entry["body"]["data"]
            if data["member_id"] == member_id and data["points"] not in firsts:
                firsts.append(data["points"])
        assert firsts == list(range(1, EACH + 1)), (member_id, firsts)
    tried: dict[int, list[int]] = {}
    for attempt in attempts_of(database, program):
        tried.setdefault(attempt.member_id, []).append(attempt.id)
    assert all(ids == sorted(ids) for ids in tried.values())    # never back to an earlier
