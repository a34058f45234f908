"""Simulation payloads: a draft document and the events to replay, and what the draft
would have done beside the current version.

They are the program API's and CLI's, but they carry events (``EventIn``), so they
live with the replay that reads them, above the events domain; the program
package stays free of events.

Money is integer minor units of the currency named beside it; points are integers.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from patron.events.schemas import EventIn
from patron.schemas_common import Day

MAX_SIMULATED_EVENTS = 10_000
"""Events one simulate request may carry."""


class SimulationRequest(BaseModel):
    """A draft document and the events to replay: given ones, or the program's own."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    document: dict[str, Any] | str = Field(
        description="The draft program document, as an object or as YAML/JSON text")
    events: list[EventIn] | None = Field(
        None, max_length=MAX_SIMULATED_EVENTS,
        description="Events to replay, in occurred_at order, shaped as POST /events takes "
                    "them; without them the program's recorded events in [from, to) are "
                    "replayed")
    start: Day | None = Field(None, alias="from", description="Recorded events: first day "
                               "replayed, in the program's timezone (default: 30 days before to)")
    end: Day | None = Field(None, alias="to", description="Recorded events: the day after "
                             "the last one replayed (default: tomorrow, so today is included)")


class RuleFigures(BaseModel):
    rule_id: str
    rule_name: str
    points_issued: int
    points_clawed_back: int = Field(description="Taken back by returns in the replay")
    net_points: int
    cost_minor: int = Field(description="Net points priced at settings.point_value_minor")
    awards: int = Field(description="Events (or returns) that gave this rule's points")
    members_affected: int
    capped_awards: int = Field(description="Awards cut short by a limit or budget")
    limit_reached: int = Field(description="Events a per-member limit stopped")
    budget_exhausted: int = Field(description="Events the rule's budget stopped")
    cashback: bool = Field(False, description="The rule gives money into the wallet: its "
                                              "points figures are minor units of money")
    gift: str | None = Field(None, description="The catalog gift the rule gives: its points "
                             "figures are units of that gift, and it costs no points")
    out_of_stock: int = Field(0, description="Events the gift's stock ran out for")


class GiftFigures(BaseModel):
    """Units of one catalog gift that gift rules gave in the replay."""

    reward_id: str
    reward_name: str
    stock: int | None = Field(description="The document's stock the replay started from; "
                              "null: unlimited")
    given: int
    cancelled: int = Field(description="Cancelled by returns in the replay")
    net: int
    out_of_stock: int = Field(description="Events that found none left")


class TierFigures(BaseModel):
    """Points issued to members while they held one tier, in the replay."""

    tier_id: str | None = Field(description="The tier; null for events that ran without "
                                "one (the document has no tiers, or not the recorded one)")
    tier_name: str
    events: int = Field(description="Events evaluated while members held this tier")
    members: int = Field(description="Members with at least one of those events")
    points_issued: int
    points_clawed_back: int = Field(description="Taken back by returns of orders earned "
                                                "at this tier")
    net_points: int
    cost_minor: int = Field(description="Net points priced at settings.point_value_minor")


class LargestAward(BaseModel):
    points: int
    rule_id: str
    member: str = Field(description="id:ID, or TYPE:VALUE for an identity")
    event_id: str | None
    explanation: str


class CampaignFigures(BaseModel):
    campaign_id: str
    name: str
    points_issued: int = Field(description="Points its earn rules would issue")
    cost_minor: int = Field(description="Their money cost: points at the point value plus "
                                        "cashback, minor units")
    members_reached: int = Field(description="Treatment members who earned by its rules")
    budget_cutoffs: int = Field(description="Awards cut short or refused by its budget")
    budget_points: int | None = None
    budget_money: int | None = None


class EngagementFigures(BaseModel):
    """What one badge, challenge or streak would give in the replay."""

    kind: Literal["badge", "challenge", "streak"]
    item_id: str
    name: str
    achieved: int = Field(description="Badges (levels) earned, challenge goals completed, "
                          "streak milestones reached")
    members: int = Field(description="Members who achieved it at least once")
    points_issued: int = Field(description="Points its rewards give (part of the totals)")
    coupons: int = Field(description="Coupons its rewards issue")
    coupon_money: int = Field(description="Their fixed money off, minor units (a percent "
                              "coupon counts 0: its value is known only at checkout)")
    cost_minor: int = Field(description="Points at the point value plus coupon_money")
    budget_cutoffs: int = Field(description="Challenge completions its budget left "
                                "without a reward")


class SimulationFigures(BaseModel):
    """What one document would have done with the replayed events."""

    program_name: str
    version: int | None = Field(description="The published version; null for the draft")
    currency: str
    point_value_minor: Decimal
    events_read: int
    events_evaluated: int
    events_skipped: dict[str, int] = Field(description="Events not evaluated, by reason")
    members_seen: int
    members_earning_nothing: int
    members_earning_nothing_sample: list[str]
    points_issued: int
    points_clawed_back: int
    net_points: int
    cost_minor: int
    rules: list[RuleFigures]
    largest_awards: list[LargestAward] = Field(description="The largest single awards")
    gifts: list[GiftFigures] = Field(default_factory=list,
                                     description="Catalog gifts gift rules gave, per reward")
    tiers: list[TierFigures] = Field(
        default_factory=list, description="Points per tier members held when each event "
        "occurred (as recorded; tiers are not recomputed from the replay): the document's "
        "ladder in order, then events without a tier")
    tiers_not_in_document: dict[str, int] = Field(
        default_factory=dict, description="Events whose member held a tier this document "
        "does not have, by tier id; they ran without a tier")
    plans_not_in_document: dict[str, int] = Field(
        default_factory=dict, description="Events whose member held a paid plan this "
        "document does not offer, by plan id; they ran without a plan")
    campaigns: list[CampaignFigures] = Field(
        default_factory=list, description="What each campaign's earn rules would issue "
        "and cost to its treatment group")
    engagement: list[EngagementFigures] = Field(
        default_factory=list, description="What each badge, challenge and streak would give "
        "and cost; its points are in points_issued and its cost in cost_minor (opt-in "
        "challenges as if every member joined)")


class RuleComparison(BaseModel):
    rule_id: str
    rule_name: str
    change: Literal["added", "removed", "kept"] = Field(
        description="added: only the draft has the rule; removed: only the current version")
    current: RuleFigures | None
    draft: RuleFigures | None
    net_points_change: int = Field(description="Draft minus current")
    cost_minor_change: int | None = Field(description="Draft minus current; null when the "
                                                      "currencies differ")


class GiftComparison(BaseModel):
    reward_id: str
    reward_name: str
    current: int | None = Field(description="Net units the current version gave; null when "
                                "no rule of it gives this gift")
    draft: int | None = Field(description="Net units the draft gave; null when no rule of it "
                              "gives this gift")
    net_change: int = Field(description="Draft minus current, in units of the gift")


class TierComparison(BaseModel):
    tier_id: str | None = Field(description="null: events that ran without a tier")
    tier_name: str
    current: TierFigures | None = Field(description="null when the current version has no "
                                        "such tier")
    draft: TierFigures | None = Field(description="null when the draft has no such tier")
    points_issued_change: int = Field(description="Draft minus current")
    net_points_change: int = Field(description="Draft minus current")


class SimulatedEvents(BaseModel):
    kind: Literal["given", "recorded"]
    start: datetime | None = Field(None, description="Recorded: first instant replayed")
    end: datetime | None = Field(None, description="Recorded: first instant not replayed")


class SimulationComparison(BaseModel):
    """The draft beside the current version, over the same events. Nothing was written."""

    events: SimulatedEvents
    draft: SimulationFigures
    current: SimulationFigures | None = Field(
        description="The program's current version; null when simulating without a program")
    rules: list[RuleComparison] = Field(description="Every rule of either document")
    gifts: list[GiftComparison] = Field(default_factory=list, description="Every catalog gift "
                                        "a gift rule of either document gives")
    tiers: list[TierComparison] = Field(
        default_factory=list, description="Points per tier, draft beside current: the draft's "
        "ladder, tiers only the current version has, then events without a tier; empty when "
        "neither document has tiers")
    net_points_change: int | None
    cost_minor_change: int | None
    elapsed_seconds: float
