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
from patron.flows.match_review import default_merge
from patron.flows import member_status
from patron.households.directory import HouseholdPools
from patron.ledger import pools
from patron.matching.enrolment import EnrolmentMatcher, on_member_profile_changed
from patron.recommendations import service as recommendations
from patron.referrals import service as referrals
from patron.tiers import placement as tier_placement

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
