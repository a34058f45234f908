"""Notifications: written with the change only where the member's consent allows, in the
member's language, e-mailed to a real SMTP server, retried while it is down, never sent
after an erasure; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from babel.dates import format_date
from sqlalchemy import delete, select

from patron.config import Settings
from patron.db import Database
from patron.flows.enrolment import create_member
from patron.flows.privacy.erasure import erase_member
from patron.ledger import jobs as ledger_jobs
from patron.ledger.service import adjust_points
from patron.members import consents
from patron.notifications.sending import send_due
from patron.notifications.tables import notifications
from patron.program.service import Program
from patron.tiers.service import set_manual
from tests.conftest import make_program
from tests.factories import member_create
from tests.notifications.smtp import SmtpServer, free_port
from tests.rewards.factories import Store
from tests.tiers.test_tiers import tier_shop
from tests.webhooks.helpers import earn


@pytest.fixture(autouse=True)
def empty_outbox(database: Database) -> None:
    """``send_due`` sends every program's due rows: start each test with none."""
    database.transact(lambda conn: conn.execute(delete(notifications)))


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


def settings(url: str) -> Settings:
    return Settings(smtp_url=url, smtp_from="Beans <club@beans.example>",
                    notify_backoff_seconds=60, notify_max_attempts=3)


def enrol(db: Database, program: Program, clock: Any, *, language: str | None = None,
          consent: dict[str, bool] | None = None) -> tuple[int, str]:
    profile: dict[str, Any] = {"name": "Ada Lovelace", "given_name": "Ada"}
    if language:
        profile["attributes"] = {"language": language}
    payload = member_create(profile=profile, consents=consent or {})
    member = db.transact(lambda conn: create_member(conn, program, payload, clock.now()))
    return member.id, payload.identities[0].value


def rows(db: Database, program: Program) -> list[Any]:
    return list(db.read(lambda conn: conn.execute(
        select(notifications).where(notifications.c.program_id == program.id)
        .order_by(notifications.c.id)).all()))


def test_consent_given_sends_one_email_in_the_members_language(database, program, clock,
                                                               smtp):
    member_id, _ = enrol(database, program, clock, language="fr-CA",
                         consent={"email_service": True})
    earn(database, program, clock, member_id, 1500, "a")
    [row] = rows(database, program)
    assert (row.kind, row.language, row.state, row.purpose) == (
        "points_earned", "fr", "pending", "service")

    done = send_due(database, clock.now(), settings(smtp.url))
    assert done["notifications"] == {"sent": 1, "failed": 0}
    [mail] = smtp.inbox.messages
    assert mail["Subject"] == "Vous avez gagné 1\u202f500 points"
    assert mail["To"].lower() == row.recipient.lower()
    assert mail["From"] == "Beans <club@beans.example>"
    body = mail.get_content()
    assert body.startswith("Bonjour Ada,") and program.name in body
    [row] = rows(database, program)
    assert (row.state, row.attempts) == ("sent", 1) and row.sent_at is not None
    assert send_due(database, clock.now(), settings(smtp.url))["notifications"]["sent"] == 0
    assert len(smtp.inbox.messages) == 1


def test_english_by_default(database, program, clock, smtp):
    member_id, _ = enrol(database, program, clock, consent={"email_service": True})
    earn(database, program, clock, member_id, 1500, "a")
    send_due(database, clock.now(), settings(smtp.url))
    [mail] = smtp.inbox.messages
    assert mail["Subject"] == "You earned 1,500 points"


def test_no_consent_no_row(database, program, clock, smtp):
    member_id, _ = enrol(database, program, clock)
    other, _ = enrol(database, program, clock, consent={"email_marketing": True})
    earn(database, program, clock, member_id, 10, "a")
    earn(database, program, clock, other, 10, "b")     # marketing does not cover service
    assert rows(database, program) == []
    send_due(database, clock.now(), settings(smtp.url))
    assert smtp.inbox.messages == []


def test_withdrawn_consent_sends_nothing_new(database, program, clock, smtp):
    member_id, _ = enrol(database, program, clock, consent={"email_service": True})
    database.transact(lambda conn: consents.record(
        conn, program.id, member_id, [consents.Decision("email", "service", False)],
        actor="test", now=clock.now()))
    earn(database, program, clock, member_id, 10, "a")
    assert rows(database, program) == []
    send_due(database, clock.now(), settings(smtp.url))
    assert smtp.inbox.messages == []


def test_smtp_down_is_retried_later_then_sent(database, program, clock):
    member_id, _ = enrol(database, program, clock, consent={"email_service": True})
    earn(database, program, clock, member_id, 10, "a")
    server = SmtpServer(free_port())          # not started: connections are refused
    now = clock.now()
    assert send_due(database, now, settings(server.url))["notifications"] == {
        "sent": 0, "failed": 1}
    [row] = rows(database, program)
    assert (row.state, row.attempts) == ("pending", 1) and row.last_error
    assert row.next_attempt_at == now + timedelta(seconds=60)
    assert send_due(database, now + timedelta(seconds=30),
                    settings(server.url))["notifications"]["failed"] == 0   # not due yet
    server.start()
    try:
        assert send_due(database, now + timedelta(seconds=61),
                        settings(server.url))["notifications"] == {"sent": 1, "failed": 0}
        assert len(server.inbox.messages) == 1
    finally:
        server.stop()
    [row] = rows(database, program)
    assert (row.state, row.attempts, row.last_error) == ("sent", 2, None)


def test_dead_after_the_last_attempt(database, program, clock):
    member_id, _ = enrol(database, program, clock, consent={"email_service": True})
    earn(database, program, clock, member_id, 10, "a")
    url = SmtpServer(free_port()).url
    now = clock.now()
    for hours in range(3):
        send_due(database, now + timedelta(hours=hours), settings(url))
    [row] = rows(database, program)
    assert (row.state, row.attempts) == ("dead", 3)


def test_nothing_sent_without_an_smtp_url(database, program, clock, smtp):
    member_id, _ = enrol(database, program, clock, consent={"email_service": True})
    earn(database, program, clock, member_id, 10, "a")
    assert send_due(database, clock.now(), settings(""))["notifications"]["sent"] == 0
    [row] = rows(database, program)
    assert (row.state, row.attempts) == ("pending", 0)
    assert smtp.inbox.messages == []


def test_erased_member_is_sent_nothing(database, program, clock, smtp):
    member_id, email = enrol(database, program, clock, consent={"email_service": True})
    earn(database, program, clock, member_id, 10, "a")
    database.transact(lambda conn: erase_member(conn, program, member_id, actor="test",
                                                reason=None, now=clock.now()))
    send_due(database, clock.now(), settings(smtp.url))
    assert smtp.inbox.messages == []
    [row] = rows(database, program)
    assert (row.state, row.recipient, row.subject, row.body) == ("dropped", "", "", "")


def test_a_rolled_back_change_leaves_no_notification(database, program, clock):
    member_id, _ = enrol(database, program, clock, consent={"email_service": True})

    def credit_then_fail(conn):
        adjust_points(conn, program, member_id, points=10, reason="x", key="failing",
                      actor="test", now=clock.now())
        raise RuntimeError("the request failed after the credit")

    with pytest.raises(RuntimeError):
        database.transact(credit_then_fail)
    assert rows(database, program) == []


def test_points_expiring_soon_in_french(database, clock, smtp):
    program = make_program(database, clock, pending_days=0, expiry={"days": 40})
    member_id, _ = enrol(database, program, clock, language="fr",
                         consent={"email_service": True})
    earn(database, program, clock, member_id, 1200, "a")
    clock.advance(days=15)
    assert ledger_jobs.notice_expiring(database, clock.now(), 30).notices == 1
    expires = (clock.now() + timedelta(days=25)).date()
    [row] = [row for row in rows(database, program) if row.kind == "points_expiring"]
    assert row.created_at == clock.now()
    send_due(database, clock.now(), settings(smtp.url))
    [mail] = [mail for mail in smtp.inbox.messages if "expirent" in mail["Subject"]]
    assert mail["Subject"] == f"1\u202f200 points expirent le {format_date(expires, 'long', 'fr')}"


def test_a_tier_change_needs_marketing_consent(database, clock, smtp):
    shop = tier_shop(database, clock)
    told, quiet = shop.member(), shop.member()
    database.transact(lambda conn: [consents.record(
        conn, shop.program.id, member_id, [consents.Decision("email", purpose, True)],
        actor="test", now=clock.now()) for member_id, purpose in
        ((told, "marketing"), (quiet, "service"))])
    until = clock.now() + timedelta(days=10)
    for member_id in (told, quiet):
        database.transact(lambda conn: set_manual(conn, shop.program, member_id, "platinum",
                                                  until, "service recovery", "test",
                                                  clock.now()))
    [row] = [row for row in rows(database, shop.program) if row.kind == "tier_changed"]
    assert (row.member_id, row.purpose) == (told, "marketing")
    send_due(database, clock.now(), settings(smtp.url))
    [mail] = smtp.inbox.messages
    assert mail["Subject"] == "Your tier is now platinum"
    assert "(it was member)" in mail.get_content()


def test_a_redeemed_reward_is_told(database, clock, smtp):
    store = Store(database, clock, [{"id": "sticker", "name": "Sticker", "type": "gift",
                                     "cost_points": 1000}])
    member_id = store.member(points=1500)
    database.transact(lambda conn: consents.record(
        conn, store.program.id, member_id, [consents.Decision("any", "service", True)],
        actor="test", now=clock.now()))
    store.redeem(member_id, "sticker", key="r1")
    store.redeem(member_id, "sticker", key="r1")            # a retry: the same redemption
    [row] = [row for row in rows(database, store.program) if row.kind == "reward_redeemed"]
    send_due(database, clock.now(), settings(smtp.url))
    [mail] = smtp.inbox.messages
    assert mail["Subject"] == "Your reward sticker is ready"
    assert "for 1,000 points" in mail.get_content()
