"""The outbox: messages written by a hook subscriber, in the transaction of the change.

``on_happening`` is subscribed (``patron.flows.subscribers``) to every happening that
makes a webhook event type. It costs a dictionary lookup when the program has no
enabled endpoint for the type: which endpoints take which types is read once per
program and kept for ``PATRON_WEBHOOK_CACHE_SECONDS`` (and forgotten at once when this
process changes an endpoint). Otherwise each message's body is serialised once and the
rows, a message per endpoint, go in with one statement per happening.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from patron import hooks
from patron.config import get_settings
from patron.webhooks import domain, repository
from patron.webhooks.event_types import BY_HAPPENING

Types = dict[str, tuple[int, ...]]


class Subscriptions:
    """Per program: each event type with the enabled endpoints that take it.

    Kept per database engine too: a process may hold two databases (the tests, a
    benchmark), whose programs share ids."""

    def __init__(self, ttl: Callable[[], float] = lambda: get_settings().webhook_cache_seconds,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl, self._clock = ttl, clock
        self._known: dict[tuple[Any, int], tuple[float, Types]] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def of(self, conn: Connection, program_id: int) -> Types:
        key = (conn.engine, program_id)
        now = self._clock()
        known = self._known.get(key)
        if known is not None and known[0] > now:
            return known[1]
        generation = self._generation
        types = repository.enabled_types(conn, program_id)
        with self._lock:
            if generation == self._generation:  # not forgotten while it was read
                self._known[key] = (now + self._ttl(), types)
        return types

    def forget(self, program_id: int | None = None) -> None:
        """After a change of endpoints (None: every program's)."""
        with self._lock:
            self._generation += 1
            for key in [key for key in self._known
                        if program_id is None or key[1] == program_id]:
                del self._known[key]


subscriptions = Subscriptions()


def on_happening(conn: Connection, happened: Any) -> None:
    """Write the happening's messages for every enabled endpoint that takes their type."""
    program = happened.program
    wanted = subscriptions.of(conn, program.id)
    if not wanted:
        return
    rows: list[dict[str, Any]] = []
    for entry in BY_HAPPENING[type(happened)]:
        endpoints = wanted.get(entry.name)
        if not endpoints:
            continue
        for member_id, at, data in entry.messages(happened):
            payload = domain.body(entry.name, at, program.slug, data)
            webhook_id = domain.new_webhook_id()
            lane = member_id or 0
            rows.extend({"program_id": program.id, "endpoint_id": endpoint_id,
                         "webhook_id": webhook_id, "event_type": entry.name,
                         "member_id": member_id, "lane": lane, "payload": payload,
                         "occurred_at": at, "state": "pending", "attempts": 0}
                        for endpoint_id in endpoints)
    if rows:
        repository.insert_messages(conn, rows)


ERASED_FIELDS = ("subject", "body")
"""What a ``notification.ready`` message says to the person: gone when they are erased."""


def on_member_erased(conn: Connection, happened: hooks.MemberErased) -> None:
    """Messages that carry what a member was told (``notification.ready``) lose its text
    when the member is erased, and those not yet sent are never sent: the delivery log
    keeps that a message went out, and when, not what it said. Other messages carry ids,
    points and amounts, which erasure keeps (as the ledger does)."""
    for row in repository.messages_to(conn, list(happened.records), "notification.ready"):
        message = json.loads(row.payload)
        message["data"].update(dict.fromkeys(ERASED_FIELDS, ""))
        repository.forget_message(conn, row.id, json.dumps(message, separators=(",", ":")),
                                  drop=row.state == "pending")
