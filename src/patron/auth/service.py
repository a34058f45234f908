"""API keys: a public prefix to find the key, a secret stored only as a hash.

Keys carry 256 bits of randomness, so a plain SHA-256 of the secret is enough
(no slow hash is needed against guessing) and keeps authentication cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection, insert, select, update

from patron.auth.tables import api_keys
from patron.errors import Forbidden, NotFound, Unauthorized
from patron.program.tables import programs


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


def create_key(conn: Connection, *, program_id: int, role: Role, name: str,
               now: datetime) -> IssuedKey:
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key_id = conn.execute(insert(api_keys).values(
        program_id=program_id, prefix=prefix, secret_hash=_hash(secret), role=role.value,
        name=name, created_at=now).returning(api_keys.c.id)).scalar_one()
    return IssuedKey(key_id, f"ptn_{prefix}_{secret}", role)


def revoke_key(conn: Connection, *, key_id: int, now: datetime,
               program_id: int | None = None) -> None:
    """Revoke a key: refused by this process at once, by other server processes once
    their few seconds of cached verification run out (``_KeyCache.ttl``)."""
    where = [api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)]
    if program_id is not None:
        where.append(api_keys.c.program_id == program_id)
    done = conn.execute(update(api_keys).where(*where).values(revoked_at=now)).rowcount
    if not done:
        raise KeyNotFound(f"no active API key {key_id}", key_id=key_id)
    _CACHE.clear()


class KeyNotFound(NotFound):
    code = "api_key_not_found"
    title = "No such API key"


@dataclass(frozen=True)
class KeyInfo:
    """What can be shown of a key: never its secret (only its public prefix)."""

    id: int
    prefix: str
    role: Role
    name: str
    created_at: datetime
    revoked_at: datetime | None


def list_keys(conn: Connection, program_id: int, *, revoked: bool = False) -> list[KeyInfo]:
    """The program's keys, oldest first; revoked ones only when asked."""
    query = select(api_keys).where(api_keys.c.program_id == program_id)
    if not revoked:
        query = query.where(api_keys.c.revoked_at.is_(None))
    return [KeyInfo(row.id, row.prefix, Role(row.role), row.name, row.created_at,
                    row.revoked_at) for row in conn.execute(query.order_by(api_keys.c.id))]


def rotate_key(conn: Connection, *, program_id: int, key_id: int, now: datetime) -> IssuedKey:
    """A new key with the old one's role and name, and the old one revoked, in one
    transaction: an integration swaps its secret without a moment with no valid key
    if it installs the new one before the next cache expiry."""
    row = conn.execute(select(api_keys).where(
        api_keys.c.id == key_id, api_keys.c.program_id == program_id,
        api_keys.c.revoked_at.is_(None))).first()
    if row is None:
        raise KeyNotFound(f"no active API key {key_id}", key_id=key_id)
    issued = create_key(conn, program_id=program_id, role=Role(row.role), name=row.name,
                        now=now)
    revoke_key(conn, key_id=key_id, now=now, program_id=program_id)
    return issued


class _KeyCache:
    """Recently verified keys, so a busy integration is not one query per call.

    Entries live a few seconds: a revoked key stops working within that time.
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

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_CACHE = _KeyCache()


def known_principal(token: str) -> Principal | None:
    """The caller of a key verified moments ago, without a database connection."""
    return _CACHE.get(token)


def authenticate(conn: Connection, token: str) -> Principal:
    cached = _CACHE.get(token)
    if cached:
        return cached
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "ptn":
        raise Unauthorized("malformed API key")
    row = conn.execute(
        select(api_keys.c.id, api_keys.c.secret_hash, api_keys.c.role, api_keys.c.revoked_at,
               api_keys.c.program_id, programs.c.slug)
        .join(programs, programs.c.id == api_keys.c.program_id)
        .where(api_keys.c.prefix == parts[1])).first()
    if row is None or row.revoked_at is not None or not hmac.compare_digest(
            row.secret_hash, _hash(parts[2])):
        raise Unauthorized("unknown or revoked API key")
    principal = Principal(row.id, row.program_id, row.slug, Role(row.role))
    _CACHE.put(token, principal)
    return principal
