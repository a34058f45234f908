"""A program built from its row is reused only while the row says the same."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from patron.program.service import _program

SETTINGS = {"currency": "USD", "timezone": "UTC"}


def row(version: int = 1, **settings: object) -> SimpleNamespace:
    return SimpleNamespace(id=991, slug="rows", name="Rows", current_version=version,
                           created_at=datetime(2026, 1, 1, tzinfo=UTC),
                           settings={**SETTINGS, **settings})


def test_the_same_row_gives_the_same_program_and_any_change_a_new_one():
    first = _program(row())
    assert _program(row()) is first
    newer = _program(row(2))
    assert newer is not first and newer.version == 2
    # Another database may hold a program with the same id, version and name.
    other = _program(row(1, currency="EUR"))
    assert other.settings.currency == "EUR" and first.settings.currency == "USD"
    assert _program(row(1, currency="EUR")) is other
