"""Spends, adjustments, sweeps and the exact balance, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from patron.ledger import jobs, repository
from patron.ledger.domain import InsufficientPoints
from patron.ledger.service import adjust_points, balance, spend_points
from patron.flows.enrolment import create_member
from patron.flows.statement import ledger_page
from tests.conftest import make_program
from tests.factories import member_create


def new_member(db, program, clock, points: int = 0) -> int:
    member = db.transact(lambda conn: create_member(conn, program, member_create(), clock.now()))
    if points:
        db.transact(lambda conn: adjust_points(conn, program, member.id, points=points,
                                               reason="opening balance", key=f"open-{member.id}",
                                               actor="test", now=clock.now()))
    return member.id


def assert_exact(db, program, member_id):
    """available == Σ open lots == Σ posted entries, and the same for pending."""
    def check(conn):
        account = repository.accounts_by_member(conn, program.id, [member_id])[member_id]
        totals = repository.ledger_totals(conn, account.id)
        assert account.available == totals["available"] == totals["open_lots"] >= 0
        assert account.pending == totals["pending"] == totals["pending_lots"] >= 0
        return account
    return db.read(check)


def test_twenty_simultaneous_spends_of_100_against_1000(database, program, clock):
    member_id = new_member(database, program, clock, points=1000)
    outcomes: list[str] = []
    barrier = threading.Barrier(20)

    def spend(n: int) -> None:
        barrier.wait()
        try:
            database.transact(lambda conn: spend_points(
                conn, program, member_id, points=100, reason="coffee", key=f"s-{n}",
                actor="test", now=clock.now()))
            outcomes.append("ok")
        except InsufficientPoints:
            outcomes.append("insufficient_points")

    threads = [threading.Thread(target=spend, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["insufficient_points"] * 10 + ["ok"] * 10
    account = assert_exact(database, program, member_id)
    assert account.available == 0


def test_spend_retry_with_same_key_spends_once(database, program, clock):
    member_id = new_member(database, program, clock, points=300)
    run = lambda: database.transact(lambda conn: spend_points(  # noqa: E731
        conn, program, member_id, points=120, reason="latte", key="k1", actor="t",
        now=clock.now()))
    first, second = run(), run()
    assert first.entry.id == second.entry.id
    assert second.balance.available == 180
    assert_exact(database, program, member_id)


def test_a_spend_answers_what_its_retry_and_the_ledger_read_back(database, clock):
    program = make_program(database, clock, pending_days=0, expiry={"days": 30})
    member_id = new_member(database, program, clock, points=100)
    clock.advance(days=10)
    database.transact(lambda conn: adjust_points(conn, program, member_id, points=100,
                                                 reason="bonus", key="b", actor="t",
                                                 now=clock.now()))
    run = lambda: database.transact(lambda conn: spend_points(  # noqa: E731
        conn, program, member_id, points=150, reason="mug", key="m", actor="t",
        now=clock.now(), order_id="o-1"))
    first = run()
    assert first == run()
    assert first.balance == database.read(lambda conn: balance(conn, program, member_id))
    [entry] = database.read(lambda conn: ledger_page(conn, program, member_id, None, 1)).items
    assert first.entry == entry
    assert (first.entry.points, first.entry.order_id, first.balance.available) == (-150, "o-1", 50)


def test_simultaneous_retries_of_one_spend_spend_once(database, program, clock):
    member_id = new_member(database, program, clock, points=1000)
    answers: list[int] = []
    barrier = threading.Barrier(8)

    def spend() -> None:
        barrier.wait()
        answers.append(database.transact(lambda conn: spend_points(
            conn, program, member_id, points=100, reason="coffee", key="same", actor="test",
            now=clock.now())).entry.id)

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 8 and len(set(answers)) == 1
    assert assert_exact(database, program, member_id).available == 900


def test_spend_consumes_soonest_expiring_lots_first(database, clock):
    program = make_program(database, clock, pending_days=0, expiry={"days": 30})
    member_id = new_member(database, program, clock, points=100)          # expires T0+30
    clock.advance(days=10)
    database.transact(lambda conn: adjust_points(conn, program, member_id, points=100,
                                                 reason="bonus", key="b", actor="t",
                                                 now=clock.now()))        # expires T0+40
    posted = database.transact(lambda conn: spend_points(
        conn, program, member_id, points=150, reason="mug", key="m", actor="t", now=clock.now()))
    assert [m.points for m in posted.lots] == [-100, -50]
    assert [e.points for e in posted.balance.expiring] == [50]
    clock.advance(days=31)  # past T0+40: the second lot's 50 expire
    jobs.run_all(database, clock.now())
    b = database.read(lambda conn: balance(conn, program, member_id))
    assert b.available == 0
    entries = database.read(lambda conn: ledger_page(conn, program, member_id, None, 10)).items
    assert entries[0].kind == "expire" and entries[0].points == -50
    assert entries[0].source.type == "job"
    assert_exact(database, program, member_id)


def test_negative_adjustment_cannot_overdraw(database, program, clock):
    member_id = new_member(database, program, clock, points=50)
    with pytest.raises(InsufficientPoints):
        database.transact(lambda conn: adjust_points(conn, program, member_id, points=-60,
                                                     reason="fix", key="x", actor="t",
                                                     now=clock.now()))
    database.transact(lambda conn: adjust_points(conn, program, member_id, points=-50,
                                                 reason="fix", key="y", actor="t",
                                                 now=clock.now()))
    assert assert_exact(database, program, member_id).available == 0


def test_sweeps_are_idempotent(database, clock):
    program = make_program(database, clock, pending_days=0, expiry={"days": 5})
    member_id = new_member(database, program, clock, points=70)
    clock.advance(days=6)
    first = jobs.run_all(database, clock.now())
    second = jobs.run_all(database, clock.now())
    assert first["expire"].points >= 70
    assert second["expire"].points == 0 and second["release"].points == 0
    assert assert_exact(database, program, member_id).available == 0


def test_expiry_and_release_do_not_break_concurrent_spends(database, clock):
    program = make_program(database, clock, pending_days=0, expiry={"days": 1})
    member_id = new_member(database, program, clock, points=500)
    clock.advance(days=2)
    errors: list[Exception] = []

    def sweep() -> None:
        try:
            jobs.run_all(database, clock.now())
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    def spend() -> None:
        try:
            database.transact(lambda conn: spend_points(
                conn, program, member_id, points=500, reason="all", key="all", actor="t",
                now=clock.now()))
        except InsufficientPoints:
            pass

    threads = [threading.Thread(target=sweep), threading.Thread(target=spend)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert assert_exact(database, program, member_id).available == 0


def test_a_late_expiry_sweep_dates_each_expiry_at_its_lots_expiry(database, clock):
    """Catching up on lots that ran out on different days writes one expire entry per
    expiry date, each dated when its lots expired, so monthly totals are right."""
    program = make_program(database, clock, pending_days=0, expiry={"days": 30})
    start = clock.now()
    member_id = new_member(database, program, clock, points=100)            # expires +30
    database.transact(lambda conn: adjust_points(conn, program, member_id, points=50,
                                                 reason="bonus", key="b1", actor="t",
                                                 now=clock.now()))        # expires +30 too
    clock.advance(days=40)
    database.transact(lambda conn: adjust_points(conn, program, member_id, points=30,
                                                 reason="bonus", key="b2", actor="t",
                                                 now=clock.now()))        # expires +70
    clock.advance(days=60)
    swept = jobs.expire_lots(database, clock.now())
    # The sweep covers every program in the database; this member's part is exact below.
    assert swept.accounts >= 1 and swept.lots >= 3 and swept.points >= 180
    assert assert_exact(database, program, member_id).available == 0
    entries = database.read(lambda conn: ledger_page(conn, program, member_id, None, 10)).items
    expiries = sorted((e.occurred_at, e.points) for e in entries if e.kind == "expire")
    assert expiries == [(start + timedelta(days=30), -150), (start + timedelta(days=70), -30)]
    assert jobs.expire_lots(database, clock.now()).points == 0
    assert assert_exact(database, program, member_id).available == 0
