"""Engagement payloads: a member's badges, challenges and streaks, as they stand now."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field


class Reward(BaseModel):
    points: int | None = Field(None, description="Points it gives")
    coupon: str | None = Field(None, description="The coupon type it issues")
    text: str = Field(description='As the member reads it: "+100 Beans and $5 off"')


class BadgeLevel(BaseModel):
    id: str = Field(description='The level\'s id; "earned" for a badge without levels')
    name: str
    earned_at: datetime | None = Field(description="null: not earned yet")
    reward: Reward | None


class MemberBadge(BaseModel):
    id: str
    name: str
    description: str | None
    earned: bool = Field(description="The member holds it (a level of it, with levels)")
    earned_at: datetime | None = Field(description="When the first level was earned")
    levels: list[BadgeLevel] = Field(description="Each level (one for a badge without "
                                     "levels), earned or not")
    text: str = Field(description='"Badge earned: Regular" or how to earn it')


class MemberChallenge(BaseModel):
    id: str
    name: str
    description: str | None
    status: Literal["upcoming", "running", "ended"]
    starts: datetime
    ends: datetime = Field(description="Exclusive")
    every: Literal["week", "month"] | None = Field(description="A new goal each week or "
                                                   "month; null: one for the window")
    period: str | None = Field(description="The goal shown: its week (2026-W19) or month "
                               "(2026-05); null for the window's one goal")
    opt_in: bool
    joined: bool = Field(description="Always true for a challenge without opt-in")
    joined_at: datetime | None
    value: int = Field(description="Count, distinct values or sum so far for this goal")
    target: int
    unit: str
    completed_at: datetime | None
    reward: Reward | None
    text: str = Field(description='"May visits: 2 of 3 visits this month"')


class NextMilestone(BaseModel):
    periods: int
    remaining: int = Field(description="Periods still to go")
    reward: Reward


class MemberStreak(BaseModel):
    id: str
    name: str
    description: str | None
    period: Literal["day", "week"]
    length: int = Field(description="Periods in a row now (0: no streak going)")
    best: int = Field(description="The longest streak the member has had")
    alive: bool = Field(description="The streak goes on if the member acts in time")
    this_period_done: bool = Field(description="Today (or this week) already counts")
    keep_by: date | None = Field(description="The last day (program timezone) an action "
                                 "keeps the streak going")
    grace_left: int = Field(description="Missed periods it may still skip")
    next_milestone: NextMilestone | None
    text: str = Field(description='"Weekly coffee: 5 weeks in a row; visit by Sunday 14 '
                      'Jun to keep it going"')


class MemberEngagement(BaseModel):
    badges: list[MemberBadge]
    challenges: list[MemberChallenge]
    streaks: list[MemberStreak]
