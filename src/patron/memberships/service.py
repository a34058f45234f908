"""Membership use cases: subscribe, pay (renew), cancel, read, and the plans in force.

The state machine is ``domain``; this module loads a membership under a lock,
first writes down whatever became due by itself (a period that ended, a grace
period that ran out, as the sweep would), then applies the command and records
every transition. It never commits.

The plan's welcome bonus is credited when a membership is first activated, once
per member and plan: a member who lets a plan lapse and subscribes again is
welcomed back with benefits, not with a second bonus.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron.errors import Conflict, InvalidInput, NotFound
from patron.ledger.service import credit_points
from patron.members.service import require_member
from patron.memberships import domain, repository, schemas
from patron.memberships.domain import Membership, Payment, Step
from patron.program.service import Program, get_program
from patron.program.versions import get_version
from patron.program.membership import MembershipPlan

AUTO_ACTOR = "job:memberships"
"""Who a transition that happened by itself (a period end, a grace period) is recorded as."""


class MembershipNotFound(NotFound):
    code = "membership_not_found"
    title = "Membership not found"


class NoLiveMembership(Conflict):
    code = "no_live_membership"
    title = "Member has no live membership"


class UnknownPlan(InvalidInput):
    code = "unknown_plan"
    title = "Unknown membership plan"


class PlanWithdrawn(Conflict):
    code = "plan_withdrawn"
    title = "Membership plan withdrawn"


class MembershipExists(Conflict):
    code = "membership_exists"
    title = "Member already holds a live membership"


class PaymentReferenceReused(Conflict):
    code = "payment_reference_reused"
    title = "Payment reference already recorded for another payment"


def _plans(conn: Connection, program: Program) -> dict[str, MembershipPlan]:
    return {plan.id: plan for plan in get_version(conn, program).document.memberships}


def _plan_to_subscribe(conn: Connection, program: Program, plan_id: str) -> MembershipPlan:
    plans = _plans(conn, program)
    if plan_id not in plans:
        known = ", ".join(sorted(plans)) or "none: the program document has no memberships"
        raise UnknownPlan(f"no membership plan {plan_id!r} in program version "
                          f"{program.version} (plans: {known})", field="plan_id",
                          plan_id=plan_id)
    return plans[plan_id]


def _plan_to_renew(conn: Connection, program: Program, membership: Membership
                   ) -> MembershipPlan:
    plan = _plans(conn, program).get(membership.plan_id)
    if plan is None:
        raise PlanWithdrawn(f"plan {membership.plan_id!r} is no longer offered (program "
                            f"version {program.version}); the membership cannot be renewed",
                            membership_id=membership.id, plan_id=membership.plan_id)
    return plan


def _save(conn: Connection, program: Program, step: Step, actor: str,
          now: datetime) -> Membership:
    membership = step.membership
    if membership.id is None:
        membership = replace(membership,
                             id=repository.insert_membership(conn, program.id, membership, now))
    else:
        repository.update_membership(conn, membership, now)
    repository.insert_transitions(conn, program.id, membership.id, step.transitions, actor,
                                  now)
    return membership


def catch_up(conn: Connection, program: Program, row: Any, now: datetime) -> Step:
    """Write down the changes that came due by themselves for a locked membership row."""
    step = domain.advance(repository.to_domain(row), now, program.settings.zone)
    if step.membership != repository.to_domain(row):
        _save(conn, program, step, AUTO_ACTOR, now)
    return step


def _caught_up(conn: Connection, program: Program, row: Any, now: datetime) -> Membership:
    return catch_up(conn, program, row, now).membership


def _welcome(conn: Connection, program: Program, membership: Membership,
             plan: MembershipPlan, step: Step, actor: str, now: datetime) -> None:
    bonus = plan.benefits.welcome_bonus
    if not step.activated or bonus <= 0:
        return
    if repository.was_activated(conn, program.id, membership.member_id, plan.id,
                                other_than=membership.id):
        return
    credit_points(conn, program, membership.member_id, points=bonus,
                  reason=f"Welcome bonus: {plan.name} membership",
                  key=f"membership:{membership.id}:welcome", actor=actor, now=now)


def _payment(payment: schemas.PaymentIn | None) -> Payment | None:
    if payment is None:
        return None
    return Payment(payment.reference, payment.amount, payment.currency)


def _already_recorded(conn: Connection, program: Program, payment: Payment,
                      member_id: int | None = None, membership_id: int | None = None) -> Any:
    """The membership row a payment was already recorded for, or ``None``.

    The same reference for the same membership (or member) and amount is a retry;
    anything else reusing it is refused.
    """
    found = repository.transition_by_payment(conn, program.id, payment.reference)
    if found is None:
        return None
    row = repository.membership_row(conn, program.id, found.membership_id)
    if (found.payment_amount == payment.amount
            and (membership_id is None or row.id == membership_id)
            and (member_id is None or row.member_id == member_id)):
        return row
    raise PaymentReferenceReused(
        f"payment {payment.reference!r} was already recorded for membership {row.id}"
        + ("" if found.payment_amount == payment.amount
           else f" with amount {found.payment_amount}"),
        field="payment.reference", membership_id=row.id)


def _refuse_recorded(conn: Connection, program: Program, payment: Payment) -> None:
    found = repository.transition_by_payment(conn, program.id, payment.reference)
    if found is not None:
        raise PaymentReferenceReused(
            f"payment {payment.reference!r} was already recorded for membership "
            f"{found.membership_id}", field="payment.reference",
            membership_id=found.membership_id)


def subscribe(conn: Connection, program: Program, member_id: int,
              payload: schemas.MembershipCreate, *, actor: str,
              now: datetime) -> schemas.Membership:
    """Start a membership of ``payload.plan_id``; 409 while another one is live."""
    require_member(conn, program, member_id)
    plan = _plan_to_subscribe(conn, program, payload.plan_id)
    live = repository.live_membership_row(conn, program.id, member_id, lock=True)
    if live is not None and _caught_up(conn, program, live, now).live:
        raise MembershipExists(
            f"member {member_id} already holds membership {live.id} ({live.plan_id}, "
            f"{live.state}); cancel it or let it end before subscribing again",
            membership_id=live.id, member_id=member_id)
    payment = _payment(payload.payment)
    if payment is not None:
        _refuse_recorded(conn, program, payment)
    step = domain.subscribe(member_id, plan, program.settings.currency, payment, now,
                            program.settings.zone)
    membership = _save(conn, program, step, actor, now)
    _welcome(conn, program, membership, plan, step, actor, now)
    return get_membership(conn, program, membership.id, now)


def _pay(conn: Connection, program: Program, row: Any, payment: Payment, actor: str,
         now: datetime) -> schemas.Membership:
    current = _caught_up(conn, program, row, now)
    domain.require_payable(current)
    plan = _plan_to_renew(conn, program, current)
    step = domain.pay(current, plan, payment, now, program.settings.zone)
    membership = _save(conn, program, step, actor, now)
    _welcome(conn, program, membership, plan, step, actor, now)
    return get_membership(conn, program, membership.id, now)


def renew(conn: Connection, program: Program, membership_id: int,
          payment_in: schemas.PaymentIn, *, actor: str, now: datetime) -> schemas.Membership:
    """Record a payment for one membership: activates, renews or clears past_due.

    Sending the same payment again changes nothing and returns the membership.
    """
    row = repository.membership_row(conn, program.id, membership_id, lock=True)
    if row is None:
        raise MembershipNotFound(f"membership {membership_id} does not exist in this program",
                                 membership_id=membership_id)
    payment = _payment(payment_in)
    if _already_recorded(conn, program, payment, membership_id=row.id) is not None:
        return get_membership(conn, program, row.id, now)
    return _pay(conn, program, row, payment, actor, now)


def record_payment(conn: Connection, program: Program, member_id: int, reference: str,
                   amount: int, now: datetime, *, currency: str | None = None,
                   actor: str = "event") -> schemas.Membership:
    """A ``membership_payment`` from an integrator: pays the member's live membership.

    For event ingest. Idempotent by ``reference``: a payment already recorded
    returns the membership and changes nothing. 409 ``no_live_membership`` when
    there is nothing to pay for (a lapsed member subscribes again instead).
    """
    require_member(conn, program, member_id)
    payment = Payment(reference, amount, currency)
    if (done := _already_recorded(conn, program, payment, member_id=member_id)) is not None:
        return get_membership(conn, program, done.id, now)
    row = repository.live_membership_row(conn, program.id, member_id, lock=True)
    if row is None:
        raise NoLiveMembership(f"member {member_id} has no live membership to pay for; "
                               "subscribe to a plan instead", member_id=member_id)
    return _pay(conn, program, row, payment, actor, now)


def cancel(conn: Connection, program: Program, membership_id: int, reason: str | None, *,
           actor: str, now: datetime) -> schemas.Membership:
    """Stop renewing: benefits last until the end of the paid period."""
    row = repository.membership_row(conn, program.id, membership_id, lock=True)
    if row is None:
        raise MembershipNotFound(f"membership {membership_id} does not exist in this program",
                                 membership_id=membership_id)
    current = _caught_up(conn, program, row, now)
    _save(conn, program, domain.cancel(current, now, reason), actor, now)
    return get_membership(conn, program, membership_id, now)


def _out(row: Any, transitions: list[Any], now: datetime) -> schemas.Membership:
    membership = repository.to_domain(row)
    return schemas.Membership(
        id=row.id, member_id=row.member_id, plan_id=row.plan_id, state=membership.state,
        benefits_active=domain.entitled_at(membership, now), price=row.price,
        currency=row.currency, period_months=row.period_months, grace_days=row.grace_days,
        created_at=row.created_at, started_at=row.started_at,
        current_period_start=row.current_period_start,
        current_period_end=row.current_period_end, paid_until=row.paid_until,
        grace_until=membership.grace_until if membership.state == domain.State.PAST_DUE
        else None,
        cancelled_at=row.cancelled_at, lapsed_at=row.lapsed_at, ended_at=row.ended_at,
        transitions=[schemas.MembershipTransition.model_validate(t, from_attributes=True)
                     for t in transitions])


def get_membership(conn: Connection, program: Program, membership_id: int,
                   now: datetime) -> schemas.Membership:
    row = repository.membership_row(conn, program.id, membership_id)
    if row is None:
        raise MembershipNotFound(f"membership {membership_id} does not exist in this program",
                                 membership_id=membership_id)
    return _out(row, repository.transitions_of(conn, [row.id])[row.id], now)


def list_memberships(conn: Connection, program: Program, member_id: int,
                     now: datetime) -> schemas.MembershipList:
    """The member's memberships, current and past, newest first, with their history."""
    require_member(conn, program, member_id)
    rows = repository.membership_rows_of(conn, program.id, member_id)
    transitions = repository.transitions_of(conn, [row.id for row in rows])
    return schemas.MembershipList(items=[_out(row, transitions[row.id], now) for row in rows])


def active_plans(conn: Connection, program_id: int, member_ids: Iterable[int],
                 at: datetime) -> dict[int, MembershipPlan]:
    """The plan whose benefits each member enjoys at ``at``, from the current document.

    For tiers (a plan's ``tier_floor``) and earning (its ``earn_multiplier``).
    A membership counts from its activation through its paid time, and through
    the grace period of a late payment; cancelled ones until the paid time ends.
    Members without one are left out, and so are members whose plan is no longer
    in the current program version.
    """
    rows = sorted(repository.started_rows_of(conn, program_id, member_ids, at),
                  key=lambda row: row.id)
    entitled = {m.member_id: m for m in map(repository.to_domain, rows)
                if domain.entitled_at(m, at)}
    if not entitled:
        return {}
    plans = _plans(conn, get_program(conn, program_id))
    return {member_id: plans[m.plan_id] for member_id, m in entitled.items()
            if m.plan_id in plans}
