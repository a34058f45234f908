from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from patron.idempotency.tables import idempotency_records


def record_of(conn: Connection, program_id: int, key: str) -> Any:
    """The request recorded under ``key`` (hash, status and response), or None."""
    return conn.execute(select(idempotency_records).where(
        idempotency_records.c.program_id == program_id,
        idempotency_records.c.key == key)).first()


def insert_record(conn: Connection, *, program_id: int, key: str, operation: str,
                  request_hash: str, status_code: int, response: Any,
                  created_at: datetime) -> None:
    conn.execute(insert(idempotency_records).values(
        program_id=program_id, key=key, operation=operation, request_hash=request_hash,
        status_code=status_code, response=response, created_at=created_at))
