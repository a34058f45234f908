"""The event types a program can earn on, and the data each one carries.

Conditions are checked against these shapes when a program is validated, so a
misspelt field (``event.data.totl``) is caught at publish time rather than
silently never matching. A program may declare its own event types, and may add
fields to a built-in type by declaring it again with extra ``fields``.

A field missing from an event reads as its type's zero value ("" / 0 / false /
[] / {}), so a condition such as ``event.data.rating >= 4`` never fails on an
integrator who leaves the rating out; it just does not match.

``BUILT_IN_EVENT_TYPES`` is the one list of built-in type names: ingest maps
each of them to the way it is recorded (``patron.flows.event_types``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Literal

FieldType = Literal["string", "int", "double", "bool", "timestamp", "list", "map"]

ZERO_VALUES: dict[str, Any] = {
    "string": "",
    "int": 0,
    "double": 0.0,
    "bool": False,
    "list": [],
    "map": {},
    "timestamp": None,
}

PURCHASE = "purchase"
RETURN = "return"
RECORDED_ALONE = frozenset({RETURN, "membership_payment"})
"""Types ingest records on their own once a batch is written (a return, a membership
payment): they earn nothing, and no badge, challenge or streak counts them."""

BUILT_IN_EVENT_TYPES: dict[str, dict[str, FieldType]] = {
    "purchase": {"order_id": "string", "currency": "string", "total": "int", "lines": "list",
                 "store_id": "string", "discount": "int", "coupon_value": "int",
                 "coupon_codes": "list"},
    "return": {"order_id": "string", "lines": "list"},
    "sign_up": {"referral_code": "string"},
    "profile_completed": {},
    "review": {"product_sku": "string", "rating": "int", "has_photo": "bool",
               "text_length": "int"},
    "check_in": {"location_id": "string"},
    "social_share": {"network": "string", "url": "string"},
    "eco_action": {"action": "string", "quantity": "int"},
    "referral": {"referral_code": "string", "referee_id": "string", "referrer_id": "string",
                 "role": "string"},
    "campaign_participation": {"campaign_id": "string"},
    "membership_payment": {"reference": "string", "amount": "int", "plan_id": "string"},
}

LINE_FIELDS: dict[str, FieldType] = {
    "index": "int", "sku": "string", "department": "string", "category": "string",
    "subcategory": "string", "brand": "string", "quantity": "int", "amount": "int",
    "net_amount": "int", "discount": "int",
}

PROFILE_FIELDS: dict[str, FieldType] = {
    "birthdate": "string", "birth_month": "int", "region": "string", "join_channel": "string",
    "attributes": "map",
}

LOCAL_FIELDS: dict[str, FieldType] = {
    "date": "string", "year": "int", "month": "int", "day": "int", "weekday": "int", "hour": "int",
}

EVENT_FIELDS: dict[str, FieldType] = {
    "id": "string", "type": "string", "occurred_at": "timestamp", "channel": "string",
    "data": "map", "local": "map",
}

MEMBER_FIELDS: dict[str, FieldType] = {
    "id": "string", "tier": "string", "is_birthday_month": "bool", "profile": "map",
    "features": "map", "tags": "list", "recommended": "map",
}

RECOMMENDED_FIELDS: dict[str, FieldType] = {
    "categories": "list", "products": "list", "rewards": "list",
}
"""``member.recommended.<kind>``: the member's own lists from the last recommendations
training, best first (``"outdoor" in member.recommended.categories``); a member the
model gave no lists of their own reads empty lists. Read only for batches whose rules
name it."""

FEATURE_FIELDS: dict[str, FieldType] = {
    "recency_days": "int", "days_since_last_purchase": "int", "frequency": "int",
    "monetary": "int", "r_score": "int", "f_score": "int", "m_score": "int",
    "rfm_segment": "string", "churn_probability": "double", "expected_purchases": "double",
    "expected_value": "int", "tier": "string", "age_band": "string", "region": "string",
    "join_channel": "string", "favourite_category": "string", "favourite_channel": "string",
    "points_balance": "int", "expiring_points": "int", "referral_count": "int",
    "joined_on": "string", "last_purchase_on": "string",
}
"""``member.features.<name>``: what the features job materialised for the member
(``member_features``), readable by earn rules, rule tags and segment conditions.
A member the job has not seen yet reads zeros and empty strings; ``member.tags``
is the list of tags (manual and rule) the member carries."""

SAMPLE_TIME = datetime(2025, 3, 14, 10, 30, tzinfo=timezone.utc)

_SAMPLES: dict[str, Any] = {
    "string": "sample", "int": 1, "double": 0.5, "bool": True, "list": [], "map": {}, "timestamp": SAMPLE_TIME,
}


def count_field(event_type: str) -> str:
    """``member.purchase_count`` and friends: how many such events came before this one."""
    return f"{event_type}_count"


def event_fields(event_type: str, declared: Mapping[str, Mapping[str, FieldType]]
                 ) -> dict[str, FieldType] | None:
    """Data fields of an event type, built-in merged with declared; None if unknown."""
    if event_type not in BUILT_IN_EVENT_TYPES and event_type not in declared:
        return None
    fields = dict(BUILT_IN_EVENT_TYPES.get(event_type, {}))
    fields.update(declared.get(event_type, {}))
    return fields


def sample_value(field_type: FieldType) -> Any:
    return _SAMPLES[field_type]


def sample_event_data(fields: Mapping[str, FieldType]) -> dict[str, Any]:
    """Data with every field present and typed, to type-check a condition against."""
    data = {name: sample_value(kind) for name, kind in fields.items()}
    if fields.get("lines") == "list":
        data["lines"] = [{"sku": f"SKU-{i}", "department": "sample", "category": "sample",
                          "subcategory": "sample", "brand": "sample", "quantity": 2,
                          "amount": 1250, "discount": 0, "line_index": i} for i in range(2)]
    return data
