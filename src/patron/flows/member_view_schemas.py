"""The member 360° view's payload: one member, whole, as ``GET /members/{id}/360`` shows it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from patron.engagement.schemas import MemberEngagement
from patron.households.schemas import HouseholdMember
from patron.ledger.schemas import Balance, LedgerEntry
from patron.members.schemas import Identity, Member, StatusChangeRecord
from patron.referrals.schemas import Referred, ReferredBy
from patron.rewards.schemas import Redemption
from patron.tiers.schemas import MemberTier


class ChannelIdentities(BaseModel):
    channel: str | None = Field(description="The channel the identities were captured on "
                                "(null: not said)")
    identities: list[Identity]


class ChannelOrders(BaseModel):
    channel: str | None = Field(description="The channel the orders came through (null: not "
                                "said)")
    currency: str = Field(description="ISO 4217")
    orders: int = Field(description="Purchases recorded on this channel")
    spend: int = Field(description="Sum of the orders' totals, minor units, before returns")


class MemberHousehold(BaseModel):
    household_id: int
    role: str = Field(description="owner, adult or child")
    members: list[HouseholdMember] = Field(description="The household's current members")


class MemberReferrals(BaseModel):
    code: str | None = Field(description="The member's referral code, once they have one")
    counts: dict[str, int] = Field(description="The member's referrals by state")
    referrals: list[Referred] = Field(description="The latest 20 the member made, newest "
                                      "first")
    referred_by: ReferredBy | None = Field(description="Who referred this member")


class MergeRecord(BaseModel):
    """One merge this member took part in."""

    id: int
    role: str = Field(description="survivor: another record was merged into this member; "
                      "merged: this record was merged into ``survivor_id``")
    survivor_id: int
    merged_id: int
    state: str = Field(description="merged, or undone")
    reason: str | None
    actor: str = Field(description="Who merged: an API key's name or id, or a matching job")
    source: str = Field(description="How the merge came about (manual, rule, model, …)")
    created_at: datetime
    undone_at: datetime | None
    undone_by: str | None


class Member360(BaseModel):
    """Everything Patron knows about one member, in one answer."""

    member: Member = Field(description="Profile, identities, consents and status")
    merged_into: int | None = Field(description="Set when this record was merged into "
                                    "another member: that member's id (the survivor)")
    identities_by_channel: list[ChannelIdentities] = Field(
        description="The member's identities grouped by the channel they came from")
    balance: Balance = Field(description="Available and pending points; ``expiring`` lists the "
                             "next expiries, soonest first")
    tier: MemberTier | None = Field(description="Tier, progress to the next one and tier "
                                    "history (null when the program has no tiers)")
    recent_ledger: list[LedgerEntry] = Field(description="The latest ledger lines, newest "
                                             "first, each with its reason, rule and event")
    orders_by_channel: list[ChannelOrders] = Field(description="Order count and spend per "
                                                   "channel and currency")
    redemptions: list[Redemption] = Field(description="The latest rewards redeemed, newest "
                                          "first")
    household: MemberHousehold | None = Field(description="The household the member belongs "
                                              "to now")
    referrals: MemberReferrals
    engagement: MemberEngagement = Field(description="Badges, challenges and streaks, as "
                                         "GET /members/{id}/badges, /challenges and "
                                         "/streaks show them")
    merges: list[MergeRecord] = Field(description="Merges this member took part in, oldest "
                                      "first")
    status_history: list[StatusChangeRecord] = Field(description="Every status change, oldest "
                                                     "first")
