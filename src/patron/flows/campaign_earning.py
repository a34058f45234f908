"""What campaigns add to the earning of a batch: who is in treatment, and their budgets.

When an event falls in a running campaign of its version, the batch's members'
treatment assignments are read in one query, so the engine applies the
campaign's rules only to them. A budgeted campaign's spend (points, and money:
points at the point value plus cashback) is read without a lock and added at
write, with the rule budgets' recipe: if another transaction spent from it
meanwhile in a way that could change this batch's outcome, ``ReadChanged`` has
the transaction run again.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron.campaigns import repository
from patron.db.engine import ReadChanged
from patron.program.compiled import CompiledProgram
from patron.program.engine import Evaluation

_NONE: frozenset[str] = frozenset()


class CampaignEarning:
    """Treatment groups and budget usage of the campaigns a batch's events fall in."""

    def __init__(self, conn: Connection, program_id: int,
                 events: Sequence[tuple[CompiledProgram, datetime]],
                 member_ids: Collection[int]) -> None:
        self.conn, self.program_id = conn, program_id
        running: set[str] = set()
        self.limits: dict[str, tuple[int | None, int | None]] = {}
        for compiled, at in events:
            for campaign_id in compiled.running_campaigns(at):
                running.add(campaign_id)
                budget = compiled.campaigns[campaign_id].budget
                if budget is not None:
                    self.limits[campaign_id] = _tighter(self.limits.get(campaign_id), budget)
        self.treatment = (repository.treatment_of(conn, program_id, member_ids, running)
                          if running else {})
        self.used = repository.budgets_used(conn, program_id, self.limits)
        self.read = dict(self.used)
        self.added: dict[str, tuple[int, int]] = {}

    def campaigns_of(self, member_id: int) -> frozenset[str]:
        return self.treatment.get(member_id, _NONE)

    def campaign_used(self, campaign_id: str) -> tuple[int, int]:
        return self.used.get(campaign_id, (0, 0))

    def count(self, evaluation: Evaluation) -> None:
        for campaign_id, points, money in evaluation.campaign_spend:
            if campaign_id not in self.limits:
                continue
            used, added = self.used[campaign_id], self.added.get(campaign_id, (0, 0))
            self.used[campaign_id] = (used[0] + points, used[1] + money)
            self.added[campaign_id] = (added[0] + points, added[1] + money)

    def write(self) -> None:
        added = {k: v for k, v in self.added.items() if v != (0, 0)}
        totals = repository.add_budget(self.conn, self.program_id, added)
        for campaign_id, total in totals.items():
            read, more = self.read[campaign_id], added[campaign_id]
            for i, limit in enumerate(self.limits[campaign_id]):
                expected = read[i] + more[i]
                if limit is not None and total[i] != expected and (
                        total[i] > limit or expected >= limit):
                    raise ReadChanged(f"budget of campaign {campaign_id} moved from {read} "
                                      "meanwhile")


def _tighter(known: tuple[int | None, int | None] | None,
             budget: Any) -> tuple[int | None, int | None]:
    """The smaller of two versions' limits, per dimension (None: unlimited)."""
    if known is None:
        return budget.points, budget.money
    return tuple(b if a is None else a if b is None else min(a, b)  # type: ignore[return-value]
                 for a, b in zip(known, (budget.points, budget.money), strict=True))
