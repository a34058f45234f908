"""What a return takes from a wallet, without a database: held cashback first, then the
balance, then forgiven or owed by the program's setting."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from patron.wallet.domain import plan_clawback


def test_cashback_still_held_goes_back_before_any_spendable_money():
    plan = plan_clawback(5_00, held=5_00, balance=7_00, allow_negative=False)
    assert (plan.from_held, plan.from_balance, plan.owed, plan.forgiven) == (5_00, 0, 0, 0)


def test_what_was_spent_is_forgiven_or_owed():
    kept = plan_clawback(5_00, held=0, balance=1_00, allow_negative=False)
    assert (kept.from_held, kept.from_balance, kept.owed, kept.forgiven) == (0, 1_00, 0, 4_00)
    assert kept.taken == 1_00
    owed = plan_clawback(5_00, held=0, balance=1_00, allow_negative=True)
    assert (owed.from_balance, owed.owed, owed.forgiven, owed.taken) == (1_00, 4_00, 0, 5_00)


def test_a_wallet_already_below_zero_gives_nothing_more_unless_it_may_owe():
    plan = plan_clawback(2_00, held=50, balance=-3_00, allow_negative=False)
    assert (plan.from_held, plan.from_balance, plan.forgiven) == (50, 0, 1_50)


@given(st.integers(1, 10**6), st.integers(0, 10**6), st.integers(-10**6, 10**6), st.booleans())
def test_every_cent_is_taken_owed_or_forgiven_once(amount, held, balance, allow_negative):
    plan = plan_clawback(amount, held=held, balance=balance, allow_negative=allow_negative)
    assert plan.from_held + plan.from_balance + plan.owed + plan.forgiven == amount
    assert 0 <= plan.from_held <= held and 0 <= plan.from_balance <= max(balance, 0)
    assert plan.forgiven == 0 or not allow_negative
    assert plan.owed == 0 or allow_negative
