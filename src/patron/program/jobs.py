"""Scheduled work program by program: the loop sweeps share.

A sweep (tier reviews, referral payouts) handles one program's due rows a batch
at a time, each batch its own transaction, so it runs beside live traffic and a
failure loses at most one batch. A batch that came back full may have left rows
behind, so the same program is asked again until a batch comes back short.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection

from patron.program.repository import all_program_ids
from patron.program.service import Program, get_program

T = TypeVar("T")


def every_program_in_batches(db: Any, step: Callable[[Connection, Program, int], T],
                             handled: Callable[[T], int], batch: int) -> list[T]:
    """Run ``step(conn, program, batch)`` on every program until a call handles fewer
    than ``batch`` rows (``handled`` reads that from its result); every result, in order."""
    results: list[T] = []
    for program_id in db.read(all_program_ids):
        while True:
            result = db.transact(lambda conn: step(conn, get_program(conn, program_id), batch))
            results.append(result)
            if handled(result) < batch:
                break
    return results
