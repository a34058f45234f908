"""An experience reward holds a place (its stock) until the member attends.

A booked place may be cancelled and goes back in stock; once attended it is the
member's (409 ``experience_attended``).
"""

from __future__ import annotations

from patron.flows.reward_kinds.base import AlreadyFulfilled, RewardKind


class ExperienceAttended(AlreadyFulfilled):
    code, title = "experience_attended", "Experience already attended"


class Experience(RewardKind):
    type = "experience"
    redeemed = "booked"
    steps = ("booked", "attended")
    already_fulfilled = ExperienceAttended
