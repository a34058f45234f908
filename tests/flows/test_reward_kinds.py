"""The registry of reward kinds: every kind a program document accepts has a strategy."""

from __future__ import annotations

from typing import get_args

from patron.flows.reward_kinds import KINDS, kind_of
from patron.program.incentives import Reward


def test_every_reward_type_the_document_accepts_has_a_strategy():
    accepted = set(get_args(Reward.model_fields["type"].annotation))
    assert accepted == set(KINDS)
    assert all(kind_of(reward_type).type == reward_type for reward_type in accepted)


def test_a_tracked_kind_starts_where_a_new_redemption_stands():
    tracked = {kind.type: kind.steps for kind in KINDS.values() if kind.steps}
    assert tracked == {"gift": ("pending_fulfilment", "sent", "delivered"),
                       "experience": ("booked", "attended")}
    assert all(KINDS[t].steps[0] == KINDS[t].redeemed for t in tracked)
    assert all(KINDS[t].already_fulfilled is not None for t in tracked)
