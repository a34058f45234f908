"""Every built-in reaction to what happens to members, registered in one place.

Read this module to know who reacts to what (see ``patron.hooks`` for the list
of happenings). An extension registers its own subscribers the same way,
from its own module.

The ledger's pool directory is wired here too: the ledger asks the households
where each member's points are held (``patron.ledger.pools``).
"""

from __future__ import annotations

from patron import hooks
from patron.campaigns import service as campaigns
from patron.engagement.batch import BatchEngagement
from patron.flows import earning
from patron.flows.match_review import default_merge
from patron.flows import member_status
from patron.auth import portal
from patron.events import retention as event_retention
from patron.households.directory import HouseholdPools
from patron.ledger import pools
from patron.matching import candidates as match_candidates
from patron.matching.enrolment import EnrolmentMatcher, on_member_profile_changed
from patron.notifications import outbox as notifications
from patron.recommendations import service as recommendations
from patron.referrals import service as referrals
from patron.rewards import ready as rewards_ready
from patron.segments import service as segments
from patron.tiers import placement as tier_placement
from patron.tiers import service as tiers
from patron.transfers import service as transfers
from patron.webhooks import outbox
from patron.webhooks.event_types import BY_HAPPENING

pools.use_directory(HouseholdPools())
enrolment_matcher = EnrolmentMatcher(default_merge)
"""Merges or queues a new member who matches someone already enrolled."""

hooks.subscribe(hooks.MembersEnrolled, referrals.on_members_enrolled)
hooks.subscribe(hooks.EventsRecorded, referrals.on_events_recorded)
hooks.subscribe(hooks.HouseholdChanged, tier_placement.on_household_changed)
hooks.subscribe(hooks.MembersEnrolled, enrolment_matcher)
hooks.subscribe(hooks.MemberStatusChanged, member_status.on_member_status_changed)
hooks.subscribe(hooks.MemberProfileChanged, on_member_profile_changed)
hooks.subscribe(hooks.CouponUsed, campaigns.on_coupon_used)
hooks.subscribe(hooks.TierChanged, recommendations.on_tier_changed)
hooks.subscribe(hooks.RewardRedeemed, recommendations.on_reward_redeemed)
hooks.subscribe(hooks.PointsAvailable, rewards_ready.on_points_available)
earning.STEPS.append(BatchEngagement)
"""Badges, challenges and streaks move with each event a batch earns on."""
# An erasure: each domain drops what it keeps about the person beyond ids and amounts.
hooks.subscribe(hooks.MemberErased, segments.on_member_erased)
hooks.subscribe(hooks.MemberErased, match_candidates.on_member_erased)
hooks.subscribe(hooks.MemberErased, transfers.on_member_erased)
hooks.subscribe(hooks.MemberErased, tiers.on_member_erased)
hooks.subscribe(hooks.MemberErased, event_retention.on_member_erased)
hooks.subscribe(hooks.MemberErased, portal.on_member_erased)
hooks.subscribe(hooks.MemberErased, notifications.on_member_erased)
hooks.subscribe(hooks.MemberErased, outbox.on_member_erased)
# Notifications to members, only where their consent allows (patron.notifications).
hooks.subscribe(hooks.PointsEarned, notifications.on_points_earned)
hooks.subscribe(hooks.PointsExpiringSoon, notifications.on_points_expiring)
hooks.subscribe(hooks.TierChanged, notifications.on_tier_changed)
hooks.subscribe(hooks.RewardRedeemed, notifications.on_reward_redeemed)
hooks.subscribe(hooks.RewardsReady, notifications.on_rewards_ready)
# Webhooks last: the outbox tells of a change once the other reactions have accepted it.
for _happening in BY_HAPPENING:
    hooks.subscribe(_happening, outbox.on_happening)
