"""Sending: due notifications claimed, e-mailed over SMTP, and their outcome recorded.

``send_due`` is a scheduled pass (``patron.flows.jobs``). It claims up to a batch of
due rows in one short transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so passes
running at once take different rows; SQLite's write transaction serialises claims) and
leases them for a while, sends each outside any transaction, and records each outcome
in another. A failed send is tried again after a back-off that doubles per attempt; after
``PATRON_NOTIFY_MAX_ATTEMPTS`` the row is ``dead``. With ``PATRON_SMTP_URL`` empty nothing
is claimed or sent: rows stay pending until a server is configured.
"""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import Connection, or_, select, update

from patron.config import Settings, get_settings
from patron.db import Database
from patron.notifications.tables import notifications as N

BATCH = 100
LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    tls: bool
    user: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> Smtp:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"PATRON_SMTP_URL must be smtp://host:port or smtps://host:port, "
                             f"not {url!r}")
        tls = parts.scheme == "smtps"
        return cls(parts.hostname, parts.port or (465 if tls else 25), tls,
                   unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None)

    def connect(self, timeout: float) -> smtplib.SMTP:
        kind = smtplib.SMTP_SSL if self.tls else smtplib.SMTP
        client = kind(self.host, self.port, timeout=timeout)
        if self.user:
            client.login(self.user, self.password or "")
        return client


def claim(conn: Connection, now: datetime, limit: int) -> list[Any]:
    query = (select(N.c.id, N.c.recipient, N.c.subject, N.c.body, N.c.attempts)
             .where(N.c.state == "pending",
                    or_(N.c.next_attempt_at.is_(None), N.c.next_attempt_at <= now),
                    or_(N.c.locked_until.is_(None), N.c.locked_until <= now))
             .order_by(N.c.id).limit(limit))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(conn.execute(query))
    if rows:
        conn.execute(update(N).where(N.c.id.in_([row.id for row in rows]))
                     .values(locked_until=now + LEASE))
    return rows


def backoff(attempts: int, settings: Settings) -> timedelta:
    """The wait after the ``attempts``-th failed attempt."""
    seconds = settings.notify_backoff_seconds * 2 ** (attempts - 1)
    return timedelta(seconds=min(seconds, settings.notify_backoff_max_seconds))


def _message(row: Any, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row.recipient
    message["Subject"] = row.subject
    message.set_content(row.body)
    return message


def _send(rows: Sequence[Any], settings: Settings) -> dict[int, str | None]:
    """Each row's error (None: sent). One connection for the batch; a failure to connect
    fails every row of it."""
    outcome: dict[int, str | None] = {}
    try:
        client = Smtp.parse(settings.smtp_url).connect(settings.smtp_timeout_seconds)
    except (OSError, ValueError, smtplib.SMTPException) as error:
        return {row.id: f"connect: {error}"[:500] for row in rows}
    try:
        for row in rows:
            try:
                client.send_message(_message(row, settings.smtp_from))
                outcome[row.id] = None
            except (OSError, smtplib.SMTPException) as error:
                outcome[row.id] = str(error)[:500] or type(error).__name__
    finally:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()
    return outcome


def _record(conn: Connection, rows: Sequence[Any], outcome: dict[int, str | None],
            now: datetime, settings: Settings) -> None:
    for row in rows:
        error = outcome[row.id]
        attempts = row.attempts + 1
        mine = update(N).where(N.c.id == row.id, N.c.state == "pending")
        if error is None:
            conn.execute(mine.values(state="sent", attempts=attempts, sent_at=now,
                                     locked_until=None, last_error=None))
        elif attempts >= settings.notify_max_attempts:
            conn.execute(mine.values(state="dead", attempts=attempts, locked_until=None,
                                     last_error=error))
        else:
            conn.execute(mine.values(attempts=attempts, locked_until=None, last_error=error,
                                     next_attempt_at=now + backoff(attempts, settings)))


def send_due(db: Database, now: datetime,
             settings: Settings | None = None) -> dict[str, dict[str, Any]]:
    """Send every due notification, a batch at a time; counts of sent and failed."""
    settings = settings or get_settings()
    counts = {"sent": 0, "failed": 0}
    if not settings.smtp_url:
        return {"notifications": {**counts, "smtp": False}}
    while True:
        rows = db.transact(lambda conn: claim(conn, now, BATCH))
        if not rows:
            break
        outcome = _send(rows, settings)
        db.transact(lambda conn: _record(conn, rows, outcome, now, settings))
        sent = sum(1 for error in outcome.values() if error is None)
        counts["sent"] += sent
        counts["failed"] += len(rows) - sent
        if len(rows) < BATCH:
            break
    return {"notifications": counts}
