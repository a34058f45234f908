from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.conftest import make_program
from tests.factories import purchase


@pytest.fixture
def make_history(database, clock):
    """A new program, and a JSONL file of two purchases made before it existed."""
    def make(folder):
        folder.mkdir(parents=True, exist_ok=True)
        program = make_program(database, clock, pending_days=0, expiry={"days": None})
        who = {"identity": {"type": "external_id", "value": "c-1"}}
        lines = [purchase(who, 10_00, datetime(2024, 5, 1, tzinfo=UTC)),
                 purchase(who, 20_00, datetime(2024, 6, 1, tzinfo=UTC))]
        path = folder / "history.jsonl"
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        return program, path
    return make
