"""Replays by Idempotency-Key, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from patron.errors import Conflict, IdempotencyKeyReused
from patron.idempotency import repository
from patron.idempotency.service import run_once
from patron.members import repository as member_repository
from patron.members.service import enrol


def test_a_retry_refused_for_what_its_first_run_wrote_answers_that_run_and_writes_nothing(
        database, program, clock, monkeypatch):
    def send(payload, identity: str, refuse: bool):
        def work(conn):
            [member_id] = enrol(conn, program, clock.now(), [{}],
                                [[("external_id", identity, None)]])
            if refuse:
                raise Conflict("refused because of what the first run wrote")
            return 201, {"id": member_id}
        return database.transact(lambda conn: run_once(
            conn, program_id=program.id, key="k-1", operation="enrol", payload=payload,
            now=clock.now(), work=lambda: work(conn)))

    first = send({"n": 1}, "first", refuse=False)
    assert first[0] == 201 and first[2] is False
    # The retry looks the key up before the first run commits, then meets its writes.
    looked, calls = repository.record_of, []
    monkeypatch.setattr(repository, "record_of",
                        lambda *args: looked(*args) if calls.append(args) or len(calls) > 1
                        else None)
    assert send({"n": 1}, "retry", refuse=True) == (201, first[1], True)
    assert database.read(lambda conn: member_repository.members_by_identity(
        conn, program.id, [("external_id", "retry")])) == {}
    with pytest.raises(IdempotencyKeyReused):
        send({"n": 2}, "other", refuse=True)
