"""A shop whose program offers a few coupon types, and shortcuts to drive it."""

from __future__ import annotations

import itertools
from typing import Any

from patron.coupons import checkout, service
from patron.coupons.schemas import BatchCreate, RedeemRequest, ReleaseRequest, ValidateRequest
from patron.flows.enrolment import create_member
from patron.program.service import get_program
from patron.program.versions import publish
from patron.program.document import ProgramDocument
from tests.conftest import make_program
from tests.factories import member_create

SETTINGS = {"currency": "USD", "timezone": "UTC", "pending_days": 0, "expiry": {"days": None}}
COUPONS: list[dict[str, Any]] = [
    {"id": "ten_pct", "name": "10% off", "discount": {"percent": "10", "max_amount": 5000},
     "combinable": True, "prefix": "TEN", "valid_days": 30},
    {"id": "five_off", "name": "5 off", "discount": {"amount": 500}, "combinable": True,
     "min_spend": 2000},
    {"id": "solo", "name": "20% off, alone", "discount": {"percent": "20"}, "prefix": "SOLO-"},
    {"id": "ship", "name": "Free shipping", "discount": {"free_shipping": True},
     "combinable": True, "length": 8},
    {"id": "thrice", "name": "1 off, three times", "discount": {"amount": 100},
     "uses_per_code": 3, "combinable": True},
    {"id": "spring", "name": "Spring sale", "discount": {"amount": 1000},
     "valid_until": "2026-03-31", "length": 12},
]
_orders = itertools.count(1)


def shop_document(coupons: list[dict[str, Any]] | None = None) -> ProgramDocument:
    return ProgramDocument.model_validate(
        {"name": "Shop", "settings": SETTINGS, "coupons": COUPONS if coupons is None else coupons})


def publish_coupons(db, clock, program, coupons: list[dict[str, Any]] | None = None):
    db.transact(lambda conn: publish(conn, program, shop_document(coupons), actor="test",
                                     now=clock.now()))
    return db.read(lambda conn: get_program(conn, program.id))


def order(subtotal: int = 10_000, shipping: int = 0, currency: str = "USD") -> dict[str, Any]:
    return {"subtotal": subtotal, "shipping": shipping, "currency": currency}


def order_id() -> str:
    return f"order-{next(_orders)}"


class Shop:
    """A program whose current document offers ``COUPONS``."""

    def __init__(self, db, clock, coupons: list[dict[str, Any]] | None = None) -> None:
        self.db, self.clock = db, clock
        self.program = publish_coupons(db, clock, make_program(db, clock, **SETTINGS), coupons)

    def member(self) -> int:
        return self.db.transact(lambda conn: create_member(conn, self.program, member_create(),
                                                           self.clock.now())).id

    def batch(self, coupon_type: str, count: int, name: str | None = None):
        payload = BatchCreate(coupon_type=coupon_type, count=count, name=name)
        return self.db.transact(lambda conn: service.create_batch(
            conn, self.program, payload, now=self.clock.now(), actor="test"))

    def codes(self, batch) -> list[str]:
        lines = list(service.batch_csv(self.db, self.program, batch))
        rows = "".join(lines[1:]).splitlines()
        return [row.split(",")[0] for row in rows]

    def code(self, coupon_type: str) -> str:
        return self.issue(coupon_type, member_id=None).code

    def issue(self, coupon_type: str, *, member_id: int | None, source: str | None = "test"):
        return self.db.transact(lambda conn: service.issue(
            conn, self.program, coupon_type, member_id=member_id, now=self.clock.now(),
            source=source))

    def void(self, code: str, reason: str = "cancelled"):
        return self.db.transact(lambda conn: service.void(conn, self.program, code,
                                                          self.clock.now(), reason))

    def validate(self, *codes: str, member_id: int | None = None, **order_fields: Any):
        payload = ValidateRequest(codes=list(codes), member_id=member_id,
                                  order=order(**order_fields))
        return self.db.read(lambda conn: checkout.validate(conn, self.program, payload,
                                                           self.clock.now()))

    def reason(self, *codes: str, **kwargs: Any) -> list[str | None]:
        return [v.reason for v in self.validate(*codes, **kwargs).codes]

    def redeem(self, code: str, order_id: str, *, member_id: int | None = None,
               **order_fields: Any):
        payload = RedeemRequest(order_id=order_id, member_id=member_id,
                                order=order(**order_fields))
        return self.db.transact(lambda conn: checkout.redeem(
            conn, self.program, code, payload, now=self.clock.now(), actor="test"))

    def release(self, code: str, order_id: str):
        return self.db.transact(lambda conn: checkout.release(
            conn, self.program, code, ReleaseRequest(order_id=order_id),
            now=self.clock.now(), actor="test"))

    def coupon(self, code: str):
        return self.db.read(lambda conn: service.get_coupon(conn, self.program, code,
                                                            self.clock.now()))
