"""Notifications handed to the brand's own messaging system: a program sends a channel
``webhook``, and the rendered message reaches a real local receiver signed, through the
webhooks' outbox, only with the member's consent for that channel. On SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from pydantic import ValidationError
from sqlalchemy import event
from standardwebhooks import Webhook

from patron.clock import FrozenClock
from patron.flows.privacy.erasure import erase_member
from patron.members import consents
from patron.notifications.sending import send_due
from patron.program.document import Settings
from patron.webhooks.delivery import Deliverer
from patron.webhooks.domain import RetryPolicy
from tests.conftest import make_program
from tests.notifications.test_notifications import enrol, earn, rows, settings
from tests.notifications.smtp import SmtpServer, free_port
from tests.webhooks.helpers import bodies, messages, subscribe
from tests.webhooks.receiver import Receiver

SMS_BY_WEBHOOK = {"notifications": {"channels": {"sms": "webhook", "email": "smtp"}}}


def test_a_message_for_sms_reaches_the_brands_receiver_signed(database):
    clock = FrozenClock(datetime.now(timezone.utc))  # the signature's time is checked
    program = make_program(database, clock, pending_days=0, **SMS_BY_WEBHOOK)
    member_id, email = enrol(database, program, clock, language="fr",
                             consent={"sms_service": True})
    smtp = SmtpServer(free_port())
    smtp.start()
    try:
        with Receiver() as receiver:
            endpoint = subscribe(database, program, clock, url=receiver.url,
                                 types=["notification.ready"])
            earn(database, program, clock, member_id, 1500, "a")
            deliverer = Deliverer(database, clock, policy=RetryPolicy(3, 10, 60),
                                  jitter=lambda: 0.0, program_ids=[program.id])
            try:
                assert deliverer.deliver_once().delivered == 1
            finally:
                deliverer.close()
        send_due(database, clock.now(), settings(smtp.url))
    finally:
        smtp.stop()
    # no consent for e-mail: nothing e-mailed to the member
    assert all(mail["To"].lower() != email.lower() for mail in smtp.inbox.messages)
    [got] = receiver.received
    payload = Webhook(endpoint.secret).verify(got["body"], got["headers"])
    assert payload["type"] == "notification.ready"
    data = payload["data"]
    assert {key: data[key] for key in ("member_id", "kind", "channel", "language",
                                       "program")} == {
        "member_id": member_id, "kind": "points_earned", "channel": "sms", "language": "fr",
        "program": program.slug}
    assert data["subject"] == "Vous avez gagné 1\u202f500 points"
    assert data["body"].startswith("Bonjour Ada,")
    [row] = rows(database, program)                 # what the member was told, kept
    assert (row.channel, row.state, row.recipient, row.subject) == (
        "sms", "handed_off", "", data["subject"])


def test_no_consent_for_the_channel_no_message(database, clock):
    program = make_program(database, clock, pending_days=0, **SMS_BY_WEBHOOK)
    subscribe(database, program, clock, types=["notification.ready"])
    emailed, _ = enrol(database, program, clock, consent={"email_service": True})
    nobody, _ = enrol(database, program, clock, consent={"sms_marketing": True})
    withdrawn, _ = enrol(database, program, clock, consent={"sms_service": True})
    database.transact(lambda conn: consents.record(
        conn, program.id, withdrawn, [consents.Decision("sms", "service", False)],
        actor="test", now=clock.now()))
    for n, member_id in enumerate((emailed, nobody, withdrawn)):
        earn(database, program, clock, member_id, 10, f"k{n}")
    assert bodies(database, program) == []
    assert [(row.member_id, row.channel, row.state) for row in rows(database, program)] == [
        (emailed, "email", "pending")]


def test_both_channels_when_the_member_consented_to_both(database, clock):
    program = make_program(database, clock, pending_days=0, **SMS_BY_WEBHOOK)
    subscribe(database, program, clock, types=["notification.ready"])
    member_id, _ = enrol(database, program, clock,
                         consent={"email_service": True, "sms_service": True})
    earn(database, program, clock, member_id, 10, "a")
    assert sorted((row.channel, row.state) for row in rows(database, program)) == [
        ("email", "pending"), ("sms", "handed_off")]
    [body] = bodies(database, program)
    assert (body["type"], body["data"]["channel"]) == ("notification.ready", "sms")


def test_erasing_the_member_takes_the_text_out_of_their_messages_and_sends_none(database,
                                                                               clock):
    program = make_program(database, clock, pending_days=0, **SMS_BY_WEBHOOK)
    subscribe(database, program, clock, types=["notification.ready", "points.earned"])
    member_id, _ = enrol(database, program, clock, consent={"sms_service": True})
    earn(database, program, clock, member_id, 10, "a")
    told = [row for row in messages(database, program) if row.event_type == "notification.ready"]
    assert [json.loads(row.payload)["data"]["body"] != "" for row in told] == [True]
    database.transact(lambda conn: erase_member(conn, program, member_id, actor="test",
                                                reason=None, now=clock.now()))
    after = {row.event_type: row for row in messages(database, program)}
    erased = after["notification.ready"]
    assert (erased.state, erased.last_error) == ("dead",
                                                 "the member was erased before it was sent")
    data = json.loads(erased.payload)["data"]
    assert (data["subject"], data["body"], data["member_id"]) == ("", "", member_id)
    # the points message carries ids and amounts only: kept and still sent
    assert after["points.earned"].state == "pending"


def test_only_email_goes_over_smtp():
    with pytest.raises(ValidationError, match="only email is sent over smtp"):
        Settings.model_validate({"notifications": {"channels": {"sms": "smtp"}}})
    assert Settings().notifications.channels == {"email": "smtp"}
    assert json.loads(Settings(notifications={"channels": {}}).model_dump_json())[
        "notifications"] == {"channels": {}}


def test_a_program_that_tells_no_one_reads_no_one(database, clock):
    """``channels: {}``: no message is written, and no recipient is read for one."""
    program = make_program(database, clock, pending_days=0, notifications={"channels": {}})
    member_id, _ = enrol(database, program, clock, consent={"email_service": True})
    sent: list[str] = []

    def seen(conn, cursor, statement, *rest):
        sent.append(" ".join(statement.split()))
    event.listen(database.engine, "before_cursor_execute", seen)
    try:
        earn(database, program, clock, member_id, 10, "a")
    finally:
        event.remove(database.engine, "before_cursor_execute", seen)
    assert rows(database, program) == []
    recipients = "members.given_name, members.attributes, (SELECT identities.value"
    assert sent and not any(recipients in statement for statement in sent)
