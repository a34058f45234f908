"""Every table Patron has, for the migrations' environment and the schema drift check.

The tables are declared by their domains on the one ``patron.db.metadata``; the
ground floor does not know the domains, so the list of them lives here, with
the migrations that create them.
"""

from __future__ import annotations

from sqlalchemy import MetaData

import patron.audit.tables  # noqa: F401
import patron.auth.tables  # noqa: F401
import patron.campaigns.tables  # noqa: F401
import patron.coupons.tables  # noqa: F401
import patron.earning.tables  # noqa: F401
import patron.engagement.tables  # noqa: F401
import patron.events.tables  # noqa: F401
import patron.households.tables  # noqa: F401
import patron.idempotency.tables  # noqa: F401
import patron.ledger.tables  # noqa: F401
import patron.members.tables  # noqa: F401
import patron.memberships.tables  # noqa: F401
import patron.notifications.tables  # noqa: F401
import patron.program.tables  # noqa: F401
import patron.referrals.tables  # noqa: F401
import patron.recommendations.tables  # noqa: F401
import patron.rewards.tables  # noqa: F401
import patron.segments.tables  # noqa: F401
import patron.shops.tables  # noqa: F401
import patron.tiers.tables  # noqa: F401
import patron.transfers.tables  # noqa: F401
import patron.wallet.tables  # noqa: F401
import patron.webhooks.tables  # noqa: F401
from patron.db.metadata import metadata
from patron.worker.schema import is_queue_table


def all_tables() -> MetaData:
    """The metadata with every domain's tables on it."""
    return metadata


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's ``include_name``: compare and autogenerate Patron's own tables, not the
    job queue's (procrastinate owns those; migration 0024 creates them)."""
    return not (type_ == "table" and is_queue_table(name))
