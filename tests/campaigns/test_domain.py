"""Assignment to treatment or holdout, without a database."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from decimal import Decimal

from patron.campaigns.domain import assign, bucket, group_of, status


def test_bucket_follows_the_shared_rule():
    digest = hashlib.sha256(b"7:spring:42").digest()
    assert bucket(7, "spring", 42) == int.from_bytes(digest[:8], "big") % 10000


def test_holdout_share_is_kept_out():
    groups = [assign(1, "spring", member_id, Decimal("0.1"))[1] for member_id in range(5000)]
    share = groups.count("holdout") / len(groups)
    assert 0.08 < share < 0.12


def test_bucket_below_the_share_is_holdout():
    assert group_of(999, Decimal("0.1")) == "holdout"
    assert group_of(1000, Decimal("0.1")) == "treatment"
    assert group_of(0, Decimal(0)) == "treatment"


def test_same_member_same_group_every_time():
    assert assign(3, "spring", 9, Decimal("0.5")) == assign(3, "spring", 9, Decimal("0.5"))
    assert [bucket(3, "spring", m) for m in range(50)] != [bucket(3, "summer", m) for m in range(50)]


def test_status_of_the_window():
    starts = datetime(2026, 3, 1, tzinfo=timezone.utc)
    ends = datetime(2026, 4, 1, tzinfo=timezone.utc)
    assert status(starts, ends, datetime(2026, 2, 1, tzinfo=timezone.utc)) == "upcoming"
    assert status(starts, ends, starts) == "running"
    assert status(starts, ends, ends) == "ended"
