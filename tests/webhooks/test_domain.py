"""Webhook decisions without a database: secrets, bodies, retries, the event types."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from standardwebhooks import Webhook

from patron import hooks
from patron.program.domain import ProgramSettings
from patron.program.service import Program
from patron.webhooks import domain
from patron.webhooks.domain import RetryPolicy, verdict
from patron.webhooks.event_types import BY_HAPPENING, EVENT_TYPES

AT = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
PROGRAM = Program(1, "acme", "Acme", ProgramSettings(), AT, 1)


def test_a_new_secret_is_standard_webhooks_and_signs():
    secret = domain.new_secret()
    assert secret.startswith("whsec_") and domain.secret_problem(secret) is None
    assert domain.new_secret() != secret
    Webhook(secret).sign("msg_1", AT, b"{}")  # the library takes it


@pytest.mark.parametrize("secret, problem", [
    ("abc", "must start with 'whsec_'"),
    ("whsec_", "must be base64"),
    ("whsec_!!!!", "must be base64"),
    ("whsec_" + "QUJD", "24 to 64 bytes"),          # 3 bytes
    ("whsec_" + "A" * 120, "24 to 64 bytes"),       # 90 bytes
])
def test_a_secret_that_cannot_sign_is_named(secret, problem):
    assert problem in domain.secret_problem(secret)


def test_backoff_doubles_with_jitter_and_is_capped():
    policy = RetryPolicy(max_attempts=5, backoff_seconds=10, backoff_max_seconds=60)
    assert policy.wait(1, 0.0) == timedelta(seconds=5)
    assert policy.wait(1, 0.999) < timedelta(seconds=10)
    assert policy.wait(2, 0.0) == timedelta(seconds=10)
    assert policy.wait(3, 0.0) == timedelta(seconds=20)
    assert policy.wait(10, 0.0) == timedelta(seconds=30)    # capped at 60, halved by jitter
    assert policy.wait(10_000, 0.999) <= timedelta(seconds=60)


def test_a_message_dies_after_its_last_attempt():
    policy = RetryPolicy(max_attempts=3, backoff_seconds=1, backoff_max_seconds=10)
    assert verdict(policy, 1, False, AT, 0.0).state == "pending"
    assert verdict(policy, 2, False, AT, 0.0).next_attempt_at == AT + timedelta(seconds=1)
    assert verdict(policy, 3, False, AT, 0.0) == domain.Verdict("dead", None)
    assert verdict(policy, 3, True, AT, 0.0) == domain.Verdict("delivered", None)
    assert not domain.is_success(302) and not domain.is_success(None)
    assert domain.is_success(200) and domain.is_success(204)


def test_every_event_type_of_the_issue_is_registered_once():
    assert set(EVENT_TYPES) == {
        "member.enrolled", "points.earned", "points.spent", "points.expired",
        "points.expiring_soon", "tier.changed", "reward.redeemed", "coupon.issued",
        "referral.qualified", "member.merged", "member.merge_undone", "campaign.started",
        "member.status_changed", "reward.ready", "notification.ready"}
    for entry in EVENT_TYPES.values():
        assert entry in BY_HAPPENING[entry.happening]


def test_a_batch_of_moves_makes_a_message_per_member_in_standard_shape():
    happened = hooks.PointsEarned(PROGRAM, (
        hooks.PointsMoved(7, 120, AT, 70, "order 1", "earn", 900),
        hooks.PointsMoved(8, 30, AT, 80, "order 2", "earn", 901)))
    messages = list(EVENT_TYPES["points.earned"].messages(happened))
    assert [m.member_id for m in messages] == [7, 8]
    body = json.loads(domain.body("points.earned", messages[0].at, "acme", messages[0].data))
    assert body == {"type": "points.earned", "timestamp": AT.isoformat(),
                    "data": {"program": "acme", "member_id": 7, "points": 120, "kind": "earn",
                             "reason": "order 1", "entry_id": 900, "account_id": 70,
                             "at": AT.isoformat()}}


def test_a_campaign_start_is_about_no_member():
    happened = hooks.CampaignStarted(PROGRAM, "spring", "Spring", AT, AT + timedelta(days=9),
                                     AT)
    [message] = EVENT_TYPES["campaign.started"].messages(happened)
    assert message.member_id is None and message.data["campaign_id"] == "spring"
