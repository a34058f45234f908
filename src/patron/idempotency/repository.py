from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update

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


def records_naming(conn: Connection, program_id: int, operations: Sequence[str],
                   paths: Sequence[tuple[str, ...]], ids: Sequence[int]) -> list[Any]:
    """The program's records of ``operations`` whose response holds one of ``ids`` at one
    of the JSON ``paths`` (``("member_a", "id")``)."""
    response = idempotency_records.c.response
    named = [(response[path[0]] if len(path) == 1 else response[path]).as_integer()
             .in_(list(ids)) for path in paths]
    return list(conn.execute(select(idempotency_records.c.id, idempotency_records.c.response)
                             .where(idempotency_records.c.program_id == program_id,
                                    idempotency_records.c.operation.in_(list(operations)),
                                    or_(*named))))


def replace_response(conn: Connection, record_id: int, response: Any) -> None:
    """The answer a retry gets, as it reads now (an erasure took personal data out of it)."""
    conn.execute(update(idempotency_records).where(idempotency_records.c.id == record_id)
                 .values(response=response))
