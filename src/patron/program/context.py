"""What the earning engine is told: the event, the member, and how much each rule already gave.

These are plain immutable values. The service reads them from the database (and
the simulator from memory), so the engine itself never does I/O and a test can
state a whole situation in a few lines.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol
from zoneinfo import ZoneInfo

from patron.errors import InvalidInput
from patron.program.document import Period
from patron.program.money import apportion


class InvalidEvent(InvalidInput):
    code = "invalid_event"
    title = "Event data cannot be evaluated"


@dataclass(frozen=True, slots=True)
class MemberProfile:
    birthdate: date | None = None
    region: str | None = None
    join_channel: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MemberContext:
    """The member as of just before the event: ``counts`` do not include it yet.

    ``counts`` maps event types to how many the member had (``{"purchase": 3}``);
    conditions read them as ``member.purchase_count``.
    """

    id: str
    profile: MemberProfile = field(default_factory=MemberProfile)
    tier: str | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    multipliers: Mapping[str, Decimal] = field(default_factory=dict)
    """Earn multipliers of the member's benefits: ``{"tier": 2, "membership": 1.5}``."""
    features: Mapping[str, Any] = field(default_factory=dict)
    """``member.features``: the member's materialised features (``member_features``);
    a feature absent here (never computed, or no value) reads as its type's zero."""
    tags: tuple[str, ...] = ()
    """``member.tags``: the tags (manual and rule) the member carries."""
    recommended: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """``member.recommended``: lists by kind (categories, products, rewards), best first."""
    campaigns: frozenset[str] = frozenset()
    """Ids of the campaigns whose treatment group the member is in: only they earn by
    those campaigns' rules."""


_NO_DATA: Mapping[str, Any] = MappingProxyType({})


class EventContext(NamedTuple):
    """An event as the engine sees it; ``occurred_at`` must be timezone-aware."""

    type: str
    occurred_at: datetime
    data: Mapping[str, Any] = _NO_DATA
    channel: str | None = None
    id: str | None = None
    purchase: Purchase | None = None
    """The purchase ``data`` describes, parsed already (``parse_purchase``) in the currency
    it names; None: the engine parses it."""


class PeriodUsage(NamedTuple):
    points: int = 0
    awards: int = 0


class UsageReader(Protocol):
    """Points a rule already gave, which per-member limits and budgets subtract from."""

    def member_usage(self, rule_id: str, period: Period) -> PeriodUsage: ...

    def budget_used(self, rule_id: str) -> int: ...

    def campaign_used(self, campaign_id: str) -> tuple[int, int]: ...
    """(points, money) a campaign's budget already spent, every member counted."""


@dataclass(frozen=True, slots=True)
class UsageSnapshot:
    """Usage in the periods that contain the event (see ``period_bounds``).

    ``member`` is keyed by ``(rule_id, period)``; ``budget`` by rule id, counting
    every member. Missing keys mean nothing was used yet.
    """

    member: Mapping[tuple[str, str], PeriodUsage] = field(default_factory=dict)
    budget: Mapping[str, int] = field(default_factory=dict)
    campaigns: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    def member_usage(self, rule_id: str, period: Period) -> PeriodUsage:
        return self.member.get((rule_id, period), _NO_USAGE)

    def budget_used(self, rule_id: str) -> int:
        return self.budget.get(rule_id, 0)

    def campaign_used(self, campaign_id: str) -> tuple[int, int]:
        return self.campaigns.get(campaign_id, (0, 0))


_NO_USAGE = PeriodUsage()
NO_USAGE = UsageSnapshot()


def period_key(period: Period, local: datetime) -> str:
    """A stable name for the calendar period containing a local time ("2025-03")."""
    if period == "day":
        return local.date().isoformat()
    if period == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{local.year}-{local.month:02d}"
    if period == "year":
        return str(local.year)
    return "lifetime"


def period_bounds(period: Period, occurred_at: datetime, zone: ZoneInfo
                  ) -> tuple[datetime | None, datetime | None]:
    """UTC-comparable [start, end) of the period containing ``occurred_at``.

    Periods are calendar periods in the program timezone: "5 reviews a month"
    means March as the member lives it, not a sliding 30 days. Weeks run Monday
    to Sunday. Lifetime is unbounded (None, None).
    """
    local = occurred_at.astimezone(zone)
    day = local.date()
    if period == "lifetime":
        return None, None
    if period == "day":
        start, end = day, day + timedelta(days=1)
    elif period == "week":
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    elif period == "month":
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    else:
        start, end = day.replace(month=1, day=1), day.replace(year=day.year + 1, month=1, day=1)
    return _local_midnight(start, zone), _local_midnight(end, zone)


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)


class Line(NamedTuple):
    """A purchase line. ``net_amount`` is its share of what the member paid.

    Points are earned on the order total (what was paid after order-level
    discounts), shared across lines in proportion to their amounts, so a return
    of one line takes back exactly the points that line earned. ``discount`` is
    what was taken off the line before its ``amount`` (0 when not given).
    """

    index: int
    sku: str
    category: str
    quantity: int
    amount: int
    net_amount: int
    department: str = ""
    subcategory: str = ""
    brand: str = ""
    discount: int = 0

    def as_cel(self) -> dict[str, Any]:
        return {"index": self.index, "sku": self.sku, "department": self.department,
                "category": self.category, "subcategory": self.subcategory,
                "brand": self.brand, "quantity": self.quantity, "amount": self.amount,
                "net_amount": self.net_amount, "discount": self.discount}


@dataclass(frozen=True, slots=True)
class Purchase:
    order_id: str
    currency: str
    total: int
    lines: tuple[Line, ...]


def parse_purchase(data: Mapping[str, Any], currency: str) -> Purchase:
    """The purchase an event describes; an order without lines is one line of its total."""
    order_id = data.get("order_id")
    if not isinstance(order_id, str) or not order_id:
        raise InvalidEvent("a purchase needs an order_id", field="data.order_id")
    total = _money(data.get("total"), "data.total")
    event_currency = data.get("currency", currency)
    if event_currency != currency:
        raise InvalidEvent(f"purchase in {event_currency}, program earns in {currency}",
                           field="data.currency")
    raw_lines = data.get("lines") or [{"sku": "", "quantity": 1, "amount": total}]
    if not isinstance(raw_lines, list):
        raise InvalidEvent("lines must be a list", field="data.lines")
    parsed = [_line_fields(raw, i) for i, raw in enumerate(raw_lines)]
    amounts = [line[3] for line in parsed]
    if sum(amounts) < total:
        raise InvalidEvent("total is more than the sum of the lines", field="data.total")
    shares = apportion(total, amounts)
    make = Line._make
    lines = tuple(make((i, sku, category, quantity, amount, shares[i], department,
                        subcategory, brand, discount))
                  for i, (sku, category, quantity, amount, department, subcategory, brand,
                          discount) in enumerate(parsed))
    return Purchase(order_id, currency, total, lines)


LINE_TEXT = ("sku", "department", "category", "subcategory", "brand")
"""A line's product fields: text, "" when not given."""


def _line_fields(raw: Any, index: int) -> tuple[str, str, int, int, str, str, str, int]:
    """A line's ``sku, category, quantity, amount, department, subcategory, brand,
    discount`` (a tuple: an order of hundreds of lines is read line by line)."""
    if not isinstance(raw, Mapping):
        raise InvalidEvent("a line is an object", field=f"data.lines[{index}]")
    get = raw.get
    quantity = get("quantity", 1)
    if type(quantity) is not int or quantity < 1:
        raise InvalidEvent("quantity must be a whole number >= 1",
                           field=f"data.lines[{index}].quantity")
    amount, discount = get("amount"), get("discount")
    if type(amount) is not int or amount < 0:  # refused, in _money's words
        _money(amount, f"data.lines[{index}].amount")
    if discount is None:
        discount = 0
    elif type(discount) is not int or discount < 0:
        _money(discount, f"data.lines[{index}].discount")
    sku, department, category, subcategory, brand = (
        str(value) if (value := get(name)) else "" for name in LINE_TEXT)
    return sku, category, quantity, amount, department, subcategory, brand, discount


def _money(value: Any, where: str) -> int:
    if type(value) is not int or value < 0:
        raise InvalidEvent("money is a whole number of minor units (cents) >= 0", field=where)
    return value
