"""The outbox: messages written with the change, only for subscribed types, never for a
change that rolled back; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event as sa_event

from patron import hooks
from patron.campaigns import jobs as campaign_jobs
from patron.db import create_database
from patron.db.migrate import upgrade
from patron.errors import Conflict
from patron.flows.ingest import ingest
from patron.ledger import jobs as ledger_jobs
from patron.ledger.service import adjust_points
from patron.webhooks import jobs as webhook_jobs
from patron.webhooks import repository, service
from patron.webhooks.delivery import Deliverer
from patron.webhooks.outbox import Subscriptions
from patron.webhooks.schemas import EndpointUpdate
from tests.campaigns.factories import Shop, campaign
from tests.conftest import make_program
from tests.factories import purchase_event
from tests.listening import heard
from tests.webhooks.helpers import bodies, earn, messages, new_member, subscribe


def test_no_endpoint_no_message(database, program, clock):
    member_id = new_member(database, program, clock)
    earn(database, program, clock, member_id, 50, "a")
    assert messages(database, program) == []


def test_a_subscribed_type_writes_a_message_per_member_and_no_other_type(database, program,
                                                                         clock):
    subscribe(database, program, clock, types=["points.earned"])
    member_id = new_member(database, program, clock)      # member.enrolled: not subscribed
    earn(database, program, clock, member_id, 50, "a")
    [row] = messages(database, program)
    assert (row.event_type, row.member_id, row.lane, row.state, row.attempts) == (
        "points.earned", member_id, member_id, "pending", 0)
    assert row.next_attempt_at is None and row.webhook_id.startswith("msg_")
    [body] = bodies(database, program)
    assert body["type"] == "points.earned"
    assert body["data"]["program"] == program.slug and body["data"]["points"] == 50


def test_a_rolled_back_change_leaves_no_message(database, program, clock):
    subscribe(database, program, clock, types=["points.earned"])
    member_id = new_member(database, program, clock)

    def refuse(conn, happened):
        raise Conflict("refused by a later subscriber")

    with heard(hooks.PointsEarned, refuse), pytest.raises(Conflict):
        earn(database, program, clock, member_id, 50, "refused")

    def credit_then_fail(conn):
        adjust_points(conn, program, member_id, points=10, reason="x", key="failing",
                      actor="test", now=clock.now())
        assert len(repository.messages_page(conn, program.id, None, None, None, None, 10)) == 1
        raise RuntimeError("the request failed after the credit")

    with pytest.raises(RuntimeError):
        database.transact(credit_then_fail)
    assert messages(database, program) == []
    earn(database, program, clock, member_id, 50, "kept")
    assert len(messages(database, program)) == 1


def test_each_endpoint_gets_the_message_under_one_webhook_id(database, program, clock):
    first = subscribe(database, program, clock, types=["points.earned", "points.spent"])
    second = subscribe(database, program, clock, types=["points.earned"])
    member_id = new_member(database, program, clock)
    earn(database, program, clock, member_id, 50, "a")
    earn(database, program, clock, member_id, -20, "b")
    rows = messages(database, program)
    assert [(r.endpoint_id, r.event_type) for r in rows] == [
        (first.id, "points.earned"), (second.id, "points.earned"), (first.id, "points.spent")]
    assert rows[0].webhook_id == rows[1].webhook_id != rows[2].webhook_id


def test_a_disabled_endpoint_gets_nothing_until_enabled(database, program, clock):
    endpoint = subscribe(database, program, clock, enabled=False)
    member_id = new_member(database, program, clock)
    earn(database, program, clock, member_id, 50, "a")
    assert messages(database, program) == []
    database.transact(lambda conn: service.update_endpoint(
        conn, program, endpoint.id, EndpointUpdate(enabled=True), clock.now()))
    earn(database, program, clock, member_id, 50, "b")
    assert len(messages(database, program)) == 1


def test_a_batch_is_written_with_one_statement(database, program, clock):
    subscribe(database, program, clock, types=["points.earned", "member.enrolled"])
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        if "webhook_messages" in statement and statement.lstrip().upper().startswith("INSERT"):
            statements.append(statement)

    batch = [purchase_event({"identity": {"type": "email", "value": f"b{n}@example.com"}},
                            1000 + n, clock.now() - timedelta(minutes=1)) for n in range(12)]
    sa_event.listen(database.engine, "before_cursor_execute", seen)
    try:
        database.transact(lambda conn: ingest(conn, program, batch, now=clock.now(),
                                              actor="test"))
    finally:
        sa_event.remove(database.engine, "before_cursor_execute", seen)
    types = [body["type"] for body in bodies(database, program)]
    assert types.count("member.enrolled") == 12 and types.count("points.earned") == 12
    # one INSERT per happening (enrolment, points): executemany on SQLite; PostgreSQL
    # takes ten rows or more through COPY, which is no INSERT at all
    assert len(statements) <= 2


def test_what_a_process_read_of_the_endpoints_is_kept_for_its_time(database, program, clock):
    now = [0.0]
    cache = Subscriptions(ttl=lambda: 5.0, clock=lambda: now[0])
    assert database.read(lambda conn: cache.of(conn, program.id)) == {}
    endpoint = database.transact(lambda conn: repository.insert_endpoint(
        conn, program_id=program.id, url="http://127.0.0.1:9/", description=None,
        event_types=["tier.changed"], secret="whsec_x", enabled=True, created_at=clock.now(),
        updated_at=clock.now()))
    now[0] = 4.0
    assert database.read(lambda conn: cache.of(conn, program.id)) == {}
    now[0] = 5.5
    assert database.read(lambda conn: cache.of(conn, program.id)) == {
        "tier.changed": (endpoint,)}
    database.transact(lambda conn: repository.update_endpoint(conn, endpoint,
                                                              {"enabled": False}))
    cache.forget(program.id)
    assert database.read(lambda conn: cache.of(conn, program.id)) == {}


def test_points_expiring_soon_are_told_once_per_member_and_day(database, clock):
    program = make_program(database, clock, pending_days=0, expiry={"days": 40})
    subscribe(database, program, clock, types=["points.expiring_soon"])
    told, quiet = new_member(database, program, clock), new_member(database, program, clock)
    earn(database, program, clock, told, 70, "a")
    earn(database, program, clock, told, 30, "b")           # same instant: the same day
    earn(database, program, clock, quiet, 10, "c")
    earn(database, program, clock, quiet, -10, "d")         # nothing left to lose
    # (the sweeps cover every program: other tests' programs share the database)
    ledger_jobs.notice_expiring(database, clock.now(), 30)
    assert bodies(database, program) == []  # 40 days off
    clock.advance(days=15)
    first = ledger_jobs.notice_expiring(database, clock.now(), 30)
    ledger_jobs.notice_expiring(database, clock.now() + timedelta(days=1), 30)
    assert first.notices >= 1 and first.points >= 100
    [body] = bodies(database, program)  # told once, of the day's 100 points
    assert body["type"] == "points.expiring_soon"
    assert body["data"]["member_id"] == told and body["data"]["points"] == 100
    assert body["data"]["expires_at"] == (clock.now() + timedelta(days=25)).isoformat()


def test_a_campaign_start_is_told_once_and_its_coupons_each(database, clock):
    shop = Shop(database, clock, campaign(coupons=[{"type": "ten-off"}], holdout="0"))
    subscribe(database, shop.program, clock, types=["campaign.started", "coupon.issued"])
    members = shop.members(3)
    first = campaign_jobs.run(database, clock.now())  # (other tests' programs share the run)
    again = campaign_jobs.run(database, clock.now())
    assert first["started"] >= 1 and first["coupons"] >= 3
    assert (again["started"], again["coupons"]) == (0, 0)
    found = bodies(database, shop.program)
    starts = [b for b in found if b["type"] == "campaign.started"]
    coupons = [b for b in found if b["type"] == "coupon.issued"]
    assert [b["data"]["campaign_id"] for b in starts] == ["spring"]
    assert sorted(b["data"]["member_id"] for b in coupons) == members
    assert all(b["data"]["source"] == "campaign:spring" and b["data"]["code"] for b in coupons)
    assert [r.lane for r in messages(database, shop.program) if r.member_id is None] == [0]


def test_two_databases_in_one_process_do_not_share_what_was_read(tmp_path, clock):
    first, second = (create_database(str(tmp_path / f"{name}.db")) for name in ("a", "b"))
    for db in (first, second):
        upgrade(db)
    ours, theirs = make_program(first, clock), make_program(second, clock)
    assert ours.id == theirs.id                          # each database's first program
    subscribe(first, ours, clock, types=["points.earned"])
    earn(first, ours, clock, new_member(first, ours, clock), 5, "a")
    earn(second, theirs, clock, new_member(second, theirs, clock), 5, "a")
    assert len(messages(first, ours)) == 1 and messages(second, theirs) == []
    for db in (first, second):
        db.dispose()


def test_an_endpoint_deleted_by_another_process_does_not_break_ingest(database, program, clock):
    endpoint = subscribe(database, program, clock)
    member_id = new_member(database, program, clock)
    earn(database, program, clock, member_id, 5, "a")        # this process reads the endpoints
    database.transact(lambda conn: repository.delete_endpoint(conn, endpoint.id, clock.now()))
    assert messages(database, program) == []                  # deleted with it
    earn(database, program, clock, member_id, 5, "b")        # its view is a few seconds old
    [late] = messages(database, program)
    deliverer = Deliverer(database, clock, program_ids=[program.id])
    try:
        assert deliverer.claim(10) == []                      # never sent
    finally:
        deliverer.close()
    assert webhook_jobs.prune(database, clock.now(), 30) >= 1
    assert messages(database, program) == [] and late.endpoint_id == endpoint.id
