"""What makes a re-sent event the same event: pure, no database."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from patron.events.domain import Recorded, differences, repeat_differences
from patron.events.schemas import EventIn

AT = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
SENT = EventIn.model_validate({
    "id": "e-1", "type": "purchase", "member": {"id": 7}, "occurred_at": AT.isoformat(),
    "channel": "pos", "data": {"order_id": "A-1", "currency": "USD", "total": 500}})
RECORDED = Recorded("purchase", 7, AT, "pos", {"total": 500, "currency": "USD",
                                                "order_id": "A-1"})


def test_a_retry_is_the_recorded_event_whatever_its_key_order_or_offset():
    later_offset = SENT.model_copy(update={"occurred_at": AT.astimezone(
        timezone(timedelta(hours=2)))})
    assert differences(later_offset, 7, RECORDED) == []


def test_each_field_that_defines_the_event_is_compared():
    assert differences(SENT, 8, RECORDED) == ["member"]
    assert differences(SENT, None, RECORDED) == ["member"]
    changed = SENT.model_copy(update={"type": "review", "channel": None,
                                      "occurred_at": AT - timedelta(seconds=1),
                                      "data": {**SENT.data, "total": 501}})
    assert differences(changed, 7, RECORDED) == ["type", "occurred_at", "channel", "data"]
    assert repeat_differences(SENT, changed) == ["type", "occurred_at", "channel", "data"]
    assert repeat_differences(SENT, SENT.model_copy()) == []
