"""Staff accounts: the people who sign in to the console, and their sessions.

A staff account has one of the API keys' roles, so the console lets a person do
exactly what a key of that role may do. Passwords are kept as argon2 hashes; a
sign-in with an unknown email still verifies a hash, so the answer takes as long
either way and says nothing about which emails exist. A session's token goes to
the browser once, in a cookie, and is stored only as its SHA-256 (it carries 256
bits of randomness, like an API key's secret).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, insert, select, update

from patron.auth.service import ROLE_PERMISSIONS, Permission, Role
from patron.auth.tables import staff_accounts, staff_sessions
from patron.errors import Conflict, Forbidden, InvalidInput, Unauthorized
from patron.program.tables import programs

SESSION_LIFETIME = timedelta(hours=12)
"""A working day: a console left open overnight asks for the password again."""

MIN_PASSWORD = 10

_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("not a password anyone has")


class StaffEmailTaken(Conflict):
    code = "staff_email_taken"
    title = "Staff email taken"


class BadCredentials(Unauthorized):
    code = "bad_credentials"
    title = "Wrong email or password"


@dataclass(frozen=True)
class StaffSession:
    """Who is signed in to the console, for which program, with which role."""

    session_id: int
    account_id: int
    program_id: int
    program_slug: str
    email: str
    name: str
    role: Role
    csrf_token: str
    expires_at: datetime

    @property
    def actor(self) -> str:
        return f"staff:{self.email}"

    def may(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    def require(self, permission: Permission) -> None:
        if not self.may(permission):
            raise Forbidden(f"the {self.role.value} role may not do this "
                            f"(needs {permission.value})", role=self.role.value)


@dataclass(frozen=True)
class OpenedSession:
    token: str
    session: StaffSession


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _email(value: str) -> str:
    email = value.strip().lower()
    if "@" not in email or len(email) > 254:
        raise InvalidInput(f"{value!r} is not an email address", field="email")
    return email


def create_staff(conn: Connection, *, program_id: int, email: str, password: str, role: Role,
                 name: str | None, now: datetime) -> int:
    """A new staff account; 409 ``staff_email_taken`` when the program has the email."""
    email = _email(email)
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD} characters",
                           field="password")
    taken = conn.execute(select(staff_accounts.c.id).where(
        staff_accounts.c.program_id == program_id, staff_accounts.c.email == email)).first()
    if taken:
        raise StaffEmailTaken(f"{email} already has a staff account in this program")
    return conn.execute(insert(staff_accounts).values(
        program_id=program_id, email=email, name=name or email, role=role.value,
        password_hash=_HASHER.hash(password), created_at=now)
        .returning(staff_accounts.c.id)).scalar_one()


def _verified(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def authenticate(conn: Connection, *, email: str, password: str) -> int:
    """The id of the enabled account with this email and password (the first such, should
    the email have accounts in several programs); ``BadCredentials`` otherwise."""
    rows = conn.execute(select(staff_accounts.c.id, staff_accounts.c.password_hash)
                        .where(staff_accounts.c.email == email.strip().lower(),
                               staff_accounts.c.disabled_at.is_(None))
                        .order_by(staff_accounts.c.id)).all()
    if not rows:
        _verified(_DUMMY_HASH, password)  # as long as a real check: no hint the email is unknown
    for row in rows:
        if _verified(row.password_hash, password):
            if _HASHER.check_needs_rehash(row.password_hash):
                conn.execute(update(staff_accounts).where(staff_accounts.c.id == row.id)
                             .values(password_hash=_HASHER.hash(password)))
            return row.id
    raise BadCredentials("wrong email or password")


def open_session(conn: Connection, account_id: int, now: datetime) -> OpenedSession:
    token = secrets.token_urlsafe(32)
    conn.execute(insert(staff_sessions).values(
        account_id=account_id, token_hash=_sha256(token), csrf_token=secrets.token_urlsafe(32),
        created_at=now, expires_at=now + SESSION_LIFETIME))
    session = session_for(conn, token, now)
    assert session is not None
    return OpenedSession(token, session)


def session_for(conn: Connection, token: str, now: datetime) -> StaffSession | None:
    """The live session a cookie's token names: not expired, revoked or disabled."""
    row = conn.execute(
        select(staff_sessions.c.id, staff_sessions.c.csrf_token, staff_sessions.c.expires_at,
               staff_accounts.c.id.label("account_id"), staff_accounts.c.email,
               staff_accounts.c.name, staff_accounts.c.role, staff_accounts.c.program_id,
               programs.c.slug)
        .join(staff_accounts, staff_accounts.c.id == staff_sessions.c.account_id)
        .join(programs, programs.c.id == staff_accounts.c.program_id)
        .where(staff_sessions.c.token_hash == _sha256(token),
               staff_sessions.c.revoked_at.is_(None), staff_sessions.c.expires_at > now,
               staff_accounts.c.disabled_at.is_(None))).first()
    if row is None:
        return None
    return StaffSession(row.id, row.account_id, row.program_id, row.slug, row.email, row.name,
                        Role(row.role), row.csrf_token, row.expires_at)


def close_session(conn: Connection, token: str, now: datetime) -> None:
    conn.execute(update(staff_sessions).where(staff_sessions.c.token_hash == _sha256(token),
                                              staff_sessions.c.revoked_at.is_(None))
                 .values(revoked_at=now))


def set_staff(conn: Connection, *, program_id: int, email: str, password: str, role: Role,
              name: str | None, now: datetime) -> int:
    """Create the account, or give an existing one this password and role (the demo's
    account gets a fresh password each time the demo starts)."""
    existing = conn.execute(select(staff_accounts.c.id).where(
        staff_accounts.c.program_id == program_id,
        staff_accounts.c.email == _email(email))).scalar()
    if existing is None:
        return create_staff(conn, program_id=program_id, email=email, password=password,
                            role=role, name=name, now=now)
    conn.execute(update(staff_accounts).where(staff_accounts.c.id == existing).values(
        password_hash=_HASHER.hash(password), role=role.value, disabled_at=None))
    return existing
