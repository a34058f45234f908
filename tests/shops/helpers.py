"""Shop webhooks as shops send them: fixture bodies, signed with a connection's secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
SHOPIFY_SHOP = "patron-roasters.myshopify.com"
WOO_SOURCE = "https://shop.example.com/"
SECRET = "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"
_deliveries = itertools.count(1)


def raw(name: str) -> bytes:
    """A fixture's bytes exactly as stored (what the shop signed)."""
    return (FIXTURES / name).read_bytes()


def payload(name: str) -> dict[str, Any]:
    return json.loads(raw(name))


def body_of(value: dict[str, Any] | bytes) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value).encode()


def sign(secret: str, body: bytes) -> str:
    """What Shopify and WooCommerce compute, written out independently of Patron's code."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def shopify_headers(topic: str, body: bytes, *, secret: str = SECRET,
                    shop: str = SHOPIFY_SHOP, signed: bool = True) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": topic,
               "X-Shopify-Shop-Domain": shop, "X-Shopify-API-Version": "2025-10",
               "X-Shopify-Webhook-Id": f"b54557e4-bdd9-4b37-8a5f-{next(_deliveries):012d}",
               "X-Shopify-Triggered-At": "2026-02-12T15:15:24.000000Z"}
    if signed:
        headers["X-Shopify-Hmac-Sha256"] = sign(secret, body)
    return headers


def woo_headers(topic: str, body: bytes, *, secret: str,
                source: str = WOO_SOURCE) -> dict[str, str]:
    resource, _, event = topic.partition(".")
    return {"Content-Type": "application/json", "User-Agent": "WooCommerce/9.6.1 Hookshot "
            "(WordPress/6.7.2)", "X-WC-Webhook-Source": source, "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource, "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": sign(secret, body), "X-WC-Webhook-ID": "17",
            "X-WC-Webhook-Delivery-ID": str(next(_deliveries))}
