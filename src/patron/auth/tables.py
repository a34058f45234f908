from sqlalchemy import Column, ForeignKey, String, Table, UniqueConstraint

from patron.db.metadata import metadata
from patron.db.types import BigId, UTCDateTime

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("prefix", String(32), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    Column("expires_at", UTCDateTime),
    Column("rate_limit", String(32)),
    UniqueConstraint("prefix"),
)
"""``expires_at``: refused from then on (401 ``api_key_expired``); ``rate_limit``: the
key's own requests per period (``100/minute``), else the setting ``PATRON_RATE_LIMIT``."""

staff_accounts = Table(
    "staff_accounts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("email", String(254), nullable=False),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("disabled_at", UTCDateTime),
    UniqueConstraint("program_id", "email"),
)
"""People who sign in to the console; ``role`` is an API key's role (``Role``)."""

staff_sessions = Table(
    "staff_sessions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", BigId, ForeignKey("staff_accounts.id"), nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    UniqueConstraint("token_hash"),
)
"""A signed-in browser: the cookie's token is stored only as its SHA-256."""

portal_links = Table(
    "portal_links",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
    UniqueConstraint("token_hash"),
)
"""A one-time sign-in link for the member portal: the token is stored only as its SHA-256."""

portal_sessions = Table(
    "portal_sessions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    UniqueConstraint("token_hash"),
)
"""A member signed in to the portal, separate from staff sessions."""
