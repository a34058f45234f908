"""When points expire: the program's expiry rule as plain data and one pure function.

The rule belongs to the program (``settings.expiry`` of the program document),
so it lives here, where the document can build it without knowing about the
ledger; the ledger applies it to every lot it creates.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class ExpiryPolicy:
    """Points expire ``days`` after they become available; ``None`` means never.

    With ``round_to_month_end`` the lot lives until the end of the month in
    which it would expire (in the program's timezone), which is what members
    remember: "my points expire at the end of March".
    """

    days: int | None = None
    round_to_month_end: bool = False
    timezone: str = "UTC"


def lot_expiry(available_at: datetime, policy: ExpiryPolicy) -> datetime | None:
    """When points that became available at ``available_at`` expire; None: never."""
    if policy.days is None:
        return None
    expires = available_at + timedelta(days=policy.days)
    if not policy.round_to_month_end:
        return expires
    tz = ZoneInfo(policy.timezone)
    local = expires.astimezone(tz)
    last_day = calendar.monthrange(local.year, local.month)[1]
    next_month = date(local.year, local.month, last_day) + timedelta(days=1)
    return datetime.combine(next_month, time(0), tzinfo=tz).astimezone(timezone.utc)
