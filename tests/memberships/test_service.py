"""Memberships on SQLite and PostgreSQL: subscribe, renew, cancel, lapse, the sweep and
the plans other domains read."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from patron.errors import PatronError
from patron.memberships import jobs
from patron.memberships.domain import MembershipEnded, PaymentTooSmall
from patron.memberships.service import (MembershipExists, NoLiveMembership,
                                        PaymentReferenceReused, PlanWithdrawn, UnknownPlan,
                                        record_payment)
from tests.memberships.factories import PLANS, Club

T1 = datetime(2027, 3, 2, 12, 0, tzinfo=timezone.utc)  # a year after the fixtures' T0


def events(membership) -> list[tuple[str | None, str, datetime]]:
    return [(t.from_state, t.to_state, t.at) for t in membership.transitions]


def test_subscribe_activates_and_credits_the_welcome_bonus_once(database, clock):
    club = Club(database, clock)
    member = club.member()
    m = club.subscribe(member)
    assert (m.state, m.started_at, m.paid_until, m.price) == ("active", clock.now(), T1, 4900)
    assert m.benefits_active
    assert events(m) == [(None, "active", clock.now())]
    assert m.transitions[0].payment_reference and m.transitions[0].payment_amount == 4900
    assert club.points(member) == 500
    with pytest.raises(MembershipExists) as second:
        club.subscribe(member, "monthly")
    assert second.value.extra["membership_id"] == m.id
    assert club.points(member) == 500


def test_no_welcome_bonus_for_coming_back_to_the_same_plan(database, clock):
    club = Club(database, clock)
    member = club.member()
    first = club.subscribe(member)
    club.cancel(first.id)
    clock.set(T1)
    assert club.sweep()["ended"] == 1
    again = club.subscribe(member)
    assert again.id != first.id and again.state == "active"
    assert club.points(member) == 500


def test_renew_extends_the_paid_period_and_a_retried_payment_changes_nothing(database, clock):
    club = Club(database, clock)
    m = club.subscribe(club.member())
    clock.advance(days=300)
    payment = club.payment()
    renewed = club.renew(m.id, payment)
    assert renewed.paid_until == T1.replace(year=2028)
    assert renewed.current_period_end == T1  # the next period is prepaid, not started
    again = club.renew(m.id, payment)
    assert again.paid_until == renewed.paid_until
    assert len(again.transitions) == 2
    with pytest.raises(PaymentReferenceReused):
        club.renew(m.id, payment.model_copy(update={"amount": 5000}))
    with pytest.raises(PaymentTooSmall):
        club.renew(m.id, club.payment(amount=100))


def test_cancel_keeps_benefits_until_the_paid_period_ends_then_ends(database, clock):
    club = Club(database, clock)
    member = club.member()
    m = club.subscribe(member)
    clock.advance(days=30)
    cancelled = club.cancel(m.id, "moving abroad")
    assert cancelled.state == "cancelled" and cancelled.benefits_active
    assert "moving abroad" in cancelled.transitions[-1].reason
    clock.set(T1 - timedelta(seconds=1))
    assert club.sweep()["ended"] == 0
    assert club.get(m.id).state == "cancelled"
    assert club.plans_at([member], clock.now())[member].id == "plus"
    clock.set(T1 + timedelta(hours=5))
    assert club.sweep() == {"memberships": 1, "past_due": 0, "lapsed": 0, "ended": 1,
                            "renewed": 0}
    ended = club.get(m.id)
    assert (ended.state, ended.ended_at, ended.benefits_active) == ("ended", T1, False)
    assert events(ended)[-1] == ("cancelled", "ended", T1)
    assert ended.transitions[-1].actor == "job:memberships"
    assert club.plans_at([member], clock.now()) == {}


def test_unpaid_period_goes_past_due_then_lapses_after_grace(database, clock):
    club = Club(database, clock)
    member = club.member()
    m = club.subscribe(member)
    clock.set(T1 + timedelta(days=1))
    assert club.sweep()["past_due"] == 1
    past_due = club.get(m.id)
    assert past_due.state == "past_due" and past_due.benefits_active
    assert past_due.grace_until == T1 + timedelta(days=14)
    assert club.plans_at([member], clock.now())[member].id == "plus"
    clock.set(T1 + timedelta(days=14))
    assert club.sweep() == {"memberships": 1, "past_due": 0, "lapsed": 1, "ended": 0,
                            "renewed": 0}
    assert club.sweep() == {"memberships": 0, "past_due": 0, "lapsed": 0, "ended": 0,
                            "renewed": 0}
    lapsed = club.get(m.id)
    assert (lapsed.state, lapsed.lapsed_at, lapsed.benefits_active) == ("lapsed",
                                                                       T1 + timedelta(days=14),
                                                                       False)
    assert [(f, t) for f, t, _ in events(lapsed)] == [(None, "active"),
                                                     ("active", "past_due"),
                                                     ("past_due", "lapsed")]
    with pytest.raises(MembershipEnded):
        club.renew(m.id)
    assert club.subscribe(member).state == "active"  # coming back is a new membership


def test_paying_inside_grace_restores_active_without_free_days(database, clock):
    club = Club(database, clock)
    m = club.subscribe(club.member())
    clock.set(T1 + timedelta(days=5))  # the sweep has not run: the payment catches up first
    paid = club.renew(m.id)
    assert paid.state == "active" and paid.paid_until == T1.replace(year=2028)
    assert [(f, t) for f, t, _ in events(paid)] == [(None, "active"), ("active", "past_due"),
                                                   ("past_due", "active")]
    assert paid.transitions[1].at == T1 and paid.transitions[1].actor == "job:memberships"


def test_a_late_sweep_writes_the_history_as_it_happened(database, clock):
    club = Club(database, clock)
    m = club.subscribe(club.member(), "monthly")
    clock.set(datetime(2026, 6, 1, tzinfo=timezone.utc))
    assert club.sweep()["lapsed"] == 1
    lapsed = club.get(m.id)
    assert events(lapsed)[1:] == [
        ("active", "past_due", datetime(2026, 4, 2, 12, tzinfo=timezone.utc)),
        ("past_due", "lapsed", datetime(2026, 4, 9, 12, tzinfo=timezone.utc))]


def test_pending_payment_is_activated_by_a_payment_event(database, clock):
    club = Club(database, clock)
    member = club.member()
    pending = club.subscribe(member, paid=False)
    assert pending.state == "pending_payment" and not pending.benefits_active
    assert club.points(member) == 0
    assert club.plans_at([member], clock.now()) == {}
    clock.advance(days=2)
    paid = database.transact(lambda conn: record_payment(
        conn, club.program, member, "psp-1", 4900, clock.now()))
    assert paid.id == pending.id and paid.state == "active"
    assert paid.started_at == clock.now() and paid.transitions[-1].actor == "event"
    assert club.points(member) == 500
    again = database.transact(lambda conn: record_payment(
        conn, club.program, member, "psp-1", 4900, clock.now()))
    assert again.paid_until == paid.paid_until and club.points(member) == 500
    stranger = club.member()
    with pytest.raises(PaymentReferenceReused):
        database.transact(lambda conn: record_payment(
            conn, club.program, stranger, "psp-1", 4900, clock.now()))
    with pytest.raises(NoLiveMembership):
        database.transact(lambda conn: record_payment(
            conn, club.program, stranger, "psp-2", 4900, clock.now()))


def test_an_unpaid_subscription_lapses(database, clock):
    club = Club(database, clock)
    m = club.subscribe(club.member(), "monthly", paid=False)
    clock.advance(days=7)
    assert club.sweep()["lapsed"] == 1
    assert club.get(m.id).state == "lapsed"


def test_a_free_plan_renews_itself(database, clock):
    club = Club(database, clock)
    m = club.subscribe(club.member(), "free", paid=False)
    clock.advance(days=62)
    assert club.sweep()["renewed"] == 2
    renewed = club.get(m.id)
    assert renewed.state == "active" and renewed.paid_until > clock.now()


def test_unknown_plan_and_withdrawn_plan(database, clock):
    club = Club(database, clock)
    member = club.member()
    with pytest.raises(UnknownPlan) as unknown:
        club.subscribe(member, "gold")
    assert (unknown.value.status, unknown.value.code) == (422, "unknown_plan")
    m = club.subscribe(member, "monthly")
    club.program = club.publish(club.program, [p for p in PLANS if p["id"] != "monthly"])
    with pytest.raises(PlanWithdrawn):
        club.renew(m.id, club.payment(500))
    assert club.plans_at([member], clock.now()) == {}


def test_active_plans_follow_each_members_paid_time(database, clock):
    club = Club(database, clock)
    plus, monthly, pending, nobody = (club.member() for _ in range(4))
    club.subscribe(plus)
    club.subscribe(monthly, "monthly")
    club.subscribe(pending, paid=False)
    now = clock.now()
    plans = club.plans_at([plus, monthly, pending, nobody], now)
    assert {m: p.id for m, p in plans.items()} == {plus: "plus", monthly: "monthly"}
    assert plans[plus].benefits.welcome_bonus == 500
    assert club.plans_at([plus], now - timedelta(seconds=1)) == {}
    later = club.plans_at([plus, monthly], datetime(2026, 4, 8, tzinfo=timezone.utc))
    assert set(later) == {plus, monthly}  # monthly is past due but inside its 7 days' grace
    after_grace = club.plans_at([plus, monthly], datetime(2026, 4, 10, tzinfo=timezone.utc))
    assert set(after_grace) == {plus}


def test_two_simultaneous_subscriptions_make_one_membership(database, clock):
    club = Club(database, clock)
    member = club.member()
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def subscribe() -> None:
        barrier.wait()
        try:
            club.subscribe(member)
            outcomes.append("ok")
        except PatronError as error:
            outcomes.append(error.code)

    threads = [threading.Thread(target=subscribe) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["membership_exists"] * 5 + ["ok"]
    assert club.points(member) == 500


def test_the_sweep_runs_for_every_program(database, clock):
    club = Club(database, clock)
    m = club.subscribe(club.member(), "monthly")
    clock.advance(days=33)  # past the month, inside the 7 days' grace
    done = jobs.run(database, clock.now())
    assert done["past_due"] >= 1 and done["memberships"] >= 1
    assert club.get(m.id).state == "past_due"
    assert jobs.run(database, clock.now())["memberships"] == 0
