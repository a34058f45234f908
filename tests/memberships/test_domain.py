"""The membership state machine, without a database."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patron.memberships import domain
from patron.memberships.domain import (ALLOWED, MembershipAlreadyCancelled, MembershipEnded,
                                       MembershipNotActive, Payment, PaymentCurrencyMismatch,
                                       PaymentTooSmall, State, TransitionEvent)
from patron.program.membership import MembershipPlan

UTC = ZoneInfo("UTC")
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
PLUS = MembershipPlan(id="plus", name="Plus", price=4900, period_months=12, grace_days=14)
MONTHLY = MembershipPlan(id="monthly", name="Monthly", price=500, period_months=1,
                         grace_days=7)
FREE = MembershipPlan(id="free", name="Free", price=0, period_months=1, grace_days=0)


def paid(plan=PLUS, at=T0, ref="pay-1"):
    return domain.subscribe(7, plan, "USD", Payment(ref, plan.price), at, UTC).membership


def utc(*args):
    return datetime(*args, tzinfo=timezone.utc)


@pytest.mark.parametrize("start, months, zone, expected", [
    (utc(2026, 1, 31, 9), 1, "UTC", utc(2026, 2, 28, 9)),
    (utc(2028, 1, 31, 9), 1, "UTC", utc(2028, 2, 29, 9)),
    (utc(2026, 11, 15, 9), 3, "UTC", utc(2027, 2, 15, 9)),
    (utc(2026, 3, 2, 12), 12, "UTC", utc(2027, 3, 2, 12)),
    # 1 March 00:30 in Paris is still 28 February in UTC: months count on the program's calendar
    (utc(2026, 2, 28, 23, 30), 1, "Europe/Paris", utc(2026, 3, 31, 22, 30)),
    # 11:00 in Paris in winter (10:00 UTC) stays 11:00 in Paris in summer (09:00 UTC)
    (utc(2026, 1, 15, 10), 6, "Europe/Paris", utc(2026, 7, 15, 9)),
])
def test_add_months_follows_the_programs_calendar(start, months, zone, expected):
    assert domain.add_months(start, months, ZoneInfo(zone)) == expected


def test_renewals_keep_the_day_the_membership_started_on():
    start = utc(2026, 1, 31, 9)
    feb = domain.add_months(start, 1, UTC, anchor=start)
    assert feb == utc(2026, 2, 28, 9)
    assert domain.add_months(feb, 1, UTC, anchor=start) == utc(2026, 3, 31, 9)


def test_subscribe_with_payment_is_active_for_one_period():
    step = domain.subscribe(7, PLUS, "USD", Payment("pay-1", 4900), T0, UTC)
    m = step.membership
    assert (m.state, m.started_at, m.paid_until) == (State.ACTIVE, T0, utc(2027, 3, 2, 12))
    assert (m.current_period_start, m.current_period_end) == (T0, m.paid_until)
    [t] = step.transitions
    assert (t.event, t.from_state, t.to_state, t.payment) == (
        TransitionEvent.ACTIVATED, None, State.ACTIVE, Payment("pay-1", 4900))
    assert step.activated


def test_subscribe_without_payment_waits_unless_the_plan_is_free():
    waiting = domain.subscribe(7, PLUS, "USD", None, T0, UTC)
    assert waiting.membership.state == State.PENDING_PAYMENT
    assert waiting.membership.paid_until is None and not waiting.activated
    assert waiting.membership.next_review_at == T0 + timedelta(days=14)
    free = domain.subscribe(7, FREE, "USD", None, T0, UTC)
    assert free.membership.state == State.ACTIVE and free.activated


def test_a_payment_must_cover_the_price_in_the_programs_currency():
    with pytest.raises(PaymentTooSmall):
        domain.subscribe(7, PLUS, "USD", Payment("p", 4899), T0, UTC)
    with pytest.raises(PaymentCurrencyMismatch):
        domain.subscribe(7, PLUS, "USD", Payment("p", 4900, "EUR"), T0, UTC)
    assert domain.subscribe(7, PLUS, "USD", Payment("p", 4900, "USD"), T0, UTC).activated


def test_renewal_extends_from_the_paid_time_not_from_the_payment_day():
    m = paid()
    early = domain.pay(m, PLUS, Payment("pay-2", 4900), T0 + timedelta(days=100), UTC)
    assert early.membership.paid_until == utc(2028, 3, 2, 12)
    assert early.membership.current_period_end == utc(2027, 3, 2, 12)  # next period prepaid
    [t] = early.transitions
    assert (t.event, t.from_state, t.to_state) == (TransitionEvent.RENEWED, State.ACTIVE,
                                                   State.ACTIVE)


def test_paying_late_inside_grace_buys_no_free_days():
    m = domain.advance(paid(), utc(2027, 3, 5), UTC).membership
    assert m.state == State.PAST_DUE
    step = domain.pay(m, PLUS, Payment("pay-2", 4900), utc(2027, 3, 10), UTC)
    assert step.membership.state == State.ACTIVE
    assert step.membership.paid_until == utc(2028, 3, 2, 12)
    assert step.membership.current_period_end == utc(2028, 3, 2, 12)
    assert step.transitions[0].from_state == State.PAST_DUE


def test_paying_a_cancelled_membership_withdraws_the_cancellation():
    cancelled = domain.cancel(paid(), T0 + timedelta(days=5)).membership
    assert cancelled.state == State.CANCELLED and cancelled.cancelled_at is not None
    renewed = domain.pay(cancelled, PLUS, Payment("pay-2", 4900), T0 + timedelta(days=6), UTC)
    assert renewed.membership.state == State.ACTIVE
    assert renewed.membership.cancelled_at is None


def test_payment_takes_the_plans_current_terms():
    m = paid()
    dearer = PLUS.model_copy(update={"price": 5900, "grace_days": 30})
    with pytest.raises(PaymentTooSmall):
        domain.pay(m, dearer, Payment("pay-2", 4900), T0, UTC)
    renewed = domain.pay(m, dearer, Payment("pay-2", 5900), T0, UTC).membership
    assert (renewed.price, renewed.grace_days) == (5900, 30)


@pytest.mark.parametrize("state, command, error", [
    (State.CANCELLED, "cancel", MembershipAlreadyCancelled),
    (State.LAPSED, "cancel", MembershipNotActive),
    (State.ENDED, "cancel", MembershipNotActive),
    (State.LAPSED, "pay", MembershipEnded),
    (State.ENDED, "pay", MembershipEnded),
])
def test_invalid_commands_are_conflicts_with_a_clear_code(state, command, error):
    m = paid()
    m = domain.Membership(**{**m.__dict__, "state": state, "lapsed_at": T0, "ended_at": T0})
    with pytest.raises(error) as raised:
        if command == "cancel":
            domain.cancel(m, T0)
        else:
            domain.pay(m, PLUS, Payment("pay-2", 4900), T0, UTC)
    assert raised.value.status == 409
    assert raised.value.code in {"membership_already_cancelled", "membership_not_active",
                                 "membership_ended"}


@pytest.mark.parametrize("start", [State.PENDING_PAYMENT, State.PAST_DUE])
def test_cancelling_what_is_not_paid_for_ends_it_at_once(start):
    m = (domain.subscribe(7, PLUS, "USD", None, T0, UTC).membership
         if start == State.PENDING_PAYMENT
         else domain.advance(paid(), utc(2027, 3, 3), UTC).membership)
    assert m.state == start
    now = utc(2027, 3, 4)
    ended = domain.cancel(m, now).membership
    assert (ended.state, ended.ended_at) == (State.ENDED, now)
    assert ended.next_review_at is None


def test_a_late_sweep_records_each_change_when_it_was_due():
    step = domain.advance(paid(), utc(2027, 6, 1), UTC)
    assert [(t.from_state, t.to_state, t.at) for t in step.transitions] == [
        (State.ACTIVE, State.PAST_DUE, utc(2027, 3, 2, 12)),
        (State.PAST_DUE, State.LAPSED, utc(2027, 3, 16, 12))]
    assert step.membership.lapsed_at == utc(2027, 3, 16, 12)
    assert domain.advance(step.membership, utc(2027, 6, 1), UTC).transitions == ()


def test_nothing_happens_before_it_is_due():
    m = paid()
    assert domain.advance(m, utc(2027, 3, 2, 11, 59), UTC).membership == m
    past_due = domain.advance(m, utc(2027, 3, 2, 12), UTC).membership
    assert past_due.state == State.PAST_DUE
    assert domain.advance(past_due, utc(2027, 3, 16, 11), UTC).membership == past_due


def test_cancelled_ends_when_the_paid_time_runs_out_including_prepaid_periods():
    m = domain.pay(paid(), PLUS, Payment("pay-2", 4900), T0, UTC).membership
    cancelled = domain.cancel(m, T0 + timedelta(days=1)).membership
    middle = domain.advance(cancelled, utc(2027, 6, 1), UTC)
    assert middle.transitions == ()
    assert middle.membership.current_period_start == utc(2027, 3, 2, 12)
    assert middle.membership.state == State.CANCELLED
    ended = domain.advance(middle.membership, utc(2028, 3, 2, 12), UTC)
    [t] = ended.transitions
    assert (t.to_state, t.at) == (State.ENDED, utc(2028, 3, 2, 12))


def test_a_free_plan_renews_itself_until_cancelled():
    m = domain.subscribe(7, FREE, "USD", None, T0, UTC).membership
    step = domain.advance(m, T0 + timedelta(days=65), UTC)
    assert [t.event for t in step.transitions] == [TransitionEvent.RENEWED] * 2
    assert step.membership.state == State.ACTIVE
    assert step.membership.paid_until == utc(2026, 6, 2, 12)


def test_an_unpaid_subscription_lapses_after_grace():
    m = domain.subscribe(7, MONTHLY, "USD", None, T0, UTC).membership
    step = domain.advance(m, T0 + timedelta(days=7), UTC)
    assert step.membership.state == State.LAPSED
    assert step.transitions[0].from_state == State.PENDING_PAYMENT


@pytest.mark.parametrize("at, expected", [
    (T0 - timedelta(seconds=1), False),
    (T0, True),
    (utc(2027, 3, 2, 11), True),
    (utc(2027, 3, 10), True),    # past due, inside the 14 days of grace
    (utc(2027, 3, 16, 12), False),
])
def test_benefits_apply_from_activation_through_grace(at, expected):
    m = domain.advance(paid(), utc(2027, 4, 1), UTC).membership
    assert m.state == State.LAPSED
    assert domain.entitled_at(m, at) is expected


def test_benefits_of_a_cancelled_membership_stop_with_the_paid_time():
    m = domain.cancel(paid(), T0 + timedelta(days=3)).membership
    assert domain.entitled_at(m, utc(2027, 3, 2, 11))
    assert not domain.entitled_at(m, utc(2027, 3, 2, 12))
    assert not domain.entitled_at(domain.subscribe(7, PLUS, "USD", None, T0, UTC).membership,
                                  T0)


# ---- every reachable history obeys the machine ---------------------------------------

commands = st.lists(st.tuples(
    st.sampled_from(["pay", "cancel", "wait"]),
    st.integers(min_value=0, max_value=500)), max_size=12)


@settings(max_examples=300, deadline=None)
@given(plan=st.sampled_from([PLUS, MONTHLY, FREE]), pay_first=st.booleans(), script=commands)
def test_any_history_follows_the_allowed_transitions(plan, pay_first, script):
    now = T0
    first = domain.subscribe(7, plan, "USD", Payment("p0", plan.price) if pay_first else None,
                             now, UTC)
    history = list(first.transitions)
    m = first.membership
    for n, (command, days) in enumerate(script, start=1):
        now += timedelta(days=days)
        caught_up = domain.advance(m, now, UTC)
        assert domain.advance(caught_up.membership, now, UTC).transitions == ()
        assert all(t.at <= now for t in caught_up.transitions)
        history += caught_up.transitions
        before = caught_up.membership
        try:
            if command == "pay":
                step = domain.pay(before, plan, Payment(f"p{n}", plan.price), now, UTC)
            elif command == "cancel":
                step = domain.cancel(before, now)
            else:
                step = domain.Step(before)
        except (MembershipEnded, MembershipNotActive, MembershipAlreadyCancelled):
            assert before.state in domain.FINAL or before.state == State.CANCELLED
            step = domain.Step(before)
        history += step.transitions
        m = step.membership
        if before.paid_until and m.paid_until:
            assert m.paid_until >= before.paid_until
        assert (m.next_review_at is None) == (m.state in domain.FINAL)
        assert m.live == (m.state not in domain.FINAL)
        if m.state == State.PENDING_PAYMENT:
            assert not domain.entitled_at(m, now)
        if m.state in (State.ACTIVE, State.CANCELLED):
            assert domain.entitled_at(m, now)
    assert history[0].from_state is None
    for earlier, later in zip(history, history[1:]):
        assert later.from_state == earlier.to_state
        assert later.at >= earlier.at
    assert all((t.from_state, t.to_state) in ALLOWED for t in history)
