"""Small factories for test data."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from patron.events.schemas import EventIn
from patron.members.schemas import MemberCreate

_seq = itertools.count(1)


def member_payload(**overrides: Any) -> dict[str, Any]:
    n = next(_seq)
    payload = {"identities": [{"type": "email", "value": f"Member.{n}@Example.com"}],
               "profile": {"name": f"Member {n}"}}
    payload.update(overrides)
    return payload


def member_create(**overrides: Any) -> MemberCreate:
    return MemberCreate.model_validate(member_payload(**overrides))


def purchase(member: dict[str, Any], total: int, at: datetime, *, event_id: str | None = None,
             order_id: str | None = None, currency: str = "USD",
             lines: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    n = next(_seq)
    return {"id": event_id or f"evt-{n}", "type": "purchase", "member": member,
            "occurred_at": at.isoformat(), "channel": "web",
            "data": {"order_id": order_id or f"ord-{n}", "currency": currency, "total": total,
                     "lines": lines or [{"sku": "SKU-1", "category": "drinks", "quantity": 1,
                                         "amount": total}]}}


def purchase_event(*args: Any, **kwargs: Any) -> EventIn:
    return EventIn.model_validate(purchase(*args, **kwargs))
