"""A transfer is announced as points the giver spent and the receiver earned."""

from __future__ import annotations

import pytest

from patron import hooks
from patron.ledger.domain import InsufficientPoints
from tests.listening import heard
from tests.transfers.factories import Club


def test_a_transfer_is_spent_by_the_giver_and_earned_by_the_receiver(database, clock):
    club = Club(database, clock)
    ann, bob = club.member(points=100), club.member()
    with heard(hooks.PointsSpent) as spent, heard(hooks.PointsEarned) as earned:
        sent = club.send(ann, bob, 30)
        with pytest.raises(InsufficientPoints):
            club.send(ann, bob, 500)
    [given] = [m for h in spent for m in h.moves]
    [received] = [m for h in earned for m in h.moves]
    assert (given.member_id, given.points, given.kind, given.entry_id) == (
        ann, 30, "transfer", sent.out_entry_id)
    assert (received.member_id, received.points, received.kind, received.entry_id) == (
        bob, 30, "transfer", sent.in_entry_id)
