"""Replays of write requests: the same ``Idempotency-Key`` returns the first result.

The record is written in the same transaction as the change it describes, so
either both exist or neither does; a retry after a crash simply runs again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from patron.errors import IdempotencyKeyReused
from patron.idempotency.tables import idempotency_records


def request_hash(operation: str, payload: Any) -> str:
    text = json.dumps([operation, payload], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def run_once(conn: Connection, *, program_id: int, key: str | None, operation: str,
             payload: Any, now: datetime,
             work: Callable[[], tuple[int, Any]]) -> tuple[int, Any, bool]:
    """Run ``work`` unless this key already ran; returns (status, body, replayed)."""
    if key is None:
        status, body = work()
        return status, body, False
    digest = request_hash(operation, payload)
    row = conn.execute(select(idempotency_records).where(
        idempotency_records.c.program_id == program_id,
        idempotency_records.c.key == key)).first()
    if row is not None:
        if row.request_hash != digest:
            raise IdempotencyKeyReused(
                f"Idempotency-Key {key!r} was used for a different request", key=key)
        return row.status_code, row.response, True
    status, body = work()
    conn.execute(insert(idempotency_records).values(
        program_id=program_id, key=key, operation=operation, request_hash=digest,
        status_code=status, response=body, created_at=now))
    return status, body, False
