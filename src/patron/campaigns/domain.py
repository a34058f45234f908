"""Which group a member of a campaign's target falls in, and what state a campaign is in.

The group is a pure function of program, campaign and member: a hash bucket of
0..9999, in the holdout when below ``holdout × 10000``. Anyone (a job, a report,
the simulator) gets the same answer without asking the database; the assignment
job still records it, so a later change of the holdout share moves nobody.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from typing import Literal

from patron.errors import NotFound
from patron.program.document import Campaign, ProgramDocument

Group = Literal["treatment", "holdout"]
Status = Literal["upcoming", "running", "ended"]
BUCKETS = 10_000


class CampaignNotFound(NotFound):
    code = "campaign_not_found"
    title = "No such campaign"


def campaign_of(document: ProgramDocument, campaign_id: str,
                version: int | None = None) -> Campaign:
    """The document's campaign of that id (``version`` names the document in the error)."""
    try:
        return document.campaign(campaign_id)
    except KeyError:
        where = "the program" if version is None else f"program version {version}"
        raise CampaignNotFound(f"{where} has no campaign {campaign_id!r}",
                               field="campaign_id") from None


def bucket(program_id: int, campaign_id: str, member_id: int) -> int:
    digest = hashlib.sha256(f"{program_id}:{campaign_id}:{member_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def group_of(bucket_number: int, holdout: Decimal) -> Group:
    return "holdout" if bucket_number < holdout * BUCKETS else "treatment"


def assign(program_id: int, campaign_id: str, member_id: int,
           holdout: Decimal) -> tuple[int, Group]:
    found = bucket(program_id, campaign_id, member_id)
    return found, group_of(found, holdout)


def status(starts: datetime, ends: datetime, now: datetime) -> Status:
    """``ends`` is exclusive: a campaign ending on a date ended at that day's midnight."""
    if now < starts:
        return "upcoming"
    return "running" if now < ends else "ended"


SOURCE_PREFIX = "campaign:"
"""Coupons a campaign issues name it as their source: ``campaign:<id>``."""


def coupon_source(campaign_id: str) -> str:
    return f"{SOURCE_PREFIX}{campaign_id}"


def campaign_of_source(source: str | None) -> str | None:
    """The campaign that issued a coupon, from its source; None when none did."""
    if source and source.startswith(SOURCE_PREFIX):
        return source[len(SOURCE_PREFIX):] or None
    return None


def coupon_value(discount_amount: int | None) -> int:
    """What a coupon costs the campaign when issued: its fixed money off. A percent or
    free-shipping coupon's cost is only known when used: it counts 0 here and its
    discount is charged to the budget at checkout (``charged_at_use``)."""
    return discount_amount or 0


def charged_at_use(kind: str) -> bool:
    """Whether a campaign coupon of this kind costs its budget when used (its discount
    depends on the order) rather than when issued (a fixed amount off)."""
    return kind != "amount"


def gifts_value(coupon_values: list[int], count: int) -> int:
    """Value of ``count`` treatment members' gifts, each getting every coupon listed."""
    return sum(coupon_values) * count


def affordable(each: int, members: int, used: int, budget: int | None) -> int:
    """How many of ``members`` can still get gifts worth ``each`` within the budget. A
    budget already spent (percent coupons charge it at checkout) gives nothing more."""
    if budget is None:
        return members
    if used >= budget:
        return 0
    if each <= 0:
        return members
    return max(0, min(members, (budget - used) // each))
