"""Transfer rules and the program document's ``transfers`` section, without a database."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from patron.program.document import Transfers
from patron.program.validate import validate_document
from patron.transfers import domain
from patron.transfers.domain import (ReceiverNotActive, SameHousehold, SelfTransfer,
                                     SenderNotActive, TransferAboveMaximum, TransferBelowMinimum,
                                     TransferDailyLimit, TransfersDisabled)

DAY = date(2026, 3, 2)


def test_the_day_is_the_program_timezones():
    late_utc = datetime(2026, 3, 2, 23, 30, tzinfo=timezone.utc)
    assert domain.local_day(late_utc, ZoneInfo("UTC")) == date(2026, 3, 2)
    assert domain.local_day(late_utc, ZoneInfo("Europe/Paris")) == date(2026, 3, 3)
    assert domain.local_day(late_utc, ZoneInfo("America/Los_Angeles")) == date(2026, 3, 2)
    early_utc = datetime(2026, 3, 2, 3, 0, tzinfo=timezone.utc)
    assert domain.local_day(early_utc, ZoneInfo("America/Los_Angeles")) == date(2026, 3, 1)


def test_off_by_default():
    with pytest.raises(TransfersDisabled):
        domain.check_enabled(Transfers())
    domain.check_enabled(Transfers(enabled=True))


def test_amount_limits_per_transfer_and_per_day():
    rules = Transfers(enabled=True, minimum_points=100, maximum_points=1000,
                      daily_maximum_points=1500)
    domain.check_amount(rules, 100, sent_today=0, day=DAY)
    domain.check_amount(rules, 1000, sent_today=500, day=DAY)
    with pytest.raises(TransferBelowMinimum):
        domain.check_amount(rules, 99, sent_today=0, day=DAY)
    with pytest.raises(TransferAboveMaximum):
        domain.check_amount(rules, 1001, sent_today=0, day=DAY)
    with pytest.raises(TransferDailyLimit) as refused:
        domain.check_amount(rules, 600, sent_today=1000, day=DAY)
    assert refused.value.extra["remaining_points"] == 500
    assert refused.value.status == 409
    assert "1000 already sent on 2026-03-02, 500 left" in refused.value.detail


def test_without_limits_any_positive_amount_passes():
    domain.check_amount(Transfers(enabled=True), 10**12, sent_today=10**12, day=DAY)


def test_members_must_be_two_active_members_not_sharing_a_pool():
    with pytest.raises(SelfTransfer) as refused:
        domain.check_not_self(7, 7)
    assert (refused.value.status, refused.value.extra) == (422, {"field": "to_member_id"})
    domain.check_members(1, "active", 2, "active", same_pool=False)
    with pytest.raises(SenderNotActive):
        domain.check_members(1, "blocked", 2, "active", same_pool=False)
    with pytest.raises(ReceiverNotActive):
        domain.check_members(1, "active", 2, "blocked", same_pool=False)
    with pytest.raises(SameHousehold):
        domain.check_members(1, "active", 2, "active", same_pool=True)


def _problems(transfers: dict) -> list[str]:
    _, problems = validate_document({"name": "Club", "transfers": transfers})
    return [str(p) for p in problems]


def test_validation_refuses_limits_no_transfer_could_pass():
    assert _problems({"enabled": True, "minimum_points": 100, "maximum_points": 1000,
                      "daily_maximum_points": 5000}) == []
    assert _problems({"minimum_points": 500, "maximum_points": 100}) == [
        "transfers.minimum_points: 500 is above maximum_points (100): no transfer could be made"]
    assert _problems({"minimum_points": 500, "daily_maximum_points": 100}) == [
        "transfers.minimum_points: 500 is above daily_maximum_points (100): no transfer "
        "could be made"]
    document, problems = validate_document({"name": "Club", "transfers": {
        "enabled": True, "maximum_points": 900, "daily_maximum_points": 500}})
    assert document is not None
    assert [p.severity for p in problems] == ["warning"]


def test_validation_reports_the_transfers_section_when_other_parts_are_wrong():
    _, problems = validate_document({"name": "", "transfers": {
        "minimum_points": 500, "maximum_points": 100}})
    assert "transfers.minimum_points" in [p.path for p in problems]


@pytest.mark.parametrize("section", [{"minimum_points": 0}, {"daily_maximum_points": -1},
                                     {"enable": True}, {"maximum_points": "lots"}])
def test_schema_errors_point_into_the_section(section):
    document, problems = validate_document({"name": "Club", "transfers": section})
    assert document is None
    assert all(p.path.startswith("transfers.") for p in problems), problems
