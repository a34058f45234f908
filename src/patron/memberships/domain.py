"""Paid memberships as plain data and pure functions: the state machine.

A membership is one member's subscription to one plan of the program document.
Its states, and every move between them (nothing else is allowed; see ``ALLOWED``)::

    from             on                                           to
    ---------------  -------------------------------------------  -----------------------
    (new)            subscribe with a payment, or a free plan     active
    (new)            subscribe without a payment                  pending_payment
    pending_payment  payment                                      active
    pending_payment  cancel                                       ended
    pending_payment  grace_days after subscribing, still unpaid   lapsed
    active           payment (renewal)                            active, paid_until + period
    active           cancel                                       cancelled
    active           paid period ends unpaid                      past_due
    active           paid period ends, free plan                  active, renewed
    cancelled        payment                                      active (cancel withdrawn)
    cancelled        paid period ends                             ended
    past_due         payment                                      active
    past_due         cancel                                       ended
    past_due         grace_days after the paid period, unpaid     lapsed

Any other command raises a 409: ``membership_ended`` (paying for a lapsed or
ended membership), ``membership_not_active`` (cancelling one),
``membership_already_cancelled`` (cancelling twice).

``lapsed`` and ``ended`` are final: a member who comes back subscribes again,
which makes a new membership. ``pending_payment``, ``active``, ``cancelled`` and
``past_due`` are *live*; a member holds at most one live membership.

Why the rules are as they are:

- A renewal extends ``paid_until`` from where the paid time ends, never from the
  day of payment, so paying late inside the grace period buys no free days and
  paying early loses none. Months are added on the calendar of the program's
  timezone and keep the day of the month the membership started on (31 Jan →
  28 Feb → 31 Mar), so periods do not drift.
- ``past_due`` keeps the benefits for the plan's ``grace_days``: a card that
  failed once should not strip a paying member of their status overnight.
- A cancellation is effective at the end of what was paid for; paying again
  before that withdraws it.
- A free plan (price 0) renews itself at each period end until cancelled.
- The terms (price, period, grace) are copied onto the membership when it is
  paid for, so what a member bought does not change when the plan is edited in a
  later program version; a renewal takes the plan's terms as they are then.

Automatic transitions (a period ending, a grace period running out) happen at
fixed moments; :func:`advance` applies every one that is due by ``now`` with the
moment it was due, so a sweep that runs late writes the same history as one
that ran on time, and running it again finds nothing to do.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from patron.errors import Conflict, InvalidInput
from patron.program.membership import MembershipPlan


class MembershipState(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    ACTIVE = "active"
    CANCELLED = "cancelled"
    PAST_DUE = "past_due"
    LAPSED = "lapsed"
    ENDED = "ended"


State = MembershipState
LIVE = frozenset({State.PENDING_PAYMENT, State.ACTIVE, State.CANCELLED, State.PAST_DUE})
FINAL = frozenset({State.LAPSED, State.ENDED})

ALLOWED: frozenset[tuple[State | None, State]] = frozenset({
    (None, State.PENDING_PAYMENT), (None, State.ACTIVE),
    (State.PENDING_PAYMENT, State.ACTIVE), (State.PENDING_PAYMENT, State.ENDED),
    (State.PENDING_PAYMENT, State.LAPSED),
    (State.ACTIVE, State.ACTIVE), (State.ACTIVE, State.CANCELLED),
    (State.ACTIVE, State.PAST_DUE),
    (State.CANCELLED, State.ACTIVE), (State.CANCELLED, State.ENDED),
    (State.PAST_DUE, State.ACTIVE), (State.PAST_DUE, State.LAPSED),
    (State.PAST_DUE, State.ENDED),
})
"""Every (from, to) pair a transition may record; ``None``: the subscription itself."""


class TransitionEvent(StrEnum):
    """What happened, in the past tense, as recorded on each transition."""

    SUBSCRIBED = "subscribed"
    ACTIVATED = "activated"
    RENEWED = "renewed"
    CANCELLED = "cancelled"
    FELL_PAST_DUE = "fell_past_due"
    LAPSED = "lapsed"
    ENDED = "ended"


class MembershipNotActive(Conflict):
    code = "membership_not_active"
    title = "Membership is not active"


class MembershipAlreadyCancelled(Conflict):
    code = "membership_already_cancelled"
    title = "Membership already cancelled"


class MembershipEnded(Conflict):
    code = "membership_ended"
    title = "Membership has ended"


class PaymentTooSmall(InvalidInput):
    code = "payment_too_small"
    title = "Payment does not cover the plan price"


class PaymentCurrencyMismatch(InvalidInput):
    code = "payment_currency_mismatch"
    title = "Payment in another currency"


@dataclass(frozen=True)
class Payment:
    """A payment taken elsewhere (a shop, a payment provider) that Patron records."""

    reference: str
    amount: int
    currency: str | None = None


@dataclass(frozen=True)
class Membership:
    id: int | None
    member_id: int
    plan_id: str
    state: State
    price: int
    currency: str
    period_months: int
    grace_days: int
    created_at: datetime
    started_at: datetime | None = None
    """First activation; the day of the month periods keep."""
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    paid_until: datetime | None = None
    cancelled_at: datetime | None = None
    lapsed_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def live(self) -> bool:
        return self.state in LIVE

    @property
    def grace_until(self) -> datetime | None:
        if self.paid_until is None:
            return None
        return self.paid_until + timedelta(days=self.grace_days)

    @property
    def next_review_at(self) -> datetime | None:
        """The next moment the membership changes by itself (``None``: it never will)."""
        if self.state == State.PENDING_PAYMENT:
            return self.created_at + timedelta(days=self.grace_days)
        if self.state in (State.ACTIVE, State.CANCELLED):
            return self.current_period_end
        if self.state == State.PAST_DUE:
            return self.grace_until
        return None


@dataclass(frozen=True)
class Transition:
    event: TransitionEvent
    from_state: State | None
    to_state: State
    at: datetime
    reason: str
    payment: Payment | None = None


@dataclass(frozen=True)
class Step:
    """A membership after a command, and the transitions that got it there."""

    membership: Membership
    transitions: tuple[Transition, ...] = ()

    def then(self, other: Step) -> Step:
        return Step(other.membership, self.transitions + other.transitions)

    @property
    def activated(self) -> bool:
        return any(t.event == TransitionEvent.ACTIVATED for t in self.transitions)


def add_months(at: datetime, months: int, zone: ZoneInfo,
               anchor: datetime | None = None) -> datetime:
    """``at`` plus ``months`` calendar months in ``zone``, on the anchor's day of the
    month where that month has it (else its last day), at the same wall-clock time."""
    local = at.astimezone(zone)
    day = (anchor or at).astimezone(zone).day
    index = local.year * 12 + local.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    day = min(day, calendar.monthrange(year, month)[1])
    moved = datetime.combine(date(year, month, day), local.time(), tzinfo=zone)
    return moved.astimezone(at.tzinfo)


def _terms(membership: Membership, plan: MembershipPlan) -> Membership:
    return replace(membership, plan_id=plan.id, price=plan.price,
                   period_months=plan.period_months, grace_days=plan.grace_days)


def check_payment(plan: MembershipPlan, currency: str, payment: Payment) -> None:
    if payment.currency is not None and payment.currency != currency:
        raise PaymentCurrencyMismatch(
            f"the program counts in {currency}; a payment in {payment.currency} cannot be "
            "recorded", field="payment.currency")
    if payment.amount < plan.price:
        raise PaymentTooSmall(
            f"plan {plan.id!r} costs {plan.price} (minor units of {currency}) per period; "
            f"a payment of {payment.amount} does not cover it", field="payment.amount",
            price=plan.price)


def subscribe(member_id: int, plan: MembershipPlan, currency: str, payment: Payment | None,
              now: datetime, zone: ZoneInfo) -> Step:
    """A new membership: active when paid (or free), otherwise waiting for payment."""
    if payment is not None:
        check_payment(plan, currency, payment)
    new = Membership(None, member_id, plan.id, State.PENDING_PAYMENT, plan.price, currency,
                     plan.period_months, plan.grace_days, created_at=now)
    if payment is None and plan.price > 0:
        return Step(new, (Transition(TransitionEvent.SUBSCRIBED, None, State.PENDING_PAYMENT,
                                     now, f"subscribed to {plan.id!r}; waiting for payment"),))
    return _activate(new, plan, payment, now, zone, from_state=None)


def _activate(membership: Membership, plan: MembershipPlan, payment: Payment | None,
              now: datetime, zone: ZoneInfo, *, from_state: State | None) -> Step:
    end = add_months(now, plan.period_months, zone)
    active = replace(_terms(membership, plan), state=State.ACTIVE, started_at=now,
                     current_period_start=now, current_period_end=end, paid_until=end)
    reason = (f"paid {payment.amount} ({payment.reference})" if payment
              else f"plan {plan.id!r} is free")
    return Step(active, (Transition(TransitionEvent.ACTIVATED, from_state, State.ACTIVE, now,
                                    f"activated: {reason}", payment),))


def require_payable(membership: Membership) -> None:
    """A lapsed or ended membership takes no more payments: the member subscribes again."""
    if membership.state in FINAL:
        since = (membership.lapsed_at or membership.ended_at).isoformat()
        raise MembershipEnded(
            f"membership {membership.id} is {membership.state.value} since {since}; "
            "subscribe again instead", membership_id=membership.id,
            state=membership.state.value)


def pay(membership: Membership, plan: MembershipPlan, payment: Payment, now: datetime,
        zone: ZoneInfo) -> Step:
    """Record a payment: activates, renews, withdraws a cancellation or clears past_due.

    Call :func:`advance` first, so a membership whose grace ran out is seen as lapsed.
    """
    require_payable(membership)
    check_payment(plan, membership.currency, payment)
    state = membership.state
    if state == State.PENDING_PAYMENT:
        return _activate(membership, plan, payment, now, zone, from_state=state)
    paid_until = add_months(membership.paid_until, plan.period_months, zone,
                            anchor=membership.started_at)
    renewed = replace(_terms(membership, plan), state=State.ACTIVE, paid_until=paid_until,
                      cancelled_at=None)
    if state == State.PAST_DUE:
        renewed = replace(renewed, current_period_end=paid_until)
    reason = {State.ACTIVE: "renewed", State.CANCELLED: "renewed; cancellation withdrawn",
              State.PAST_DUE: "overdue period paid"}[state]
    return Step(renewed, (Transition(
        TransitionEvent.RENEWED, state, State.ACTIVE, now,
        f"{reason}: paid {payment.amount} ({payment.reference}), paid until "
        f"{paid_until.isoformat()}", payment),))


def cancel(membership: Membership, now: datetime, reason: str | None = None) -> Step:
    """Stop renewing: benefits last until ``paid_until``; unpaid memberships end now."""
    state = membership.state
    why = f": {reason}" if reason else ""
    if state == State.CANCELLED:
        raise MembershipAlreadyCancelled(
            f"membership {membership.id} is already cancelled; it ends at "
            f"{membership.paid_until}", membership_id=membership.id, state=state.value)
    if state in FINAL:
        raise MembershipNotActive(f"membership {membership.id} is {state.value}; there is "
                                  "nothing to cancel", membership_id=membership.id,
                                  state=state.value)
    if state == State.ACTIVE:
        cancelled = replace(membership, state=State.CANCELLED, cancelled_at=now)
        return Step(cancelled, (Transition(
            TransitionEvent.CANCELLED, state, State.CANCELLED, now,
            f"cancelled{why}; benefits last until {membership.paid_until.isoformat()}"),))
    ended = replace(membership, state=State.ENDED, cancelled_at=now, ended_at=now)
    return Step(ended, (Transition(TransitionEvent.ENDED, state, State.ENDED, now,
                                   f"cancelled while {state.value}{why}"),))


def _next_period(membership: Membership, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = membership.current_period_end
    end = add_months(start, membership.period_months, zone, anchor=membership.started_at)
    return start, end


def _advance_once(membership: Membership, now: datetime, zone: ZoneInfo) -> Step | None:
    """The first automatic change due by ``now``, or ``None``."""
    due = membership.next_review_at
    if due is None or due > now:
        return None
    state = membership.state
    if state == State.PENDING_PAYMENT:
        return Step(replace(membership, state=State.LAPSED, lapsed_at=due), (Transition(
            TransitionEvent.LAPSED, state, State.LAPSED, due,
            f"not paid within {membership.grace_days} days of subscribing"),))
    if state == State.PAST_DUE:
        return Step(replace(membership, state=State.LAPSED, lapsed_at=due), (Transition(
            TransitionEvent.LAPSED, state, State.LAPSED, due,
            f"unpaid {membership.grace_days} days after the paid period ended"),))
    start, end = _next_period(membership, zone)
    if membership.paid_until > start:  # paid in advance: the next period begins
        return Step(replace(membership, current_period_start=start,
                            current_period_end=min(end, membership.paid_until)))
    if state == State.CANCELLED:
        return Step(replace(membership, state=State.ENDED, ended_at=due), (Transition(
            TransitionEvent.ENDED, state, State.ENDED, due,
            "cancelled; the paid period ended"),))
    if membership.price == 0:
        renewed = replace(membership, current_period_start=start, current_period_end=end,
                          paid_until=end)
        return Step(renewed, (Transition(TransitionEvent.RENEWED, state, State.ACTIVE, due,
                                         "free plan renewed itself"),))
    past_due = replace(membership, state=State.PAST_DUE, current_period_start=start,
                       current_period_end=end)
    return Step(past_due, (Transition(
        TransitionEvent.FELL_PAST_DUE, state, State.PAST_DUE, due,
        f"the paid period ended unpaid; benefits kept until "
        f"{past_due.grace_until.isoformat()}"),))


def advance(membership: Membership, now: datetime, zone: ZoneInfo) -> Step:
    """Apply every automatic change due by ``now``, each at the moment it was due."""
    step = Step(membership)
    while (more := _advance_once(step.membership, now, zone)) is not None:
        step = step.then(more)
    return step


def entitled_until(membership: Membership) -> datetime | None:
    """When the benefits stop, as things stand (``None``: not while it renews itself)."""
    state = membership.state
    if state == State.ENDED:
        return membership.ended_at
    if state == State.LAPSED:
        return membership.lapsed_at
    if state == State.CANCELLED:
        return membership.paid_until
    if state == State.ACTIVE and membership.price == 0:
        return None
    return membership.grace_until


def entitled_at(membership: Membership, at: datetime) -> bool:
    """Whether the plan's benefits apply at ``at``: from activation, through the paid
    time, and through the grace period of a payment that is late."""
    if membership.started_at is None or at < membership.started_at:
        return False
    until = entitled_until(membership)
    return until is None or at < until
