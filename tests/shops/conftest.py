"""A program with earn rules, published before the fixtures' orders, behind the HTTP API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient

from patron.program.document import ProgramDocument
from patron.program.service import get_program
from patron.program.versions import publish
from tests.conftest import T0, Api, make_program
from tests.flows.test_ingest import BASE, SETTINGS, rule
from tests.shops.helpers import SECRET, SHOPIFY_SHOP, body_of, shopify_headers, woo_headers

PUBLISHED = datetime(2026, 1, 5, tzinfo=timezone.utc)
"""Before every fixture order; the clock then stands at T0, after all of them."""
CODE_BONUS = rule("welcome_code", "purchase", {"fixed": 25},
                  when='"WELCOME10" in event.data.coupon_codes', name="Welcome code bonus")


class Shops(Api):
    """The API of one program, with a shop connected to it and webhooks to send."""

    def connect(self, platform: str = "shopify", shop: str = SHOPIFY_SHOP,
                secret: str | None = SECRET, **extra: Any) -> dict[str, Any]:
        body = {"platform": platform, "shop": shop, **extra}
        if secret is not None:
            body["secret"] = secret
        made = self.post("/shops/connections", json=body)
        assert made.status_code == 201, made.text
        return made.json()

    def shopify(self, connection: dict[str, Any], topic: str, value: dict | bytes, **kwargs):
        body = body_of(value)
        return self.client.post(connection["webhook_path"], content=body,
                                headers=shopify_headers(topic, body, **kwargs))

    def woo(self, connection: dict[str, Any], topic: str, value: dict | bytes, **kwargs):
        body = body_of(value)
        return self.client.post(connection["webhook_path"], content=body,
                                headers=woo_headers(topic, body, **kwargs))

    def member(self, kind: str, value: str) -> dict[str, Any] | None:
        found = self.get("/members", params={"identity": f"{kind}:{value}"}).json()["items"]
        return found[0] if found else None

    def points(self, member_id: int) -> int:
        balance = self.get(f"/members/{member_id}/balance").json()
        return balance["available"] + balance["pending"]


@pytest.fixture
def shops(app, database, clock) -> Iterator[Shops]:
    clock.set(PUBLISHED)
    program = make_program(database, clock, **SETTINGS)
    document = ProgramDocument.model_validate(
        {"name": "Patron Roasters", "settings": SETTINGS, "earn_rules": [BASE, CODE_BONUS]})
    database.transact(lambda conn: publish(conn, program, document, actor="test",
                                           now=clock.now()))
    program = database.read(lambda conn: get_program(conn, program.id))
    clock.set(T0)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Shops(client, database, program, clock)
