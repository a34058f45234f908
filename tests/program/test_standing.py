"""What a recorded tier and plan are worth under one document."""

from __future__ import annotations

from decimal import Decimal

from patron.program.standing import Standing, place
from tests.program.test_simulate import tiered

DOCUMENT = tiered()
PLANS = {plan.id: plan for plan in DOCUMENT.memberships}


def test_a_tier_above_the_plans_floor_is_kept_with_both_multipliers():
    placing = place(DOCUMENT.tiers, PLANS, Standing("gold", "plus"))
    assert placing.tier == "gold"
    assert placing.multipliers == {"tier": Decimal(2), "membership": Decimal(3)}
    assert (placing.missing_tier, placing.missing_plan) == (None, None)


def test_the_plans_floor_lifts_a_lower_or_unrecorded_tier():
    assert place(DOCUMENT.tiers, PLANS, Standing(None, "plus")).tier == "silver"
    assert place(DOCUMENT.tiers, PLANS, Standing("member", "plus")).tier == "silver"
    assert place(DOCUMENT.tiers, PLANS, Standing(None, None)).tier == "member"


def test_what_the_document_lacks_is_left_out_and_named():
    unknown_tier = place(DOCUMENT.tiers, PLANS, Standing("diamond", "plus"))
    assert (unknown_tier.tier, unknown_tier.missing_tier) == ("silver", "diamond")
    unknown_plan = place(DOCUMENT.tiers, PLANS, Standing("gold", "family"))
    assert unknown_plan.multipliers == {"tier": Decimal(2)}
    assert unknown_plan.missing_plan == "family"
    no_ladder = place(None, {}, Standing("gold"))
    assert (no_ladder.tier, no_ladder.multipliers, no_ladder.missing_tier) == (None, {}, "gold")
