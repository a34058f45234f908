"""What a replay's campaigns would give and cost, counted beside the simulator.

Who is in a campaign's treatment is the caller's to say (``Simulator``'s
``campaigns``: member key → campaign ids), since it needs the database: the
recorded group, or the deterministic bucket rule for the target segment now.
The tally keeps each campaign's budget spent so far, so the engine cuts awards
where the live budget would, and counts those cut-offs.
"""

from __future__ import annotations

from dataclasses import dataclass

from patron.program.document import ProgramDocument
from patron.program.engine import Evaluation


@dataclass
class CampaignReport:
    campaign_id: str
    name: str
    points_issued: int = 0
    cost_minor: int = 0
    """Money: points at the point value (rounded up per award) plus cashback."""
    members_reached: int = 0
    budget_cutoffs: int = 0
    """Awards cut short, or refused, because the campaign's budget was spent."""
    budget_points: int | None = None
    budget_money: int | None = None


class CampaignTally:
    """Each campaign's spend during a replay, and its report."""

    def __init__(self, document: ProgramDocument) -> None:
        self.reports = {c.id: CampaignReport(
            c.id, c.name, budget_points=c.budget.points if c.budget else None,
            budget_money=c.budget.money if c.budget else None) for c in document.campaigns}
        self.rule_campaign = {rule.id: c.id for c in document.campaigns
                              for rule in c.earn_rules}
        self.used: dict[str, tuple[int, int]] = {}
        self.members: dict[str, set[str]] = {c.id: set() for c in document.campaigns}

    def campaign_used(self, campaign_id: str) -> tuple[int, int]:
        return self.used.get(campaign_id, (0, 0))

    def record(self, member: str, evaluation: Evaluation) -> None:
        for campaign_id, points, money in evaluation.campaign_spend:
            used = self.used.get(campaign_id, (0, 0))
            self.used[campaign_id] = (used[0] + points, used[1] + money)
            report = self.reports[campaign_id]
            report.points_issued += points
            report.cost_minor += money
            self.members[campaign_id].add(member)
        for total in evaluation.totals:
            if total.capped_by == "campaign_budget":
                self.reports[self.rule_campaign[total.rule_id]].budget_cutoffs += 1
        for note in evaluation.notes:
            if note.code == "campaign_budget_exhausted":
                self.reports[self.rule_campaign[note.rule_id]].budget_cutoffs += 1

    def report(self) -> list[CampaignReport]:
        for campaign_id, report in self.reports.items():
            report.members_reached = len(self.members[campaign_id])
        return list(self.reports.values())
