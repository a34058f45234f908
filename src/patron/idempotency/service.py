"""Replays of write requests: the same ``Idempotency-Key`` returns the first result.

The record is written in the same transaction as the change it describes, so
either both exist or neither does; a retry after a crash simply runs again.

A retry sent while the first request is still in flight can miss the key (the
first has not committed) and then meet what the first wrote: a refusal because
of it (``identity_taken`` naming the member the key created) or a lost race on a
unique constraint. Its work runs in a savepoint, so when it fails the key is
looked up again; if the first request has recorded it by then, the retry answers
its result, as any later retry would, and what it had written is rolled back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from patron.errors import IdempotencyKeyReused, PatronError
from patron.idempotency import repository


def request_hash(operation: str, payload: Any) -> str:
    text = json.dumps([operation, payload], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _recorded(conn: Connection, program_id: int, key: str,
              digest: str) -> tuple[int, Any] | None:
    """The result recorded under ``key`` (None: not yet); another request under it is 409."""
    row = repository.record_of(conn, program_id, key)
    if row is None:
        return None
    if row.request_hash != digest:
        raise IdempotencyKeyReused(
            f"Idempotency-Key {key!r} was used for a different request", key=key)
    return row.status_code, row.response


def run_once(conn: Connection, *, program_id: int, key: str | None, operation: str,
             payload: Any, now: datetime,
             work: Callable[[], tuple[int, Any]]) -> tuple[int, Any, bool]:
    """Run ``work`` unless this key already ran; returns (status, body, replayed)."""
    if key is None:
        status, body = work()
        return status, body, False
    digest = request_hash(operation, payload)
    recorded = _recorded(conn, program_id, key, digest)
    if recorded is not None:
        return *recorded, True
    try:
        with conn.begin_nested():
            status, body = work()
    except (PatronError, IntegrityError):
        recorded = _recorded(conn, program_id, key, digest)  # the same request, just committed?
        if recorded is None:
            raise
        return *recorded, True
    repository.insert_record(conn, program_id=program_id, key=key, operation=operation,
                             request_hash=digest, status_code=status, response=body,
                             created_at=now)
    return status, body, False
