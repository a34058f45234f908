"""API keys: a public prefix to find the key, a secret stored only as a hash.

Keys carry 256 bits of randomness, so a plain SHA-256 of the secret is enough
(no slow hash is needed against guessing) and keeps authentication cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from limits import parse
from sqlalchemy import Connection, bindparam, exists, insert, select, update
from sqlalchemy.sql.elements import ColumnElement

from patron.auth.tables import api_keys
from patron.clock import SystemClock
from patron.errors import Forbidden, NotFound, PatronError, Unauthorized
from patron.program.tables import programs
from patron.schemas_common import plain_id


class Role(StrEnum):
    ADMIN = "admin"
    INTEGRATION = "integration"
    ANALYST = "analyst"


class Permission(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"
    ANALYTICS = "analytics"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.INTEGRATION: frozenset({Permission.READ, Permission.WRITE}),
    Role.ANALYST: frozenset({Permission.READ, Permission.ANALYTICS}),
}


@dataclass(frozen=True)
class Principal:
    key_id: int
    program_id: int
    program_slug: str
    role: Role
    rate_limit: str | None = None
    """The key's own limit (``100/minute``), else the setting applies."""
    expires_at: datetime | None = None

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}"

    def require(self, permission: Permission) -> None:
        if permission not in ROLE_PERMISSIONS[self.role]:
            raise Forbidden(f"the {self.role.value} role may not do this "
                            f"(needs {permission.value})", role=self.role.value)


@dataclass(frozen=True)
class IssuedKey:
    id: int
    key: str
    role: Role


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyExpired(Unauthorized):
    code = "api_key_expired"
    title = "API key expired"


class InvalidKeySettings(PatronError):
    status = 422
    code = "invalid_api_key_settings"
    title = "Invalid API key settings"


def checked_rate_limit(text: str | None) -> str | None:
    """``text`` if it is a rate such as ``100/minute`` (else ``InvalidKeySettings``)."""
    if text is None:
        return None
    try:
        parse(text)
    except ValueError:
        raise InvalidKeySettings(f"{text!r} is not a rate such as 100/minute or 5/second",
                                 rate_limit=text) from None
    return text


def create_key(conn: Connection, *, program_id: int, role: Role, name: str,
               now: datetime, expires_at: datetime | None = None,
               rate_limit: str | None = None) -> IssuedKey:
    """A new key, shown once; it stops working at ``expires_at`` if given."""
    if expires_at is not None and expires_at <= now:
        raise InvalidKeySettings("a key must expire in the future",
                                 expires_at=expires_at.isoformat())
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key_id = conn.execute(insert(api_keys).values(
        program_id=program_id, prefix=prefix, secret_hash=_hash(secret), role=role.value,
        name=name, created_at=now, expires_at=expires_at,
        rate_limit=checked_rate_limit(rate_limit)).returning(api_keys.c.id)).scalar_one()
    return IssuedKey(key_id, f"ptn_{prefix}_{secret}", role)


def revoke_key(conn: Connection, *, key_id: int, now: datetime,
               program_id: int | None = None) -> None:
    """Revoke a key: every server process refuses it from its next request on."""
    where = [api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)]
    if program_id is not None:
        where.append(api_keys.c.program_id == program_id)
    done = conn.execute(update(api_keys).where(*where).values(revoked_at=now)).rowcount
    if not done:
        raise KeyNotFound(f"no active API key {key_id}", key_id=key_id)


class KeyNotFound(NotFound):
    code = "api_key_not_found"
    title = "No such API key"


_PUBLIC_PART = re.compile(r"ptn_(?P<prefix>[0-9a-f]{12})(?:_.*)?", re.DOTALL)


def key_id_of(conn: Connection, program_id: int, ref: str) -> int:
    """The id of the program's active key named by ``ref``: its id, or its public part
    (``ptn_`` and the 12 hex digits ``patron keys list`` shows; what follows is ignored),
    so a key can be named without knowing its id and without typing its secret."""
    key_id = plain_id(ref)
    if key_id is not None:
        return key_id
    found = _PUBLIC_PART.fullmatch(ref)
    row = found and conn.execute(select(api_keys.c.id).where(
        api_keys.c.program_id == program_id, api_keys.c.prefix == found.group("prefix"),
        api_keys.c.revoked_at.is_(None))).first()
    if not row:
        shown = f"ptn_{found.group('prefix')}" if found else ref[:40]
        raise KeyNotFound(f"no active API key {shown}: give its id or its prefix "
                          "(ptn_ and 12 hex digits) as `patron keys list` shows them")
    return row.id


@dataclass(frozen=True)
class KeyInfo:
    """What can be shown of a key: never its secret (only its public prefix)."""

    id: int
    prefix: str
    role: Role
    name: str
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = None
    rate_limit: str | None = None


def list_keys(conn: Connection, program_id: int, *, revoked: bool = False) -> list[KeyInfo]:
    """The program's keys, oldest first; revoked ones only when asked."""
    query = select(api_keys).where(api_keys.c.program_id == program_id)
    if not revoked:
        query = query.where(api_keys.c.revoked_at.is_(None))
    return [KeyInfo(row.id, row.prefix, Role(row.role), row.name, row.created_at,
                    row.revoked_at, row.expires_at, row.rate_limit) for row in conn.execute(query.order_by(api_keys.c.id))]


def rotate_key(conn: Connection, *, program_id: int, key_id: int, now: datetime,
               expires_at: datetime | None = None) -> IssuedKey:
    """A new key with the old one's role, name and rate limit (and ``expires_at``), and
    the old one revoked, in one transaction."""
    row = conn.execute(select(api_keys).where(
        api_keys.c.id == key_id, api_keys.c.program_id == program_id,
        api_keys.c.revoked_at.is_(None))).first()
    if row is None:
        raise KeyNotFound(f"no active API key {key_id}", key_id=key_id)
    issued = create_key(conn, program_id=program_id, role=Role(row.role), name=row.name,
                        now=now, expires_at=expires_at, rate_limit=row.rate_limit)
    revoke_key(conn, key_id=key_id, now=now, program_id=program_id)
    return issued


class _KeyCache:
    """Keys verified in the last few seconds, so a busy integration does not pay a
    lookup and a trip to the thread pool on every call.

    A cached key is still checked on every request: the statement that reads the
    program for the request's work carries ``key_in_force`` as a condition, so a
    revoked key is refused at once by every process at no extra statement
    (``api.deps.Context``). Expiry is checked against the clock from the cached row.
    """

    ttl = 5.0

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> Principal | None:
        with self._lock:
            item = self._items.get(token)
        if item and item[0] > time.monotonic():
            return item[1]
        return None

    def put(self, token: str, principal: Principal) -> None:
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[token] = (time.monotonic() + self.ttl, principal)

    def forget(self, token: str) -> None:
        with self._lock:
            self._items.pop(token, None)


_CACHE = _KeyCache()


def known_principal(token: str, now: datetime) -> Principal | None:
    """The caller of a key verified moments ago, without a database connection; None
    when it must be looked up (not cached, or past its expiry: the lookup says so)."""
    principal = _CACHE.get(token)
    if principal is None or (principal.expires_at is not None and principal.expires_at <= now):
        return None
    return principal


def forget_key(token: str) -> None:
    """Drop a cached key, so the next ``authenticate`` reads it afresh."""
    _CACHE.forget(token)


_KEY_IN_FORCE = exists().where(api_keys.c.id == bindparam("guard_key_id"),
                               api_keys.c.revoked_at.is_(None))


def key_in_force(key_id: int) -> tuple[ColumnElement[bool], dict[str, Any]]:
    """True while key ``key_id`` is not revoked: a condition for a statement the
    request runs anyway, so a cached key costs no lookup of its own. The condition is
    built once; its parameters come beside it."""
    return _KEY_IN_FORCE, {"guard_key_id": key_id}


def authenticate(conn: Connection, token: str, now: datetime | None = None) -> Principal:
    """The caller of ``token``, read from the database (and remembered for a few
    seconds, see ``_KeyCache``): a revoked or expired key is refused."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "ptn":
        raise Unauthorized("malformed API key")
    row = conn.execute(
        select(api_keys.c.id, api_keys.c.secret_hash, api_keys.c.role, api_keys.c.revoked_at,
               api_keys.c.expires_at, api_keys.c.rate_limit, api_keys.c.program_id,
               programs.c.slug)
        .join(programs, programs.c.id == api_keys.c.program_id)
        .where(api_keys.c.prefix == parts[1])).first()
    if row is None or row.revoked_at is not None or not hmac.compare_digest(
            row.secret_hash, _hash(parts[2])):
        raise Unauthorized("unknown or revoked API key")
    if row.expires_at is not None and row.expires_at <= (now or SystemClock().now()):
        raise KeyExpired(f"API key {row.id} expired at {row.expires_at.isoformat()}; "
                         "rotate it or create a new one", key_id=row.id,
                         expired_at=row.expires_at.isoformat())
    principal = Principal(row.id, row.program_id, row.slug, Role(row.role), row.rate_limit,
                          row.expires_at)
    _CACHE.put(token, principal)
    return principal
