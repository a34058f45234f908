"""What a shop webhook asks of Patron, and how it is checked: pure, no database.

A platform (``patron.shops.shopify``, ``patron.shops.woocommerce``) reads its own
payload into *actions*: an order to record as a purchase (``OrderPaid``), a refund to
record as a return (``OrderRefunded``), or a delivery Patron acknowledges and leaves
alone (``Ignored``, with a stable code saying why). ``patron.flows.shop_orders``
carries the actions out through ingest.

Money in shop payloads is decimal text in major units ("19.90"); Patron counts integer
minor units, so it is converted once, exactly, by the currency's own precision. Points
are earned on the merchandise after its discounts: shipping, tips and gift cards earn
nothing (a gift card earns when it is spent on goods).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, ValidationError

from patron.errors import InvalidInput, PatronError, Unauthorized
from patron.program.money import minor_per_major

MAX_SHOP_MONEY = Decimal(10) ** 13
"""Past this an amount is no order: 10 trillion in major units."""
SKU_LENGTH = 200
"""Patron's order lines keep SKUs, categories and brands this long (shops allow 255)."""


class ShopSignatureMissing(Unauthorized):
    code = "shop_signature_missing"
    title = "Shop webhook not signed"


class ShopSignatureInvalid(Unauthorized):
    code = "shop_signature_invalid"
    title = "Shop webhook signature does not match"


class ShopDomainMismatch(PatronError):
    status = 403
    code = "shop_domain_mismatch"
    title = "Webhook from another shop"


class ShopTopicMissing(PatronError):
    status = 400
    code = "shop_topic_missing"
    title = "Shop webhook without a topic"


class MalformedShopPayload(PatronError):
    status = 400
    code = "malformed_shop_payload"
    title = "Shop webhook body is not a JSON object"


class InvalidShop(InvalidInput):
    code = "invalid_shop"
    title = "Not a shop domain or URL"


class InvalidShopPayload(InvalidInput):
    code = "invalid_shop_payload"
    title = "Shop webhook payload cannot be read"


def _money(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise ValueError("must be a decimal amount such as \"19.90\"")
    try:
        amount = Decimal(str(value).strip() or "0")
    except InvalidOperation:
        raise ValueError(f"{str(value)[:40]!r} is not an amount") from None
    if not amount.is_finite() or not 0 <= amount < MAX_SHOP_MONEY:
        raise ValueError("must be a non-negative amount below 10^13")
    return amount


def _shop_id(value: Any) -> str:
    if isinstance(value, bool):
        raise ValueError("must be an id")
    text = str(value).strip() if isinstance(value, (int, str)) else ""
    if not re.fullmatch(r"[0-9A-Za-z_-]{1,64}", text):
        raise ValueError("must be an id of 1-64 letters, digits, _ or -")
    return text


def _refunded_money(value: Any) -> Decimal:
    if isinstance(value, str) and value.strip().startswith("-"):
        return _money(value.strip()[1:])
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool) and value < 0:
        return _money(-value)
    return _money(value)


ShopMoney = Annotated[Decimal, BeforeValidator(_money)]
"""An amount as shops send it: decimal text (or a JSON number) in major units."""
RefundedMoney = Annotated[Decimal, BeforeValidator(_refunded_money)]
"""A refund's amount, which some shops write negative (``"-19.80"``): its size."""
ShopId = Annotated[str, BeforeValidator(_shop_id)]
"""A shop's id for an order, line, refund or customer: a number or short text."""


def as_utc(moment: datetime) -> datetime:
    """A shop time without an offset (WooCommerce's ``*_gmt`` fields) is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def minor_units(amount: Decimal, currency: str) -> int:
    """``19.90`` USD -> 1990; rounded half up once, should a shop send more digits."""
    return int((amount * minor_per_major(currency)).quantize(Decimal(1), ROUND_HALF_UP))


def clip(text: str | None, length: int = SKU_LENGTH) -> str | None:
    """Text as long as Patron keeps it; empty text is no value."""
    text = (text or "").strip()
    return text[:length] or None


# The actions a delivery asks for.

@dataclass(frozen=True)
class ShopCustomer:
    """Who bought: identities in the order Patron trusts them (the shop's own customer
    id, then email, then phone), and a name for a member the order enrols."""

    identities: tuple[tuple[str, str], ...]
    given_name: str | None = None
    family_name: str | None = None


@dataclass(frozen=True)
class ShopLine:
    """One order line as the shop sold it, in minor units."""

    line_id: str
    sku: str
    quantity: int
    gross: int
    """Unit price × quantity."""
    discount: int = 0
    """Discounts on this line alone (order-wide discounts are the order's)."""
    category: str | None = None
    brand: str | None = None


@dataclass(frozen=True)
class OrderPaid:
    """A paid order: a ``purchase`` event that earns."""

    event_id: str
    order_id: str
    occurred_at: datetime
    channel: str
    customer: ShopCustomer
    currency: str
    lines: tuple[ShopLine, ...]
    order_discount: int = 0
    """Order-wide discounts (spread over the lines by the shop), minor units."""
    coupon_value: int = 0
    coupon_codes: tuple[str, ...] = ()
    store_id: str | None = None


@dataclass(frozen=True)
class OrderRefunded:
    """A refund: a ``return`` event of the order's lines, by the shop's line ids
    (``lines`` None: everything not returned yet), or of money alone (``amount``, minor
    units of the order as Patron recorded it) when the shop does not say which lines."""

    event_id: str
    order_id: str
    occurred_at: datetime
    lines: tuple[tuple[str, int], ...] | None
    reason: str | None = None
    amount: int | None = None


@dataclass(frozen=True)
class Ignored:
    """A delivery Patron acknowledges (200) and does nothing with, and why."""

    code: str
    message: str


Action = OrderPaid | OrderRefunded | Ignored


def purchase_data(order: OrderPaid) -> dict[str, Any]:
    """The ``purchase`` event's data: lines net of their own discounts, the total net of
    the order's, in the order of ``order.lines`` (a refund names lines by that index)."""
    lines = []
    for line in order.lines:
        amount = max(line.gross - line.discount, 0)
        lines.append({"sku": line.sku, "category": line.category, "brand": line.brand,
                      "quantity": line.quantity, "amount": amount,
                      "discount": min(line.discount, line.gross) or None})
    total = max(sum(line["amount"] for line in lines) - order.order_discount, 0)
    data: dict[str, Any] = {"order_id": order.order_id, "currency": order.currency,
                            "total": total, "lines": [
                                {k: v for k, v in line.items() if v is not None}
                                for line in lines]}
    optional = {"store_id": order.store_id, "discount": order.order_discount or None,
                "coupon_value": order.coupon_value or None,
                "coupon_codes": list(order.coupon_codes) or None}
    data.update({k: v for k, v in optional.items() if v is not None})
    return data


# Connections and deliveries.

_SHOP = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[\x21-\x7e]*)?$")
SHOP_LENGTH = 100


def normalise_shop(text: str) -> str:
    """``https://Example.com/shop/`` -> ``example.com/shop``: a shop as Patron names it
    (its host, lower-cased, and path), whether given as a domain or as a URL."""
    value = text.strip()
    value = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", value).split("?")[0].split("#")[0]
    host, slash, path = value.partition("/")
    value = (host.lower() + slash + path).rstrip("/")
    if len(value) > SHOP_LENGTH or not _SHOP.match(value):
        raise InvalidShop(f"{text[:120]!r} is not a shop domain or URL (at most "
                           f"{SHOP_LENGTH} characters, e.g. my-shop.myshopify.com)",
                           field="shop")
    return value


@dataclass(frozen=True)
class ConnectedShop:
    """What mapping needs of a connection."""

    id: int
    platform: str
    shop: str
    channel: str
    store_id: str | None

    def event_id(self, *parts: str) -> str:
        """``shopify:my-shop.myshopify.com:order:1001``: unique per program however many
        shops it connects, so no shop's retry can earn twice."""
        return ":".join((self.platform, self.shop, *parts))

    def order_id(self, shop_order_id: str) -> str:
        return self.event_id(shop_order_id)


@dataclass(frozen=True)
class Delivery:
    """A webhook as it arrived: the platform's headers that matter, and the raw body."""

    topic: str | None
    delivery_id: str | None
    source: str | None
    signature: str | None
    body: bytes


@dataclass(frozen=True)
class Headers:
    """The names a platform gives its webhook headers."""

    signature: str
    topic: str
    source: str
    delivery: str


Reader = Callable[[ConnectedShop, dict[str, Any]], Sequence[Action]]


@dataclass(frozen=True)
class Platform:
    """One e-commerce platform: its headers, the topics Patron acts on and how each is
    read, and how it proves a delivery is its own."""

    name: str
    title: str
    headers: Headers
    topics: Mapping[str, Reader]
    secret_from_shop: bool
    """True: the shop (or its app) issues the secret and it must be given; False: Patron
    may generate one to paste into the shop."""
    is_ping: Callable[[Delivery], bool] = field(default=lambda delivery: False)
    """A delivery the platform sends unsigned to test the URL (answered 200, no work)."""

    def delivery(self, headers: Mapping[str, str], body: bytes) -> Delivery:
        def get(name: str) -> str | None:
            value = headers.get(name)
            return value.strip() if value and value.strip() else None
        return Delivery(get(self.headers.topic), get(self.headers.delivery),
                        get(self.headers.source), get(self.headers.signature), body)

    def read(self, shop: ConnectedShop, delivery: Delivery) -> list[Action]:
        """The actions a verified delivery asks for. A topic Patron does not act on is
        acknowledged as ``topic_not_handled`` (a shop retries, then disables, a webhook that
        is refused, and it is the shop's own subscription); a body that is not a JSON object
        is 400 ``malformed_shop_payload``, one without what its topic needs 422
        ``invalid_shop_payload``."""
        if delivery.topic is None:
            raise ShopTopicMissing(f"a {self.title} webhook names its topic in "
                                   f"{self.headers.topic}")
        reader = self.topics.get(delivery.topic)
        if reader is None:
            return [Ignored("topic_not_handled", f"Patron does not act on "
                            f"{delivery.topic[:80]!r}; it acts on " + ", ".join(self.topics))]
        payload = json_object(delivery.body)
        try:
            return list(reader(shop, payload))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "body"
            raise InvalidShopPayload(f"{where}: {first['msg']}", field=where,
                                     topic=delivery.topic) from None

    def verify(self, shop: ConnectedShop, secret: str, delivery: Delivery) -> None:
        """401 unless the body is signed with the connection's secret (compared in
        constant time); 403 when a correctly signed delivery names another shop (a
        Shopify app's secret signs the webhooks of every shop that installed it)."""
        if delivery.signature is None:
            raise ShopSignatureMissing(f"a {self.title} webhook carries its signature in "
                                       f"{self.headers.signature}")
        if not hmac.compare_digest(signature(secret, delivery.body),
                                   delivery.signature.encode("latin-1")):
            raise ShopSignatureInvalid("the signature does not match the body signed with "
                                       "this connection's secret")
        if delivery.source is not None and normalise_source(delivery.source) != shop.shop:
            raise ShopDomainMismatch(f"the webhook comes from {delivery.source[:120]!r}, "
                                     f"not {shop.shop}", shop=shop.shop)


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or 400 ``malformed_shop_payload``."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise MalformedShopPayload("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise MalformedShopPayload("the body is JSON but not an object")
    return payload


def normalise_source(text: str) -> str | None:
    try:
        return normalise_shop(text)
    except InvalidShop:
        return None


def signature(secret: str, body: bytes) -> bytes:
    """Base64 of the HMAC-SHA256 of the raw body: what Shopify and WooCommerce send."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest)
