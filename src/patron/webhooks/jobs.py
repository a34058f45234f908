"""The webhooks' scheduled work: delivered messages leave the outbox after a while."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Connection

from patron.db import Database
from patron.webhooks import repository

PRUNE_BATCH = 1000


def prune(db: Database, now: datetime, days: int) -> int:
    """Remove messages delivered more than ``days`` ago (0: keep them), with their
    delivery log, and messages written for endpoints after they were deleted; pending and
    dead messages stay. Returns how many went."""
    removed = _remove(db, repository.leftovers)
    if days > 0:
        cutoff = now - timedelta(days=days)
        removed += _remove(db, lambda conn, limit: repository.delivered_before(
            conn, cutoff, limit))
    return removed


def _remove(db: Database, find: Callable[[Connection, int], list[int]]) -> int:
    removed = 0
    while True:
        def batch(conn: Connection) -> int:
            ids = find(conn, PRUNE_BATCH)
            if ids:
                repository.delete_messages(conn, ids)
            return len(ids)
        done = db.transact(batch)
        removed += done
        if done < PRUNE_BATCH:
            return removed
