"""Issuing, validating, redeeming and releasing codes, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from patron.coupons import checkout, domain, service
from patron.coupons.tables import coupon_redemptions, coupons
from patron.errors import IdempotencyKeyReused
from patron.members.service import MemberNotFound
from tests.coupons.factories import Shop, order_id, publish_coupons


@pytest.fixture
def shop(database, clock) -> Shop:
    return Shop(database, clock)


def redemption_kinds(shop: Shop, code: str) -> list[tuple[str, str, int]]:
    canonical = domain.normalise(code)
    return shop.db.read(lambda conn: [tuple(r) for r in conn.execute(
        select(coupon_redemptions.c.kind, coupon_redemptions.c.order_id,
               coupon_redemptions.c.discount)
        .join(coupons, coupons.c.id == coupon_redemptions.c.coupon_id)
        .where(coupons.c.program_id == shop.program.id, coupons.c.code == canonical)
        .order_by(coupon_redemptions.c.id))])


# --------------------------------------------------------------------------- batches

def test_a_batch_of_10000_codes_is_unique_and_uses_only_the_alphabet(shop):
    batch = shop.batch("ten_pct", 10_000, name="Spring mailing")
    codes = shop.codes(batch)
    assert batch.count == len(codes) == len(set(codes)) == 10_000
    assert batch.expires_at == shop.clock.now() + timedelta(days=30)
    for code in codes:
        head, *groups = code.split("-")
        assert head == "TEN" and [len(g) for g in groups] == [5, 5]
        assert set("".join(groups)) <= set(domain.ALPHABET)
    assert shop.coupon(codes[0].lower().replace("-", " ")).status == "active"


def test_a_batch_of_100000_codes(shop):
    began = time.perf_counter()
    batch = shop.batch("five_off", 100_000)
    seconds = time.perf_counter() - began
    print(f"\n{shop.db.dialect}: 100,000 codes in {seconds:.2f} s")
    total = shop.db.read(lambda conn: conn.execute(
        select(func.count(), func.count(func.distinct(coupons.c.code)))
        .where(coupons.c.batch_id == batch.id)).one())
    assert tuple(total) == (100_000, 100_000)


def test_a_clashing_code_is_drawn_again_and_only_it(shop, monkeypatch):
    existing = shop.code("ship")
    clash = domain.normalise(existing)
    real = domain.random_parts
    calls: list[int] = []

    def rigged(count: int, length: int) -> list[str]:
        calls.append(count)
        parts = real(count, length)
        return [clash, *parts[1:]] if len(calls) == 1 else parts

    monkeypatch.setattr(domain, "random_parts", rigged)
    batch = shop.batch("ship", 20)
    codes = [domain.normalise(c) for c in shop.codes(batch)]
    assert calls == [20, 1]
    assert len(set(codes)) == 20 and clash not in codes


def test_a_batch_needs_a_current_coupon_type_that_has_not_expired(shop):
    with pytest.raises(service.CouponTypeNotFound):
        shop.batch("nope", 1)
    shop.clock.set(datetime(2026, 4, 1, tzinfo=timezone.utc))
    with pytest.raises(service.CouponTypeExpired):
        shop.batch("spring", 1)


# --------------------------------------------------------------------------- issue / void

def test_an_issued_code_is_its_members_alone(shop):
    owner, other = shop.member(), shop.member()
    issued = shop.issue("five_off", member_id=owner, source="reward:42")
    assert issued.member_id == owner and issued.source == "reward:42"
    assert issued.expires_at is None and issued.status == "active"
    assert shop.reason(issued.code, member_id=other) == ["other_member"]
    assert shop.reason(issued.code) == ["member_required"]
    assert shop.reason(issued.code, member_id=owner) == [None]
    with pytest.raises(checkout.CouponOtherMember):
        shop.redeem(issued.code, order_id(), member_id=other)
    assert shop.redeem(issued.code, order_id(), member_id=owner)[0].discount == 500


def test_issue_to_an_unknown_member_is_refused(shop):
    with pytest.raises(MemberNotFound):
        shop.issue("five_off", member_id=10**12)


def test_void_cancels_an_unused_code_once(shop):
    code = shop.issue("five_off", member_id=shop.member()).code
    voided = shop.void(code, "reward redemption cancelled")
    assert voided.status == "voided" and voided.void_reason == "reward redemption cancelled"
    assert shop.void(code, "again").void_reason == "reward redemption cancelled"
    assert shop.reason(code, member_id=voided.member_id) == ["voided"]


def test_a_used_code_cannot_be_voided(shop):
    code = shop.code("five_off")
    shop.redeem(code, "o-void")
    with pytest.raises(service.CouponUsed) as refused:
        shop.void(code, "too late")
    assert refused.value.code == "coupon_used"
    shop.release(code, "o-void")
    assert shop.void(code, "released first").status == "voided"


def test_a_code_keeps_the_terms_it_was_issued_with(shop):
    code = shop.code("five_off")
    shop.program = publish_coupons(shop.db, shop.clock, shop.program, coupons=[
        {"id": "five_off", "name": "Now 1 off", "discount": {"amount": 100}}])
    assert shop.validate(code).codes[0].discount == 500
    with pytest.raises(service.CouponTypeNotFound):
        shop.code("ten_pct")


# --------------------------------------------------------------------------- validate

def test_validate_gives_each_reason(shop):
    ten, five, solo, spring = (shop.code(t) for t in ("ten_pct", "five_off", "solo", "spring"))
    assert shop.reason("NOPE-NOPE") == ["unknown_code"]
    assert shop.reason(five, subtotal=1_999) == ["min_spend_not_met"]
    assert shop.reason(five, currency="EUR") == ["currency_mismatch"]
    assert shop.reason(solo, ten) == [None, "not_combinable"]
    assert shop.reason(ten, solo) == [None, "not_combinable"]
    shop.redeem(five, order_id())
    assert shop.reason(five) == ["used"]
    shop.clock.advance(days=30)
    assert shop.reason(ten, spring) == ["expired", "expired"]


def test_validate_totals_the_stacked_discounts(shop):
    codes = [shop.code(t) for t in ("ship", "five_off", "ten_pct")]
    result = shop.validate(*codes, subtotal=8_000, shipping=650)
    assert [c.discount for c in result.codes] == [650, 500, 800]
    assert (result.discount, result.shipping_discount, result.total_discount) == (
        1_300, 650, 1_950)
    assert all(c.valid for c in result.codes)


# --------------------------------------------------------------------------- redeem / release

def test_redeem_is_idempotent_for_the_same_order(shop):
    code = shop.code("ten_pct")
    first, created = shop.redeem(code, "o-1", subtotal=12_345)
    again, created_again = shop.redeem(code, "o-1", subtotal=12_345)
    assert (created, created_again) == (True, False)
    assert again == first and first.discount == 1_235 and first.uses_left == 0
    assert redemption_kinds(shop, code) == [("redeemed", "o-1", 1_235)]
    with pytest.raises(service.CouponUsed):
        shop.redeem(code, "o-2")


def test_a_redemption_resent_for_the_order_with_another_body_is_refused(shop):
    member, other = shop.member(), shop.member()
    code = shop.code("ten_pct")
    first, _ = shop.redeem(code, "o-1", member_id=member, subtotal=12_345, shipping=500)
    for changed in (dict(member_id=member, subtotal=99_999, shipping=500),
                    dict(member_id=member, subtotal=12_345, shipping=0),
                    dict(member_id=other, subtotal=12_345, shipping=500),
                    dict(member_id=None, subtotal=12_345, shipping=500)):
        with pytest.raises(IdempotencyKeyReused) as refused:
            shop.redeem(code, "o-1", **changed)
        problem = refused.value.problem()
        assert (problem["status"], problem["code"], problem["order_id"]) == (
            409, "idempotency_key_reused", "o-1")
    again, created = shop.redeem(code, "o-1", member_id=member, subtotal=12_345, shipping=500)
    assert again == first and not created
    assert redemption_kinds(shop, code) == [("redeemed", "o-1", 1_235)]


def test_two_checkouts_redeeming_one_single_use_code_succeed_once(shop):
    code = shop.code("five_off")
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def checkout_(n: int) -> None:
        barrier.wait()
        try:
            shop.redeem(code, f"race-{n}")
            outcomes.append("ok")
        except service.CouponUsed:
            outcomes.append("coupon_used")

    threads = [threading.Thread(target=checkout_, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["coupon_used"] * 5 + ["ok"]
    assert [kind for kind, *_ in redemption_kinds(shop, code)] == ["redeemed"]
    assert shop.coupon(code).uses == 1


def test_retries_of_one_order_at_once_redeem_once(shop):
    code = shop.code("thrice")
    results = []
    barrier = threading.Barrier(4)

    def retry() -> None:
        barrier.wait()
        results.append(shop.redeem(code, "o-retry"))

    threads = [threading.Thread(target=retry) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(created for _, created in results) == [False, False, False, True]
    assert len({redemption.id for redemption, _ in results}) == 1
    assert shop.coupon(code).uses == 1


def test_release_then_redeem_again(shop):
    code = shop.code("five_off")
    redeemed, _ = shop.redeem(code, "o-cancelled")
    released = shop.release(code, "o-cancelled")
    assert released.id == redeemed.id and released.status == "released"
    assert released.released_at == shop.clock.now() and released.uses_left == 1
    assert shop.release(code, "o-cancelled") == released
    assert shop.reason(code) == [None]
    again, created = shop.redeem(code, "o-next")
    assert created and again.id != redeemed.id
    assert redemption_kinds(shop, code) == [("redeemed", "o-cancelled", 500),
                                            ("released", "o-cancelled", -500),
                                            ("redeemed", "o-next", 500)]
    with pytest.raises(checkout.RedemptionNotFound):
        shop.release(code, "o-never")


def test_a_released_order_may_redeem_the_code_afresh(shop):
    code = shop.code("five_off")
    first, _ = shop.redeem(code, "o-1")
    shop.release(code, "o-1")
    second, created = shop.redeem(code, "o-1")
    assert created and second.id != first.id and second.status == "redeemed"


def test_a_multi_use_code_takes_its_uses_then_refuses(shop):
    code = shop.code("thrice")
    for n in range(3):
        shop.redeem(code, f"o-{n}")
    with pytest.raises(service.CouponUsed):
        shop.redeem(code, "o-3")
    shop.release(code, "o-1")
    assert shop.redeem(code, "o-4")[1]


def test_redeem_enforces_stacking_against_the_orders_standing_codes(shop):
    solo, ten, five = shop.code("solo"), shop.code("ten_pct"), shop.code("five_off")
    shop.redeem(solo, "o-solo")
    with pytest.raises(checkout.CouponNotCombinable) as refused:
        shop.redeem(ten, "o-solo")
    assert refused.value.extra["conflicts_with"] == shop.coupon(solo).code
    first, _ = shop.redeem(five, "o-stack", subtotal=10_000)
    second, _ = shop.redeem(ten, "o-stack", subtotal=10_000)
    assert (first.discount, second.discount) == (500, 1_000)


def test_two_codes_of_one_coupon_type_take_its_discount_once(shop):
    first, second = shop.code("ten_pct"), shop.code("ten_pct")
    result = shop.validate(first, second, subtotal=10_000)
    assert [(c.valid, c.reason, c.discount) for c in result.codes] == [
        (True, None, 1_000), (False, "type_limit", 0)]
    assert result.codes[1].conflicts_with == shop.coupon(first).code
    assert result.total_discount == 1_000
    shop.redeem(first, "o-twice", subtotal=10_000)
    with pytest.raises(checkout.CouponTypeLimit) as refused:
        shop.redeem(second, "o-twice", subtotal=10_000)
    problem = refused.value.problem()
    assert (problem["status"], problem["code"], problem["reason"]) == (
        409, "coupon_type_limit", "type_limit")
    assert redemption_kinds(shop, second) == []


def test_a_coupon_type_may_allow_several_codes_per_order(database, clock):
    shop = Shop(database, clock, [{"id": "pct15", "name": "15% off", "combinable": True,
                                   "discount": {"percent": "15"}, "max_per_order": 2}])
    codes = [shop.code("pct15") for _ in range(3)]
    assert shop.reason(*codes) == [None, None, "type_limit"]
    assert [shop.redeem(code, "o-many")[0].discount for code in codes[:2]] == [1_500, 1_275]
    with pytest.raises(checkout.CouponTypeLimit):
        shop.redeem(codes[2], "o-many")


def test_redeem_refuses_an_expired_code_and_an_unknown_one(shop):
    code = shop.code("ten_pct")
    shop.clock.advance(days=31)
    with pytest.raises(checkout.CouponExpired) as refused:
        shop.redeem(code, order_id())
    assert refused.value.problem()["reason"] == "expired"
    with pytest.raises(service.CouponNotFound):
        shop.redeem("NOT-A-CODE", order_id())
