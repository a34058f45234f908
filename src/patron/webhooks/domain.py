"""Pure decisions of webhook delivery: secrets, message bodies, ids, retries."""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
"""A new secret's size: Standard Webhooks asks for 24 to 64 random bytes."""
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def new_secret() -> str:
    """A signing secret as Standard Webhooks writes it: ``whsec_`` and base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_problem(secret: str) -> str | None:
    """Why ``secret`` cannot sign (None: it can): ``whsec_`` and 24 to 64 bytes in base64."""
    if not secret.startswith(SECRET_PREFIX):
        return f"must start with {SECRET_PREFIX!r}"
    encoded = secret[len(SECRET_PREFIX):]
    if not _BASE64.fullmatch(encoded):
        return "must be base64 after the prefix"
    try:
        raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        return "must be base64 after the prefix"
    if not 24 <= len(raw) <= 64:
        return f"must hold 24 to 64 bytes (it holds {len(raw)})"
    return None


def new_webhook_id() -> str:
    """A message id (``webhook-id``): unique, the same on every attempt and endpoint."""
    return "msg_" + secrets.token_hex(12)


def body(event_type: str, at: datetime, program: str, data: dict[str, Any]) -> str:
    """The message body, serialised once when the outbox row is written (the bytes sent
    and signed are these, on every attempt)."""
    return json.dumps({"type": event_type, "timestamp": at.isoformat(),
                       "data": {"program": program, **data}}, separators=(",", ":"))


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 10
    backoff_seconds: float = 5.0
    backoff_max_seconds: float = 21_600.0

    def wait(self, failures: int, jitter: float) -> timedelta:
        """The wait after the ``failures``-th failed attempt: ``backoff_seconds`` doubled
        per earlier failure, capped at ``backoff_max_seconds``, then scaled by a factor
        from 0.5 to 1 (``jitter`` in [0, 1)), so endpoints that failed together do not
        all come back at the same instant."""
        full = min(self.backoff_max_seconds, self.backoff_seconds * 2 ** min(failures - 1, 62))
        return timedelta(seconds=full * (0.5 + 0.5 * jitter))


@dataclass(frozen=True)
class Verdict:
    state: str
    """``delivered``, ``pending`` (to try again at ``next_attempt_at``) or ``dead``."""
    next_attempt_at: datetime | None


def verdict(policy: RetryPolicy, attempts: int, delivered: bool, now: datetime,
            jitter: float) -> Verdict:
    """Where a message stands after its ``attempts``-th attempt (counted since it was
    written or last replayed)."""
    if delivered:
        return Verdict("delivered", None)
    if attempts >= policy.max_attempts:
        return Verdict("dead", None)
    return Verdict("pending", now + policy.wait(attempts, jitter))


def is_success(status: int | None) -> bool:
    """A 2xx answer is delivery; anything else (a redirect too) is a failure."""
    return status is not None and 200 <= status < 300
