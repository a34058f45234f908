"""Request and response examples of the main payloads, for /docs and /openapi.json.

Each example belongs to one payload model. ``install`` puts them into the OpenAPI document
twice: on the model's schema (JSON Schema ``examples``) and on every operation that takes or
answers that model (the media type's named ``examples``, which Swagger UI offers in a
drop-down and copies into "Try it out"). They tell one story, the README's: Ann Lee joins
*Demo Coffee Rewards*, buys two lattes, returns one, redeems a reward and pays with Beans.
``tests/api/test_openapi_examples.py`` validates each against its model and against its
schema in the document, so an example cannot drift from the payload it shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from patron.api.merges import Merge, MergeCreate
from patron.coupons.schemas import Batch, BatchCreate, RedeemRequest, ValidateRequest, Validation
from patron.coupons.schemas import Redemption as CouponRedemption
from patron.events.schemas import BatchOutcome, EventBatch, EventIn, EventOutcome
from patron.households.schemas import Household, HouseholdCreate, HouseholdMemberAdd
from patron.ledger.schemas import AdjustmentCreate, Balance, LedgerPage, Posted, SpendCreate
from patron.members.schemas import (IdentityIn, Member, MemberCreate, MemberPage, MemberUpdate,
                                    StatusChange)
from patron.memberships.schemas import Membership, MembershipCreate
from patron.rewards.schemas import RedemptionCreate, RewardCatalog
from patron.rewards.schemas import Redemption as RewardRedemption
from patron.segments.schemas import Preview, PreviewIn, Segment, SegmentCreate
from patron.tiers.schemas import ManualTierIn, MemberTier
from patron.transfers.schemas import Transfer, TransferCreate


@dataclass(frozen=True)
class Example:
    summary: str
    value: dict[str, Any]


AT = "2026-11-20T10:15:00Z"
LATER = "2026-11-20T10:15:01Z"
ANN = 1001
STANDING = {"status": "active", "reason": None, "changed_by": None, "changed_at": None,
            "merged_into": None}
ADDRESS = {"line1": "12 High St", "line2": None, "city": "Surry Hills", "postcode": "2010",
           "state": "NSW", "country": "AU"}
MEMBER = {
    "id": ANN, "status": "active", "standing": STANDING,
    "profile": {"name": "Ann Lee", "given_name": "Ann", "family_name": "Lee",
                "birthdate": "1990-04-02", "gender": "female", "address": ADDRESS,
                "region": None, "join_channel": "web", "attributes": {}},
    "identities": [
        {"type": "email", "value": "ann@example.com", "channel": "web", "created_at": AT},
        {"type": "phone", "value": "+12025550143", "channel": None, "created_at": AT}],
    "consents": {"email_marketing": {"granted": True, "updated_at": AT}},
    "created_at": AT, "updated_at": AT}
PURCHASE = {
    "id": "pos-4411-0001", "type": "purchase",
    "member": {"identity": {"type": "email", "value": "ann@example.com"}},
    "occurred_at": AT, "channel": "pos",
    "data": {"order_id": "A-1001", "currency": "USD", "total": 1250, "store_id": "dupont-circle",
             "lines": [{"sku": "LAT-1", "category": "drinks", "department": "cafe",
                        "quantity": 2, "amount": 1250}]}}
RETURN = {
    "id": "pos-4411-0003", "type": "return", "member": {"id": ANN},
    "occurred_at": "2026-11-21T09:00:00Z", "channel": "pos",
    "data": {"order_id": "A-1001", "lines": [{"sku": "LAT-1", "quantity": 1}],
             "reason": "spilled"}}
REVIEW = {"id": "app-review-9", "type": "review", "member": {"id": ANN},
          "occurred_at": "2026-11-20T18:30:00Z", "channel": "app",
          "data": {"rating": 5, "text_length": 140}}


def _award(points: int, reason: str, rule: str, *, kind: str = "earn",
           status: str = "pending") -> dict[str, Any]:
    pending = status == "pending" and kind == "earn"
    return {"member_id": ANN, "kind": kind, "points": points, "amount": None, "forgiven": None,
            "status": status, "available_at": "2026-12-04T10:15:00Z" if pending else None,
            "expires_at": "2028-01-01T05:00:00Z" if kind == "earn" else None,
            "reason": reason, "rule_id": rule, "program_version": 2}


def _outcome(event_id: str, kind: str, points: int, awards: list[dict[str, Any]]
             ) -> dict[str, Any]:
    return {"id": event_id, "status": "processed", "type": kind, "member_id": ANN,
            "enrolled": False, "points": points, "program_version": 2, "awards": awards,
            "gifts": [], "notes": [], "tier": None, "membership": None, "error": None}


PURCHASED = _outcome("pos-4411-0001", "purchase", 62, [
    _award(12, "1 Bean per $1: +12", "base_spend"),
    _award(50, "Welcome bonus on your first order: +50", "first_purchase")])
RETURNED = _outcome("pos-4411-0003", "return", -6, [
    _award(-6, "1 Bean per $1: returned 1 × LAT-1: −6", "base_spend", kind="reverse")])
REVIEWED = _outcome("app-review-9", "review", 20, [
    dict(_award(20, "Thanks for your review: +20", "review", status="posted"),
         available_at="2026-11-20T18:30:00Z")])
BALANCE = {"member_id": ANN, "available": 950, "pending": 56, "lifetime_earned": 1056,
           "expiring": [{"points": 950, "expires_at": "2028-01-01T05:00:00Z"}],
           "household_id": None, "household_role": None, "pooled": False, "can_spend": True}


def _entry(entry_id: int, kind: str, points: int, reason: str, source: dict[str, Any], *,
           status: str = "posted", order_id: str | None = None,
           details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": entry_id, "member_id": ANN, "kind": kind, "points": points, "status": status,
            "occurred_at": AT, "recorded_at": LATER,
            "available_at": "2026-12-04T10:15:00Z" if status == "pending" else None,
            "order_id": order_id, "reason": reason, "actor": "key:1", "source": source,
            "details": details or {}}


BEANS = _entry(5063, "earn", 12, "1 Bean per $1: +12",
               {"type": "event", "id": "pos-4411-0001", "event_type": "purchase"},
               status="pending", order_id="A-1001",
               details={"rule": "base_spend", "program_version": 2})
SPENT = {"entry": _entry(5066, "spend", -50, "Free latte",
                         {"type": "request", "id": "spend:pos-4411-0002", "event_type": None},
                         order_id="A-1002"),
         "lots": [{"lot_id": 2726, "points": -50}], "balance": BALANCE}
GIVEN = {"entry": _entry(5065, "adjust", 1000, "Welcome gift",
                         {"type": "request", "id": "adjust:welcome-ann", "event_type": None}),
         "lots": [], "balance": dict(BALANCE, available=1000, lifetime_earned=1062)}
REDEEMED = {
    "id": 23, "member_id": ANN, "reward_id": "free_drink",
    "reward_name": "Free drink of your choice", "reward_type": "coupon", "cost_points": 450,
    "status": "active", "fulfilment": "coupon_issued", "program_version": 2,
    "coupon_code": "DC5-ZAG7J-TBJ9F", "coupon_expires_at": "2027-01-19T10:20:00Z",
    "cashback_amount": None, "currency": None, "wallet_entry_id": None, "cause": None,
    "entry_id": 5067, "lots": [{"lot_id": 2726, "points": -450}],
    "created_at": "2026-11-20T10:20:00Z", "cancelled_at": None, "cancel_reason": None,
    "refund_entry_id": None}
OFFER = {"id": "free_drink", "name": "Free drink of your choice", "description": None,
         "type": "coupon", "cost_points": 450, "coupon_type": "five_off", "cashback": None,
         "currency": None, "cause": None, "stock_remaining": None, "limit_per_member": None,
         "valid_from": None, "valid_until": None, "eligible": True, "affordable": True,
         "points_needed": 0, "reason": None, "reasons": []}
TASTING = dict(OFFER, id="tasting", name="Coffee tasting with our roaster", type="experience",
               cost_points=3000, coupon_type=None, stock_remaining=12, eligible=False,
               affordable=False, points_needed=2050, reason="tier_required",
               reasons=["tier_required", "insufficient_points"])
ORDER = {"subtotal": 2400, "currency": "USD"}
HOUSEHOLD = {
    "id": 7, "name": "The Lees", "status": "active", "owner_member_id": ANN,
    "account_member_id": 1002, "pooled_points": True, "max_members": 4,
    "leaving_member_points": "stay",
    "members": [{"member_id": ANN, "role": "owner", "joined_at": AT},
                {"member_id": 1003, "role": "adult", "joined_at": LATER}],
    "history": [{"member_id": ANN, "role": "owner", "joined_at": AT, "left_at": None,
                 "end_reason": None},
                {"member_id": 1003, "role": "adult", "joined_at": LATER, "left_at": None,
                 "end_reason": None}],
    "created_at": AT, "dissolved_at": None}
CLUB_UNTIL = "2027-11-20T10:15:00Z"
MEMBERSHIP = {
    "id": 1, "member_id": ANN, "plan_id": "coffee_club", "state": "active",
    "benefits_active": True, "price": 4900, "currency": "USD", "period_months": 12,
    "grace_days": 14, "created_at": AT, "started_at": AT, "current_period_start": AT,
    "current_period_end": CLUB_UNTIL, "paid_until": CLUB_UNTIL, "grace_until": None,
    "cancelled_at": None, "lapsed_at": None, "ended_at": None,
    "transitions": [{"event": "activated", "from_state": None, "to_state": "active", "at": AT,
                     "reason": "activated: paid 4900 (pay_3KdL9x)", "actor": "key:1",
                     "payment_reference": "pay_3KdL9x", "payment_amount": 4900,
                     "recorded_at": AT}]}
NOTHING_MOVED = dict.fromkeys(
    ("identities", "orders", "events", "awards", "cashback_awards", "coupons",
     "referrals_as_referrer", "referrals_as_referee", "referral_codes", "household_seat",
     "household_period", "qualification_entries", "tier_changes", "points_available",
     "points_pending", "lots", "wallet_balance", "wallet_holds"), 0)
CONDITION = "member.features.churn_probability > 0.7 && member.features.frequency >= 3"

EXAMPLES: dict[type[BaseModel], dict[str, Example]] = {
    MemberCreate: {"ann": Example("Ann joins on the web shop", {
        "identities": [{"type": "email", "value": "Ann@Example.com", "channel": "web"},
                       {"type": "phone", "value": "(202) 555-0143"}],
        "profile": {"given_name": "Ann", "family_name": "Lee", "birthdate": "1990-04-02",
                    "gender": "female", "join_channel": "web",
                    "address": {"line1": "12 High St", "city": "Surry Hills",
                                "postcode": "2010", "state": "NSW", "country": "au"}},
        "consents": {"email_marketing": True}})},
    Member: {"ann": Example("Ann, her identities normalised", MEMBER)},
    MemberPage: {"found": Example("Found by phone:+12025550143",
                                  {"items": [MEMBER], "next_cursor": None})},
    MemberUpdate: {"moved": Example("Ann moves house and stops marketing mail", {
        "profile": {"address": {"line1": "3 Crown St", "postcode": "2010"}},
        "consents": {"email_marketing": False}})},
    IdentityIn: {"card": Example("Her loyalty card, given at a till",
                                 {"type": "card", "value": "6001234", "channel": "pos"})},
    StatusChange: {"block": Example("Block while a chargeback is looked at",
                                    {"status": "blocked", "reason": "chargeback under review"})},
    EventIn: {
        "purchase": Example("A purchase: the event id is the idempotency key", PURCHASE),
        "return": Example("A return of one of the two lattes", RETURN),
        "review": Example("A review written in the app", REVIEW)},
    EventOutcome: {
        "purchase": Example("The purchase's Beans, pending for the return window", PURCHASED),
        "return": Example("The returned latte's Beans taken back", RETURNED)},
    EventBatch: {"two": Example("Up to 1,000 events in one transaction",
                                {"events": [REVIEW, RETURN]})},
    BatchOutcome: {"two": Example("Each event's outcome", {
        "processed": 2, "duplicates": 0, "rejected": 0, "results": [REVIEWED, RETURNED]})},
    Balance: {"ann": Example("Spendable and pending Beans", BALANCE)},
    LedgerPage: {"ann": Example("Newest first, each line with its reason",
                                {"items": [BEANS], "next_cursor": None})},
    SpendCreate: {"latte": Example("Pay for a latte with Beans", {
        "points": 50, "reason": "Free latte", "idempotency_key": "pos-4411-0002",
        "order_id": "A-1002"})},
    AdjustmentCreate: {"gift": Example("A welcome gift (admin keys)", {
        "points": 1000, "reason": "Welcome gift", "idempotency_key": "welcome-ann"})},
    Posted: {"spend": Example("The spend, the lots it took and the balance after", SPENT),
             "adjustment": Example("The adjustment and the balance after", GIVEN)},
    RedemptionCreate: {"drink": Example("Redeem a free drink", {
        "reward_id": "free_drink", "idempotency_key": "app-redeem-77"})},
    RewardRedemption: {"drink": Example("The coupon the free drink issued", REDEEMED)},
    RewardCatalog: {"ann": Example("The catalog as Ann sees it", {
        "member_id": ANN, "available_points": 950, "program_version": 2,
        "items": [OFFER, TASTING]})},
    BatchCreate: {"mailing": Example("100 codes of the $5 off type", {
        "coupon_type": "five_off", "count": 100, "name": "Spring mailing"})},
    Batch: {"mailing": Example("The batch; its codes at codes_url", {
        "id": 1, "coupon_type": "five_off", "name": "Spring mailing", "count": 100,
        "program_version": 2, "created_at": AT, "expires_at": "2027-01-19T10:15:00Z",
        "used_codes": 0, "redemptions": 0, "voided_codes": 0,
        "codes_url": "/api/v1/coupons/batches/1/codes.csv"})},
    ValidateRequest: {"checkout": Example("What an order of $24 gets from a code", {
        "codes": ["DC5-ZAG7J-TBJ9F"], "member_id": ANN, "order": ORDER})},
    Validation: {"checkout": Example("$5 off the subtotal", {
        "currency": "USD", "subtotal": 2400, "shipping": 0, "discount": 500,
        "shipping_discount": 0, "total_discount": 500,
        "codes": [{"code": "DC5-ZAG7J-TBJ9F", "valid": True, "reason": None, "detail": None,
                   "coupon_type": "five_off", "name": "$5 off your next order",
                   "applies_to": "subtotal", "discount": 500,
                   "expires_at": "2027-01-19T10:20:00Z", "conflicts_with": None}]})},
    RedeemRequest: {"checkout": Example("Use the code on order A-1003 (idempotent per order)",
                                        {"order_id": "A-1003", "member_id": ANN,
                                         "order": ORDER})},
    CouponRedemption: {"checkout": Example("The code used", {
        "id": 1, "code": "DC5-ZAG7J-TBJ9F", "coupon_type": "five_off", "order_id": "A-1003",
        "member_id": ANN, "status": "redeemed", "applies_to": "subtotal", "discount": 500,
        "currency": "USD", "redeemed_at": AT, "released_at": None, "uses_left": 0})},
    TransferCreate: {"birthday": Example("Give 100 Beans to a friend", {
        "to_member_id": 1003, "points": 100, "idempotency_key": "gift-ann-1",
        "message": "Happy birthday"})},
    Transfer: {"birthday": Example("The transfer, lot by lot with their expiry", {
        "id": 1, "direction": "sent", "from_member_id": ANN, "to_member_id": 1003,
        "points": 100, "message": "Happy birthday", "local_day": "2026-11-20",
        "out_entry_id": 5071, "in_entry_id": 5072, "actor": "key:1", "created_at": AT,
        "lots": [{"lot_id": 2729, "points": 100, "expires_at": "2028-01-01T05:00:00Z"}]})},
    HouseholdCreate: {"lees": Example("Ann starts a household",
                                      {"name": "The Lees", "owner_member_id": ANN})},
    HouseholdMemberAdd: {"adult": Example("Her partner joins as an adult",
                                          {"member_id": 1003, "role": "adult"})},
    Household: {"lees": Example("Pooled points, two members", HOUSEHOLD)},
    MembershipCreate: {"club": Example("Coffee Club, paid at the shop", {
        "plan_id": "coffee_club", "payment": {"reference": "pay_3KdL9x", "amount": 4900}})},
    Membership: {"club": Example("Active until the paid period ends", MEMBERSHIP)},
    ManualTierIn: {"gold": Example("Gold by hand until the end of June", {
        "tier": "gold", "until": "2027-06-30T00:00:00Z", "reason": "Service recovery"})},
    MemberTier: {"green": Example("Green, 488 Beans from Silver", {
        "member_id": ANN, "tier": {"id": "green", "name": "Green"}, "source": "earned",
        "shared_with": [], "earned_tier": "green", "since": AT, "secured_until": None,
        "review_at": None,
        "metric": {"name": "tier_points", "value": 12, "window_start": "2025-11-20T10:15:00Z",
                   "window_end": AT},
        "next_tier": {"id": "silver", "name": "Silver", "threshold": 500, "remaining": 488,
                      "by": None},
        "benefits": {"earn_multiplier": "1", "perks": [], "rewards": []},
        "manual": None, "history": []})},
    MergeCreate: {"card": Example("Her card's record is her too", {
        "member_id": 1004, "reason": "her card, given at the till"})},
    Merge: {"card": Example("What the merge moved", {
        "id": 1, "survivor_id": ANN, "merged_id": 1004, "state": "merged",
        "reason": "her card, given at the till", "actor": "key:1", "source": "api",
        "created_at": AT, "undone_at": None, "undone_by": None,
        "moved": dict(NOTHING_MOVED, identities=1), "undo": None})},
    PreviewIn: {"at-risk": Example("Who would be in it, saving nothing",
                                   {"condition": CONDITION})},
    Preview: {"at-risk": Example("How many, and the first ids", {
        "members": 8, "sample": [27, 46, 62, 70, 72, 133, 160, 198], "evaluated_at": AT})},
    SegmentCreate: {"at-risk": Example("A dynamic segment over member features", {
        "key": "at-risk", "name": "At risk regulars", "condition": CONDITION})},
    Segment: {"at-risk": Example("Filled as soon as it is saved", {
        "key": "at-risk", "name": "At risk regulars", "description": None,
        "kind": "dynamic", "condition": CONDITION, "active": True, "members": 10,
        "created_by": "key:1", "created_at": AT, "updated_at": AT, "refreshed_at": AT})},
}


def component_names(schema: dict[str, Any]) -> dict[type[BaseModel], str]:
    """Each example's model and the name of its schema in the document: the class name, or
    FastAPI's module-qualified name where two models share one."""
    components = schema.get("components", {}).get("schemas", {})
    names = {}
    for model in EXAMPLES:
        qualified = f"{model.__module__}.{model.__qualname__}".replace(".", "__")
        for name in (model.__name__, qualified):
            if name in components:
                names[model] = name
    return names


def _bodies(operation: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The JSON bodies of an operation: its request's and its success answers'."""
    places = [operation.get("requestBody", {})]
    places += [answer for status, answer in operation.get("responses", {}).items()
               if status in ("200", "201")]
    for place in places:
        body = place.get("content", {}).get("application/json")
        if body is not None:
            yield body


def _refers_to(body: dict[str, Any]) -> str | None:
    schema = body.get("schema", {})
    options = [schema] + schema.get("anyOf", [])  # an optional body: the model or null
    refs = [option["$ref"] for option in options if "$ref" in option]
    return refs[0].rsplit("/", 1)[-1] if len(refs) == 1 else None


def with_examples(schema: dict[str, Any]) -> dict[str, Any]:
    """The document with the examples on each model's schema and on each operation's
    request and success answer that carries the model."""
    names = component_names(schema)
    by_name = {names[model]: examples for model, examples in EXAMPLES.items()
               if model in names}
    components = schema["components"]["schemas"]
    for name, examples in by_name.items():
        components[name]["examples"] = [example.value for example in examples.values()]
    for methods in schema.get("paths", {}).values():
        for operation in methods.values():
            for body in _bodies(operation):
                examples = by_name.get(_refers_to(body) or "")
                if examples:
                    body["examples"] = {key: {"summary": example.summary,
                                              "value": example.value}
                                        for key, example in examples.items()}
    return schema


def install(app: FastAPI) -> None:
    """Serve /openapi.json (and so /docs) with the examples."""
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = with_examples(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
