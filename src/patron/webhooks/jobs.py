"""The webhooks' scheduled work: delivered messages leave the outbox after a while."""

from __future__ import annotations

from datetime import datetime, timedelta

from patron.db import Database
from patron.webhooks import repository

PRUNE_BATCH = 1000


def prune(db: Database, now: datetime, days: int) -> int:
    """Remove messages delivered more than ``days`` ago (0: keep them), with their
    delivery log; pending and dead messages stay. Returns how many went."""
    if days <= 0:
        return 0
    cutoff, removed = now - timedelta(days=days), 0
    while True:
        def batch(conn) -> int:
            ids = repository.delivered_before(conn, cutoff, PRUNE_BATCH)
            if ids:
                repository.delete_messages(conn, ids)
            return len(ids)
        done = db.transact(batch)
        removed += done
        if done < PRUNE_BATCH:
            return removed
