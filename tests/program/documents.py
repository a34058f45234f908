"""Program documents for the program-as-code tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import yaml

BASE = {"id": "base", "name": "1 point per $1", "on": "purchase",
        "points": {"per_currency_unit": "1"}}
FIRST = {"id": "first", "name": "First order bonus", "on": "purchase",
         "when": "member.purchase_count == 0", "points": {"fixed": 50}}
DOUBLE = {"id": "base", "name": "2 points per $1", "on": "purchase",
          "points": {"per_currency_unit": "2"}}
BIG = {"id": "big", "name": "100 on orders of $50+", "on": "purchase", "min_spend": 5000,
       "points": {"fixed": 100}}
BIRTHDAY = {"id": "birthday", "name": "Birthday month treat", "on": "purchase",
            "when": "member.is_birthday_month", "points": {"fixed": 30}}


def document(*rules: dict[str, Any], name: str = "Test program",
             **settings: Any) -> dict[str, Any]:
    """A document in the settings of the ``program`` fixture (USD, UTC, nothing pending)."""
    return {"name": name,
            "settings": {"currency": "USD", "pending_days": 0, "point_value_minor": "0.5",
                         **settings},
            "earn_rules": list(rules)}


def as_yaml(data: dict[str, Any]) -> str:
    return "# written by hand\n" + yaml.safe_dump(data, sort_keys=False)


def purchase(event_id: str, member: dict[str, Any], total: int, at: datetime) -> dict[str, Any]:
    return {"id": event_id, "type": "purchase", "member": member, "occurred_at": at.isoformat(),
            "data": {"order_id": f"o-{event_id}", "currency": "USD", "total": total}}


def review(event_id: str, member: dict[str, Any], at: datetime) -> dict[str, Any]:
    return {"id": event_id, "type": "review", "member": member, "occurred_at": at.isoformat(),
            "data": {"text_length": 40}}
