"""The member 360° view: one member whole, assembled from every domain that knows them.

It is a flow because it reads across domains: the profile and merges from members, the
balance from the ledger, the tier from tiers, the statement's explained lines
(``patron.flows.statement``), orders from events, redemptions from rewards, the
household, referrals, and badges, challenges and streaks from engagement. It only reads.
A record merged into another answers with its own history and ``merged_into`` naming the
survivor.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron.engagement import service as engagement
from patron.events import repository as events_repository
from patron.flows.member_view_schemas import (ChannelIdentities, ChannelOrders, Member360,
                                              MemberHousehold, MemberReferrals, MergeRecord)
from patron.flows.statement import ledger_page
from patron.households import service as households
from patron.ledger import service as ledger
from patron.members import repository as member_repository
from patron.members import service as members
from patron.members.schemas import Member
from patron.program.service import Program
from patron.referrals import repository as referrals_repository
from patron.referrals.schemas import Referred, ReferredBy
from patron.rewards import service as rewards
from patron.tiers import service as tiers
from patron.tiers.schemas import MemberTier

RECENT = 20
"""Ledger lines, redemptions and referrals shown; each has its own paged endpoint."""


def member_360(conn: Connection, program: Program, member_id: int, now: datetime) -> Member360:
    """Everything ``GET /members/{id}/360`` shows (404 for an unknown member)."""
    row = members.person_row(conn, program, member_id)
    member = members.get_member(conn, program, member_id)
    return Member360(
        member=member, merged_into=row.merged_into,
        identities_by_channel=_by_channel(member),
        balance=ledger.balance(conn, program, member_id),
        tier=_tier(conn, program, member_id, now),
        recent_ledger=ledger_page(conn, program, member_id, None, RECENT).items,
        orders_by_channel=[ChannelOrders(channel=r.channel, currency=r.currency,
                                         orders=r.orders, spend=int(r.spend))
                           for r in events_repository.orders_by_channel(conn, program.id,
                                                                        member_id)],
        redemptions=rewards.member_redemptions(conn, program, member_id, None, RECENT).items,
        household=_household(conn, program, member_id),
        referrals=_referrals(conn, program, member_id),
        engagement=engagement.member_engagement(conn, program, member_id, now),
        merges=[_merge(r, member_id) for r in member_repository.merges_of(conn, member_id)],
        status_history=members.status_history(conn, program, member_id))


def _by_channel(member: Member) -> list[ChannelIdentities]:
    groups: dict[str | None, ChannelIdentities] = {}
    for identity in member.identities:
        groups.setdefault(identity.channel, ChannelIdentities(channel=identity.channel,
                                                              identities=[]))
        groups[identity.channel].identities.append(identity)
    return list(groups.values())


def _tier(conn: Connection, program: Program, member_id: int, now: datetime
          ) -> MemberTier | None:
    try:
        return MemberTier(**tiers.member_tier(conn, program, member_id, now))
    except tiers.NoTiers:
        return None


def _household(conn: Connection, program: Program, member_id: int) -> MemberHousehold | None:
    found = households.household_of(conn, program.id, [member_id]).get(member_id)
    if found is None:
        return None
    household_id, role = found
    return MemberHousehold(household_id=household_id, role=role,
                           members=households.members_of(conn, household_id))


def _referrals(conn: Connection, program: Program, member_id: int) -> MemberReferrals:
    """What ``GET /members/{id}/referrals`` shows, read only: no code is made for a member
    who has none yet."""
    rows = referrals_repository.of_referrer(conn, program.id, member_id, RECENT)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.state] = counts.get(row.state, 0) + 1
    referred = referrals_repository.referral_of(conn, program.id, member_id)
    return MemberReferrals(
        code=referrals_repository.code_of(conn, program.id, member_id), counts=counts,
        referrals=[Referred(referee_id=r.referee_id, state=r.state, reason=r.reason,
                            attributed_at=r.attributed_at, order_id=r.order_id,
                            pay_after=r.pay_after) for r in rows],
        referred_by=(ReferredBy(referrer_id=referred.referrer_id, state=referred.state,
                                reason=referred.reason) if referred else None))


def _merge(row: Any, member_id: int) -> MergeRecord:
    return MergeRecord(id=row.id, role="survivor" if row.survivor_id == member_id else "merged",
                       survivor_id=row.survivor_id, merged_id=row.merged_id, state=row.state,
                       reason=row.reason, actor=row.actor, source=row.source,
                       created_at=row.created_at, undone_at=row.undone_at,
                       undone_by=row.undone_by)
