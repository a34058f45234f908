"""The engagement side of the program document: badges, challenges and streaks.

Members want a program that is a little fun and rewards them in good time; brands want
members who come back. Three sections of the document say how:

- **badges**: earned once (or once per level) at the first event whose ``when``
  holds, e.g. ``member.purchase_count >= 10``; a badge may give points or a coupon.
- **challenges**: a time-boxed goal (``3 visits to a store in May``, ``2 categories``,
  ``5 eco actions``) counted over qualifying events: their number, the distinct
  values of a field, or the sum of one. Completing it gives its reward once (once a
  week or month with ``every``), within its budget; members may have to join first
  (``opt_in``), and a ``holdout`` share is kept out to measure what it does.
- **streaks**: consecutive days or weeks, in the program's timezone, with a
  qualifying action; ``grace`` forgives a missed period now and then, and
  ``milestones`` reward a streak as it reaches 4, 8, … periods.

Conditions (``when``) are CEL over ``event`` and ``member`` as earn rules read them,
except that ``member`` is the member *after* the event: ``member.purchase_count``
counts the purchase being recorded, so "a badge at the 10th purchase" is ``>= 10``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from patron.program.validity import ValidityBound

ITEM_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"
Measure = Literal["count", "distinct", "sum"]
StreakPeriod = Literal["day", "week"]
MAX_DISTINCT = 1000
"""Most distinct values a challenge may ask for: the values seen are kept per member."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EngagementReward(_Model):
    """What reaching a badge, a challenge's goal or a streak's milestone gives: points
    (a ledger entry naming it), a coupon of the document's ``coupons``, or both."""

    points: int | None = Field(None, gt=0, le=100_000_000, description="Points credited "
                               "at once (not pending), expiring like any other")
    coupon: str | None = Field(None, pattern=ITEM_ID, description="A coupon type of the "
                               "document's coupons: one code issued to the member")

    @model_validator(mode="after")
    def _something(self) -> EngagementReward:
        if self.points is None and self.coupon is None:
            raise ValueError("give points and/or coupon")
        return self


class BadgeLevel(_Model):
    id: str = Field(pattern=ITEM_ID, description="Stable id of the level within the badge")
    name: str = Field(min_length=1, max_length=120, description="Shown to members")
    when: str = Field(description="CEL condition; the level is earned at the first event "
                      "it holds for")
    reward: EngagementReward | None = None


class Badge(_Model):
    """A badge, earned once: with ``when`` (and an optional ``reward``), or one level at
    a time with ``levels`` (each earned once, whichever order they are met in)."""

    id: str = Field(pattern=ITEM_ID, description="Stable id; awards and the API refer to it")
    name: str = Field(min_length=1, max_length=120, description="Shown to members")
    description: str | None = Field(None, max_length=500, description="How to earn it, "
                                    "for members")
    on: list[str] | None = Field(None, description="Event types at which it is checked; "
                                 "absent: every event (the condition may then not read "
                                 "event.data)")
    when: str | None = Field(None, description="CEL condition over event and member (the "
                             "member after the event)")
    reward: EngagementReward | None = None
    levels: list[BadgeLevel] = Field(default_factory=list, description="Levels, each with "
                                     "its own condition and reward, instead of when/reward")
    active: bool = True

    @model_validator(mode="after")
    def _one_way(self) -> Badge:
        if (self.when is None) == (not self.levels):
            raise ValueError("give when (one badge) or levels, not both")
        if self.levels and self.reward is not None:
            raise ValueError("with levels, each level has its own reward")
        return self

    def steps(self) -> list[tuple[str, str, str, EngagementReward | None]]:
        """(key, name, condition, reward) of each thing to earn: the levels, or the badge
        itself under the key ``earned``."""
        if self.levels:
            return [(level.id, level.name, level.when, level.reward) for level in self.levels]
        assert self.when is not None
        return [(ONCE, self.name, self.when, self.reward)]


ONCE = "earned"
"""The key a badge without levels is recorded under."""


class Goal(_Model):
    """What a challenge counts over its qualifying events, and how much completes it."""

    measure: Measure = Field("count", description="count: qualifying events; distinct: "
                             "different values of field; sum: the total of field")
    field: str | None = Field(None, max_length=100, description="distinct and sum: "
                              "event.data.<name>, event.channel, or line.<name> (each "
                              "purchase line)")
    target: int = Field(ge=1, le=10**12, description="The count, number of values or sum "
                        "that completes it")
    unit: str | None = Field(None, min_length=1, max_length=40, description="What is "
                             "counted, as members read it: visits, categories, actions")

    @model_validator(mode="after")
    def _field(self) -> Goal:
        if (self.measure == "count") != (self.field is None):
            raise ValueError("distinct and sum need a field; count takes none")
        if self.measure == "distinct" and self.target > MAX_DISTINCT:
            raise ValueError(f"a distinct goal asks for at most {MAX_DISTINCT} values")
        return self


class ChallengeBudget(_Model):
    """Like a campaign's budget: once the rewards given would pass it, completing the
    challenge gives nothing more (the member is told)."""

    points: int | None = Field(None, ge=0, le=10**15, description="Most points its "
                               "rewards give in total")
    money: int | None = Field(None, ge=0, le=10**15, description="Most its rewards may "
                              "cost, minor units: points at settings.point_value_minor and "
                              "the fixed value of the coupons")


class Challenge(_Model):
    id: str = Field(pattern=ITEM_ID, description="Stable id; progress and the API refer to "
                    "it")
    name: str = Field(min_length=1, max_length=120, description="Shown to members")
    description: str | None = Field(None, max_length=500)
    starts: ValidityBound = Field(description="A date (start of that day in the program "
                                  "timezone) or a date-time")
    ends: ValidityBound = Field(description="A date is inclusive; a date-time is exclusive")
    every: Literal["week", "month"] | None = Field(None, description="A new goal every "
                                                   "calendar week or month of the window; "
                                                   "absent: one goal for the whole window")
    on: list[str] = Field(min_length=1, description="Event types that can qualify")
    when: str | None = Field(None, description="CEL condition a qualifying event meets")
    goal: Goal
    reward: EngagementReward | None = None
    opt_in: bool = Field(False, description="Members join first (POST /members/{id}/"
                         "challenges/{challenge}/join); only events after joining count")
    holdout: Decimal = Field(Decimal(0), ge=0, le=Decimal("0.5"), description="Share of "
                             "members kept out, to measure what the challenge does: they "
                             "do not see it")
    budget: ChallengeBudget | None = None
    active: bool = True


class Grace(_Model):
    """Missed periods a streak forgives: ``missed`` for every ``per`` periods of it."""

    missed: int = Field(1, ge=1, le=100, description="Missed periods forgiven ...")
    per: int = Field(ge=1, le=1000, description="... for every this many periods of the "
                     "streak so far")


class Milestone(_Model):
    periods: int = Field(ge=1, le=10_000, description="Streak length that reaches it")
    name: str | None = Field(None, min_length=1, max_length=120)
    reward: EngagementReward


class Streak(_Model):
    """Consecutive days or weeks with a qualifying action. A period without one breaks
    the streak unless ``grace`` forgives it; a broken streak starts again at 1. Each
    milestone rewards a streak once (a streak built again after a break can reach it
    again)."""

    id: str = Field(pattern=ITEM_ID)
    name: str = Field(min_length=1, max_length=120)
    description: str | None = Field(None, max_length=500)
    period: StreakPeriod = Field(description="day or week (Monday to Sunday), in the "
                                 "program timezone")
    on: list[str] = Field(min_length=1, description="Event types that keep it going, e.g. "
                          "purchase, social_share, eco_action")
    when: str | None = Field(None, description="CEL condition a qualifying event meets")
    grace: Grace | None = None
    milestones: list[Milestone] = Field(default_factory=list)
    active: bool = True
