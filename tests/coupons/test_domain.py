"""Codes, expiry, refusals and stacking as plain functions: no database."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from scipy.stats import chisquare

from patron.coupons import domain
from patron.coupons.domain import Coupon, Order
from patron.program.incentives import CouponType

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
USD = Order(10_000, 700, "USD")


def terms(**fields) -> CouponType:
    fields.setdefault("id", "t")
    fields.setdefault("name", "T")
    fields.setdefault("discount", {"amount": 500})
    return CouponType.model_validate(fields)


_ids = iter(range(1, 10**6))


def coupon(member_id=None, uses=0, uses_per_code=1, voided=False, expires_at=None, **fields):
    """A code of its own coupon type unless ``id`` names a shared one."""
    n = next(_ids)
    fields.setdefault("id", f"t{n}")
    return Coupon(n, f"CODE{n}", terms(**fields), member_id, uses, uses_per_code, voided,
                  expires_at)


def verdicts(order, *coupons, member_id=None, standing=()):
    return domain.evaluate(order, list(coupons), member_id=member_id, currency="USD", now=NOW,
                           standing=standing)


# --------------------------------------------------------------------------- codes

def test_codes_use_only_the_unambiguous_alphabet_evenly():
    parts = domain.random_parts(20_000, 10)
    assert len(parts) == 20_000 and {len(p) for p in parts} == {10}
    counts = Counter("".join(parts))
    assert set(counts) == set(domain.ALPHABET)
    assert not set("01OIL") & set(domain.ALPHABET)
    # Uniform draws pass a chi-square test except once in a million runs; a biased
    # alphabet (one letter twice as likely, say) fails it every time.
    assert chisquare([counts[c] for c in domain.ALPHABET]).pvalue > 1e-6


def test_new_codes_are_distinct_and_avoid_what_is_taken():
    taken = frozenset(domain.new_codes(50, 8, "X"))
    fresh = domain.new_codes(5_000, 8, "X", avoid=taken)
    assert len(set(fresh)) == 5_000 and not taken & set(fresh)
    assert all(code.startswith("X") and len(code) == 9 for code in fresh)


def test_replace_codes_swaps_only_the_clashing_ones():
    codes = domain.new_codes(6, 10, "")
    replaced = domain.replace_codes(codes, {codes[1], codes[4]}, 10, "")
    assert [a == b for a, b in zip(codes, replaced)] == [True, False, True, True, False, True]
    assert len(set(replaced) | {codes[1], codes[4]}) == 8


@pytest.mark.parametrize("typed", ["SUMMER-ABCDE-FGHJK", "summer abcde fghjk",
                                   " Summer-abcdefghjk\t", "SUMMERABCDEFGHJK"])
def test_typed_codes_normalise_to_one_form(typed):
    assert domain.normalise(typed) == "SUMMERABCDEFGHJK"


@pytest.mark.parametrize("typed", ["", " - ", "ABC\x00D", "ABC_DEF", "ÄBCDEF", "A" * 41])
def test_what_cannot_be_a_code_normalises_to_none(typed):
    assert domain.normalise(typed) is None


@pytest.mark.parametrize(("code", "prefix", "printed"), [
    ("SUMMERABCDEFGHJK", "SUMMER", "SUMMER-ABCDE-FGHJK"),
    ("SUMMERABCDEFGHJK", "SUMMER-", "SUMMER-ABCDE-FGHJK"),
    ("ABCDEFGH", "", "ABCD-EFGH"),
    ("ABCDEFGHJKM", "", "ABCD-EFGH-JKM"),
    ("ABCDEFGHJKMNPQRSTUVWXYZ2", "", "ABCDE-FGHJK-MNPQR-STUVW-XYZ2"),
])
def test_printed_form_groups_the_random_part(code, prefix, printed):
    assert domain.display(code, prefix) == printed
    assert domain.normalise(printed) == code


# --------------------------------------------------------------------------- expiry

def test_expiry_is_the_earlier_of_valid_days_and_the_end_of_valid_until():
    paris = ZoneInfo("Europe/Paris")
    assert domain.expiry(terms(valid_days=30), NOW, paris) == NOW + timedelta(days=30)
    end_of_day = datetime(2026, 3, 10, 23, 0, tzinfo=timezone.utc)  # midnight in Paris
    assert domain.expiry(terms(valid_until=date(2026, 3, 10)), NOW, paris) == end_of_day
    assert domain.expiry(terms(valid_days=30, valid_until=date(2026, 3, 10)), NOW,
                         paris) == end_of_day
    assert domain.expiry(terms(), NOW, paris) is None


def test_a_date_time_without_offset_is_read_in_the_program_timezone():
    got = domain.expiry(terms(valid_until=datetime(2026, 3, 10, 9, 0)), NOW,
                        ZoneInfo("Europe/Paris"))
    assert got == datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)


# --------------------------------------------------------------------------- refusals

def test_each_refusal_has_its_reason():
    cases = [
        (coupon(voided=True), {}, "voided"),
        (coupon(member_id=7), {}, "member_required"),
        (coupon(member_id=7), {"member_id": 8}, "other_member"),
        (coupon(uses=1), {}, "used"),
        (coupon(expires_at=NOW), {}, "expired"),
        (coupon(min_spend=10_001), {}, "min_spend_not_met"),
    ]
    for candidate, kwargs, reason in cases:
        assert verdicts(USD, candidate, **kwargs)[0].reason == reason
    assert verdicts(Order(10_000, 0, "EUR"), coupon())[0].reason == "currency_mismatch"
    assert verdicts(USD, None)[0].reason == "unknown_code"
    assert verdicts(USD, coupon(member_id=7), member_id=7)[0].valid


def test_another_members_code_reveals_nothing_about_its_state():
    used_and_expired = coupon(member_id=7, uses=1, expires_at=NOW - timedelta(days=1))
    assert verdicts(USD, used_and_expired, member_id=8)[0].reason == "other_member"


def test_min_spend_compares_with_the_subtotal_before_discounts():
    first = coupon(discount={"percent": "50"}, combinable=True)
    second = coupon(min_spend=10_000, combinable=True)
    assert [v.discount for v in verdicts(USD, first, second)] == [5_000, 500]


# --------------------------------------------------------------------------- stacking

def test_a_non_combinable_code_is_the_only_code_and_the_first_wins():
    alone, other = coupon(combinable=False), coupon(combinable=True)
    got = verdicts(USD, alone, other)
    assert [v.reason for v in got] == [None, "not_combinable"]
    assert got[1].conflicts_with is alone
    got = verdicts(USD, other, alone)
    assert [v.reason for v in got] == [None, "not_combinable"]
    assert verdicts(USD, coupon(), coupon())[1].reason == "not_combinable"


def test_a_coupon_type_is_once_per_order_unless_its_max_per_order_says_otherwise():
    pct15 = dict(id="pct15", discount={"percent": "15"}, combinable=True)
    first, second = coupon(**pct15), coupon(**pct15)
    got = verdicts(USD, first, second)
    assert [v.reason for v in got] == [None, "type_limit"]
    assert got[1].conflicts_with is first and got[1].discount == 0
    assert [v.discount for v in got] == [1_500, 0]
    assert verdicts(USD, second, standing=[(first, 1_500)])[0].reason == "type_limit"
    twice = dict(pct15, max_per_order=2)
    got = verdicts(USD, coupon(**twice), coupon(**twice), coupon(**twice))
    assert [v.reason for v in got] == [None, None, "type_limit"]
    assert [v.discount for v in got] == [1_500, 1_275, 0]


def test_a_refused_code_does_not_block_others():
    got = verdicts(USD, coupon(uses=1, combinable=False), coupon(combinable=False))
    assert [v.reason for v in got] == ["used", None]


def test_the_same_code_twice_counts_once():
    one = coupon(combinable=True)
    assert [v.reason for v in verdicts(USD, one, one)] == [None, "duplicate_code"]


def test_percent_codes_apply_first_then_amounts_then_free_shipping():
    ship = coupon(discount={"free_shipping": True}, combinable=True)
    five = coupon(discount={"amount": 500}, combinable=True)
    ten = coupon(discount={"percent": "10"}, combinable=True)
    got = verdicts(USD, ship, five, ten)
    assert [(v.discount, v.coupon.applies_to) for v in got] == [
        (700, "shipping"), (500, "subtotal"), (1_000, "subtotal")]


def test_percents_compound_and_round_half_up_with_their_cap():
    ten = dict(discount={"percent": "10"}, combinable=True)
    got = verdicts(Order(1_005, 0, "USD"), coupon(**ten), coupon(**ten))
    assert [v.discount for v in got] == [101, 90]  # 100.5 -> 101; 10% of 904 = 90.4 -> 90
    capped = coupon(discount={"percent": "12.5", "max_amount": 300})
    assert verdicts(USD, capped)[0].discount == 300


def test_amounts_never_take_more_than_the_subtotal():
    big = dict(discount={"amount": 8_000}, combinable=True)
    got = verdicts(Order(10_000, 0, "USD"), coupon(**big), coupon(**big))
    assert [v.discount for v in got] == [8_000, 2_000]
    assert verdicts(Order(0, 0, "USD"), coupon(discount={"percent": "10"}))[0].discount == 0


def test_free_shipping_counts_once():
    ship = dict(discount={"free_shipping": True}, combinable=True)
    assert [v.discount for v in verdicts(USD, coupon(**ship), coupon(**ship))] == [700, 0]


def test_a_code_redeemed_after_others_adds_only_what_the_stack_allows():
    eight = coupon(discount={"amount": 800}, combinable=True)
    half = coupon(discount={"percent": "50"}, combinable=True)
    order = Order(1_000, 0, "USD")
    got = verdicts(order, half, standing=[(eight, 800)])[0]
    assert got.discount == 200  # stacked: 500 + min(800, 500) = 1,000 in all, 800 given
    alone = coupon(discount={"percent": "10"}, combinable=False)
    assert verdicts(order, alone, standing=[(eight, 800)])[0].reason == "not_combinable"
