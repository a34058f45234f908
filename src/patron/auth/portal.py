"""Members signing in to the portal with a one-time link, and their portal sessions.

There is no password: a member asks for a link with their email or phone, and
the link is the proof that they read that inbox or phone. A link's token goes
out once and is stored only as its SHA-256; it works once, for 15 minutes.
Using it opens a portal session (30 days), again stored only as a hash, and
kept apart from the staff sessions of the console. Whether an email or phone
belongs to anyone is never said: the form answers the same either way.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, insert, select, update

from patron import hooks
from patron.auth.tables import portal_links, portal_sessions
from patron.members import repository as member_repository
from patron.members import service as members
from patron.members.domain import IdentityType, InvalidIdentity, normalise_identity
from patron.program.service import Program, get_program
from patron.program.tables import programs

LINK_LIFETIME = timedelta(minutes=15)
"""Long enough to switch to the mail app, short enough that an old mail is no key."""

SESSION_LIFETIME = timedelta(days=30)
"""A phone stays signed in for a month, as members expect of a loyalty app."""

SIGN_IN_IDENTITIES = (IdentityType.EMAIL, IdentityType.PHONE)


@dataclass(frozen=True)
class IssuedLink:
    """A new sign-in link's token (shown or sent once) and when it stops working."""

    program: Program
    member_id: int
    token: str
    expires_at: datetime

    @property
    def path(self) -> str:
        return f"/portal/auth?token={self.token}"


@dataclass(frozen=True)
class PortalSession:
    """A member signed in to the portal of their program."""

    session_id: int
    program_id: int
    member_id: int
    csrf_token: str
    expires_at: datetime


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_link(conn: Connection, program: Program, member_id: int, now: datetime) -> IssuedLink:
    """A new one-time link for the member (404 for an unknown one); older links still work
    until they expire, so asking twice never locks anyone out; 409 ``member_erased`` for
    an erased member."""
    members.refuse_erased(members.person_row(conn, program, member_id))
    token = secrets.token_urlsafe(32)
    expires_at = now + LINK_LIFETIME
    conn.execute(insert(portal_links).values(
        program_id=program.id, member_id=member_id, token_hash=_sha256(token),
        created_at=now, expires_at=expires_at))
    return IssuedLink(program, member_id, token, expires_at)


def _members_known_as(conn: Connection, program: Program, text: str) -> list[int]:
    keys = []
    for kind in SIGN_IN_IDENTITIES:
        try:
            keys.append((kind.value, normalise_identity(kind, text,
                                                        program.settings.default_region)))
        except InvalidIdentity:
            continue
    found = member_repository.members_by_identity(conn, program.id, keys).values()
    return [member_id for member_id in dict.fromkeys(found)
            if member_repository.status_of(conn, program.id, member_id).status != "closed"]


def links_for_identity(conn: Connection, text: str, now: datetime) -> list[IssuedLink]:
    """A link for each member, in any program, whose email or phone this is (often none)."""
    text = text.strip()
    if not text:
        return []
    issued = []
    for program_id in conn.execute(select(programs.c.id).order_by(programs.c.id)).scalars():
        program = get_program(conn, program_id)
        for member_id in _members_known_as(conn, program, text):
            issued.append(issue_link(conn, program, member_id, now))
    return issued


def use_link(conn: Connection, token: str, now: datetime) -> tuple[str, PortalSession] | None:
    """Spend the link and open a session (its token and the session); ``None`` when the link
    is unknown, used or expired. The guarded update makes a link work once, even twice at once."""
    digest = _sha256(token)
    spent = conn.execute(update(portal_links).where(
        portal_links.c.token_hash == digest, portal_links.c.used_at.is_(None),
        portal_links.c.expires_at > now).values(used_at=now))
    if spent.rowcount != 1:
        return None
    link = conn.execute(select(portal_links.c.program_id, portal_links.c.member_id)
                        .where(portal_links.c.token_hash == digest)).one()
    session_token = secrets.token_urlsafe(32)
    conn.execute(insert(portal_sessions).values(
        program_id=link.program_id, member_id=link.member_id,
        token_hash=_sha256(session_token), csrf_token=secrets.token_urlsafe(32),
        created_at=now, expires_at=now + SESSION_LIFETIME))
    session = session_for(conn, session_token, now)
    assert session is not None
    return session_token, session


def session_for(conn: Connection, token: str, now: datetime) -> PortalSession | None:
    """The live portal session a cookie's token names."""
    row = conn.execute(select(portal_sessions).where(
        portal_sessions.c.token_hash == _sha256(token), portal_sessions.c.revoked_at.is_(None),
        portal_sessions.c.expires_at > now)).first()
    if row is None:
        return None
    return PortalSession(row.id, row.program_id, row.member_id, row.csrf_token, row.expires_at)


def close_session(conn: Connection, token: str, now: datetime) -> None:
    conn.execute(update(portal_sessions).where(portal_sessions.c.token_hash == _sha256(token),
                                               portal_sessions.c.revoked_at.is_(None))
                 .values(revoked_at=now))


def on_member_erased(conn: Connection, happened: hooks.MemberErased) -> None:
    """An erased member is signed out of the portal, and unused sign-in links stop working."""
    ids = list(happened.records)
    conn.execute(update(portal_sessions).where(portal_sessions.c.member_id.in_(ids),
                                               portal_sessions.c.revoked_at.is_(None))
                 .values(revoked_at=happened.at))
    conn.execute(update(portal_links).where(portal_links.c.member_id.in_(ids),
                                            portal_links.c.used_at.is_(None),
                                            portal_links.c.expires_at > happened.at)
                 .values(expires_at=happened.at))
