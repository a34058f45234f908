"""Training: read the program's history, fit the model, store every member's lists.

A training reads in one transaction, fits and ranks outside any, and writes a
batch of members per transaction under a new model that becomes the program's
ready one only at the end (``repository.make_ready``), so a long training never
holds SQLite's write lock for long, and readers see the old lists until the new
ones are whole. Run by ``patron recommendations train`` and by the features job.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from patron.db import Database
from patron.program.repository import all_program_ids
from patron.recommendations import model, service
from patron.recommendations.model import Parameters

Advance = Callable[[str, int, int], None]
"""``advance(step, done, total)``: a training's progress, for a progress bar."""
WRITE_ROWS = 20_000
"""Rows written per transaction."""


@dataclass(frozen=True)
class Trained:
    model_id: int
    members: int
    """Members with a history the model was fitted on."""
    ranked: int
    """Members given lists of their own (active members with a history)."""
    items: int
    rows: int
    seconds: float


def train_program(db: Database, program_id: int, now: datetime,
                  parameters: Parameters = Parameters(), until: datetime | None = None,
                  advance: Advance | None = None) -> Trained:
    """Fit on history before ``until`` (default: all of it) and store every list."""
    step = advance or (lambda name, done, total: None)
    began = time.perf_counter()
    step("reading history", 0, 1)
    data = db.read(lambda conn: service.training_data(conn, program_id, until))
    history = data.history
    step("fitting", 0, 1)
    fitted = model.fit(history, parameters) if history.counts.nnz else None
    allowed = db.read(lambda conn: service.eligible_rewards(conn, data, now))
    blob = model.model_bytes(fitted, history, parameters)
    model_id = db.transact(lambda conn: service.begin(conn, data, parameters, blob, now,
                                                      until))
    written = _rank_and_store(db, data, fitted, parameters, allowed, model_id, step)
    db.transact(lambda conn: service.finish(conn, program_id, model_id))
    return Trained(model_id, len(history.member_ids), len(data.ranked), len(history.items),
                   written, time.perf_counter() - began)


def _rank_and_store(db: Database, data: service.TrainingData, fitted: Any,
                    parameters: Parameters, allowed: dict[int, frozenset[str]], model_id: int,
                    step: Advance) -> int:
    total = len(data.ranked)
    step("ranking members", 0, total)
    if fitted is None or not total:
        return 0
    pending: list[dict[str, Any]] = []
    done = written = 0
    for members, picks in model.rank(data.history, fitted, data.ranked, parameters, allowed):
        pending += service.rows_of(data, model_id, picks)
        done += members
        if len(pending) >= WRITE_ROWS:
            db.transact(lambda conn, rows=pending: service.store(conn, rows))
            written += len(pending)
            pending = []
        step("ranking members", done, total)
    if pending:
        db.transact(lambda conn: service.store(conn, pending))
        written += len(pending)
    return written


def run_all(db: Database, now: datetime) -> dict[str, int]:
    """Every program in turn, with the default parameters; the totals."""
    totals = {"programs": 0, "members": 0, "rows": 0}
    for program_id in db.read(all_program_ids):
        done = train_program(db, program_id, now)
        totals["programs"] += 1
        totals["members"] += done.ranked
        totals["rows"] += done.rows
    return totals
