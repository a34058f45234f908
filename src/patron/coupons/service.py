"""Coupons: issuing codes (in batches for a promotion, or one for a member) and voiding.

Checkout (validate, redeem, release) is in :mod:`patron.coupons.checkout`.

A code keeps the terms of the program version it was issued under (the coupon
type's discount, minimum spend, combinability) and gets its expiry then, so a
printed promise holds whatever later versions change. For other domains:

- :func:`issue` gives a member one code of a coupon type (reward redemptions);
- :func:`void` cancels a code that was never used (a cancelled reward redemption).
"""

from __future__ import annotations

import csv
import io
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from patron import hooks
from patron.coupons import domain, repository
from patron.coupons.schemas import Batch, BatchCreate, Coupon, CouponStatus, IssuedCoupon
from patron.db import Database
from patron.errors import Conflict, NotFound
from patron.members.service import require_member
from patron.program.service import Program
from patron.program.versions import get_version
from patron.program.incentives import CouponType

CSV_PAGE = 5_000
CSV_COLUMNS = ("code", "coupon_type", "expires_at", "uses_per_code", "uses", "state")
_ATTEMPTS = 5


class CouponTypeNotFound(NotFound):
    code = "coupon_type_not_found"
    title = "Coupon type not found"


class CouponTypeExpired(Conflict):
    code = "coupon_type_expired"
    title = "Coupon type expired"


class CouponNotFound(NotFound):
    code = "coupon_not_found"
    title = "Coupon not found"

    def __init__(self, code: str) -> None:
        super().__init__(f"no code {code!r} in this program", reason="unknown_code")


class BatchNotFound(NotFound):
    code = "coupon_batch_not_found"
    title = "Coupon batch not found"


class CouponRefused(Conflict):
    """A code that cannot be redeemed; ``reason`` is the one validate gives."""

    code = "coupon_refused"
    title = "Coupon refused"
    reason: ClassVar[str] = "refused"

    def __init__(self, detail: str, coupon: str, **extra: Any) -> None:
        super().__init__(detail, reason=self.reason, coupon=coupon, **extra)


class CouponUsed(CouponRefused):
    code, reason, title = "coupon_used", "used", "Coupon already used"


# --------------------------------------------------------------------------- terms

@dataclass(frozen=True)
class Terms:
    """The coupon types of one program version (immutable, so cached)."""

    version: int
    types: dict[str, CouponType]
    zone: ZoneInfo


_terms: OrderedDict[tuple[str, int, int], Terms] = OrderedDict()
_terms_lock = threading.Lock()


def terms_of(conn: Connection, program: Program, version: int | None = None) -> Terms:
    number = program.version if version is None else version
    key = (str(conn.engine.url), program.id, number)
    with _terms_lock:
        found = _terms.get(key)
        if found is not None:
            _terms.move_to_end(key)
            return found
    document = get_version(conn, program, number).document
    assert document is not None
    found = Terms(number, {t.id: t for t in document.coupons}, document.settings.zone)
    with _terms_lock:
        _terms[key] = found
        while len(_terms) > 256:
            _terms.popitem(last=False)
    return found


def current_type(conn: Connection, program: Program, type_id: str) -> tuple[Terms, CouponType]:
    terms = terms_of(conn, program)
    if type_id not in terms.types:
        raise CouponTypeNotFound(f"the current program version has no coupon type "
                                 f"{type_id!r}", coupon_type=type_id)
    return terms, terms.types[type_id]


def type_of(conn: Connection, program: Program, row: Any) -> CouponType:
    """The terms a code was issued with."""
    return terms_of(conn, program, row.program_version).types[row.coupon_type]


# --------------------------------------------------------------------------- issuing

def _fields(program: Program, terms: Terms, coupon_type: CouponType, now: datetime,
            **extra: Any) -> dict[str, Any]:
    expires_at = domain.expiry(coupon_type, now, terms.zone)
    if expires_at is not None and expires_at <= now:
        raise CouponTypeExpired(f"coupon type {coupon_type.id!r} expired at "
                                f"{expires_at.isoformat()}: its codes would never work",
                                coupon_type=coupon_type.id)
    fields = {"program_id": program.id, "coupon_type": coupon_type.id,
              "program_version": terms.version, "uses_per_code": coupon_type.uses_per_code,
              "uses": 0, "state": "active", "issued_at": now, "expires_at": expires_at,
              **extra}
    return {name: value for name, value in fields.items() if value is not None}  # NULL anyway


def _place(conn: Connection, coupon_type: CouponType, count: int,
           fields: dict[str, Any]) -> list[str]:
    """Insert ``count`` new codes with ``fields``; returns them (canonical).

    The codes go in at once; if one already exists in the program (31^10 is 8 x 10^14,
    so about one batch in 8,000 when 100,000 ten-symbol codes join a million), the
    insert is rolled back to its savepoint and only the clashing codes are drawn again.
    """
    codes = domain.new_codes(count, coupon_type.length, coupon_type.prefix)
    for _ in range(_ATTEMPTS):
        try:
            with conn.begin_nested():
                repository.insert_coupons(conn, [{**fields, "code": code} for code in codes])
            return codes
        except IntegrityError:
            taken = repository.existing_codes(conn, fields["program_id"], codes)
            if not taken:
                raise
            codes = domain.replace_codes(codes, taken, coupon_type.length, coupon_type.prefix)
    raise RuntimeError("new codes kept clashing with existing ones")  # pragma: no cover


def create_batch(conn: Connection, program: Program, payload: BatchCreate, *, now: datetime,
                 actor: str) -> Batch:
    """``count`` codes of a coupon type for a promotion, tied to no member."""
    terms, coupon_type = current_type(conn, program, payload.coupon_type)
    fields = _fields(program, terms, coupon_type, now)
    batch_id = repository.insert_batch(
        conn, program_id=program.id, coupon_type=coupon_type.id, program_version=terms.version,
        name=payload.name, count=payload.count, created_at=now, actor=actor)
    _place(conn, coupon_type, payload.count, {**fields, "batch_id": batch_id})
    return get_batch(conn, program, batch_id)


def get_batch(conn: Connection, program: Program, batch_id: int) -> Batch:
    row = repository.batch_row(conn, program.id, batch_id)
    if row is None:
        raise BatchNotFound(f"coupon batch {batch_id} does not exist", batch_id=batch_id)
    stats = repository.batch_stats(conn, batch_id)
    return Batch(id=row.id, coupon_type=row.coupon_type, name=row.name, count=row.count,
                 program_version=row.program_version, created_at=row.created_at,
                 expires_at=stats.expires_at, used_codes=stats.used, redemptions=stats.uses,
                 voided_codes=stats.voided,
                 codes_url=f"/api/v1/coupons/batches/{row.id}/codes.csv")


def batch_csv(db: Database, program: Program, batch: Batch) -> Iterator[str]:
    """The batch's codes as CSV, a page per read transaction (so no connection is held
    while the client reads)."""
    prefix = db.read(lambda conn: terms_of(conn, program, batch.program_version)
                     .types[batch.coupon_type].prefix)
    yield ",".join(CSV_COLUMNS) + "\r\n"
    after = 0
    while True:
        rows = db.read(lambda conn: repository.batch_page(conn, batch.id, after, CSV_PAGE))
        if not rows:
            return
        out = io.StringIO()
        writer = csv.writer(out)
        for row in rows:
            writer.writerow((domain.display(row.code, prefix), batch.coupon_type,
                             row.expires_at.isoformat() if row.expires_at else "",
                             row.uses_per_code, row.uses, row.state))
        yield out.getvalue()
        after = rows[-1].id


def issue(conn: Connection, program: Program, coupon_type_id: str, *, member_id: int | None,
          now: datetime, source: str | None) -> IssuedCoupon:
    """One new code of a coupon type of the current version, for ``member_id`` alone
    (None: a bearer code). ``source`` says what issued it, e.g. ``reward:42``.

    Runs in the caller's transaction: if that rolls back, the code never existed. A
    member's code is announced (``hooks.CouponIssued``); a bearer code is not.
    """
    if member_id is not None:
        require_member(conn, program, member_id)
    terms, coupon_type = current_type(conn, program, coupon_type_id)
    fields = _fields(program, terms, coupon_type, now, member_id=member_id,
                     source=source[:200] if source else None)
    code = _place(conn, coupon_type, 1, fields)[0]
    issued = view(repository.coupon_row(conn, program.id, code), coupon_type, now)
    if member_id is not None:
        hooks.emit(conn, hooks.CouponIssued(program, member_id, issued.code, coupon_type.id,
                                            issued.source, issued.expires_at, now))
    return issued


def get_coupon(conn: Connection, program: Program, code: str, now: datetime) -> Coupon:
    row = _row(conn, program, code)
    return view(row, type_of(conn, program, row), now)


def void(conn: Connection, program: Program, code: str, now: datetime, reason: str) -> Coupon:
    """Cancel a code so it can never be redeemed; voiding it again changes nothing.

    A code with a standing redemption is refused (409 ``coupon_used``): release the
    order's redemption first, so the books never show a discount on a void code.
    """
    row = _row(conn, program, code, lock=True)
    coupon_type = type_of(conn, program, row)
    if row.state != "voided" and not repository.void(conn, row.id, now, reason[:500]):
        raise CouponUsed(f"code {code!r} has been redeemed and cannot be voided; release "
                         "the redemption first", coupon=domain.display(row.code,
                                                                       coupon_type.prefix))
    return view(repository.coupon_row(conn, program.id, row.code), coupon_type, now)


def _row(conn: Connection, program: Program, code: str, *, lock: bool = False) -> Any:
    canonical = domain.normalise(code)
    row = repository.coupon_row(conn, program.id, canonical, lock=lock) if canonical else None
    if row is None:
        raise CouponNotFound(code)
    return row


def status(row: Any, now: datetime) -> CouponStatus:
    if row.state == "voided":
        return "voided"
    if row.uses >= row.uses_per_code:
        return "used"
    if row.expires_at is not None and now >= row.expires_at:
        return "expired"
    return "active"


def view(row: Any, coupon_type: CouponType, now: datetime) -> Coupon:
    return Coupon(code=domain.display(row.code, coupon_type.prefix),
                  coupon_type=coupon_type.id, name=coupon_type.name,
                  discount=coupon_type.discount, min_spend=coupon_type.min_spend,
                  combinable=coupon_type.combinable,
                  max_per_order=coupon_type.max_per_order, member_id=row.member_id,
                  batch_id=row.batch_id, source=row.source, status=status(row, now),
                  uses=row.uses, uses_per_code=row.uses_per_code, issued_at=row.issued_at,
                  expires_at=row.expires_at, voided_at=row.voided_at,
                  void_reason=row.void_reason)
