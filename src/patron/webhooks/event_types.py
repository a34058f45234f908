"""The webhook event types: what each one is, which happening makes it, what it says.

Each type is an entry in ``EVENT_TYPES``: its name (``points.earned``), the happening of
``patron.hooks`` it comes from, and a pure function from that happening to the messages
it makes, one per member touched, each with the member, the time it happened and its
``data``. A new type is one ``register`` call; nothing else switches on names.

Every message's body is Standard Webhooks' shape::

    {"type": "points.earned", "timestamp": "2026-03-02T12:00:00+00:00",
     "data": {"program": "acme", "member_id": 7, "points": 120, ...}}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from patron import hooks


class Message(NamedTuple):
    member_id: int | None
    """Whose message it is: a member's messages reach an endpoint in order. None: about
    no member (a campaign's start)."""
    at: datetime
    data: dict[str, Any]


@dataclass(frozen=True)
class EventType:
    name: str
    happening: type
    description: str
    messages: Callable[[Any], Iterable[Message]]


EVENT_TYPES: dict[str, EventType] = {}
BY_HAPPENING: dict[type, tuple[EventType, ...]] = {}


def register(entry: EventType) -> EventType:
    """Add an event type. An extension adding one for a happening of its own also
    subscribes ``outbox.on_happening`` to that happening (Patron's are subscribed in
    ``patron.flows.subscribers``)."""
    if entry.name in EVENT_TYPES:
        raise ValueError(f"webhook event type {entry.name!r} is registered already")
    EVENT_TYPES[entry.name] = entry
    BY_HAPPENING[entry.happening] = (*BY_HAPPENING.get(entry.happening, ()), entry)
    return entry


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _moves(happened: Any) -> Iterable[Message]:
    for move in happened.moves:
        yield Message(move.member_id, move.at, {
            "member_id": move.member_id, "points": move.points, "kind": move.kind,
            "reason": move.reason, "entry_id": move.entry_id, "account_id": move.account_id,
            "at": move.at.isoformat()})


def _enrolled(happened: hooks.MembersEnrolled) -> Iterable[Message]:
    for member in happened.members:
        data: dict[str, Any] = {"member_id": member.member_id,
                                "joined_at": member.joined_at.isoformat(),
                                "channel": member.channel}
        if member.identities is not None:
            data["identities"] = [{"type": i.type, "value": i.value, "channel": i.channel}
                                  for i in member.identities]
        yield Message(member.member_id, member.joined_at, data)


def _tier(happened: hooks.TierChanged) -> Iterable[Message]:
    yield Message(happened.member_id, happened.at, {
        "member_id": happened.member_id, "from_tier": happened.from_tier,
        "to_tier": happened.to_tier, "kind": happened.kind, "at": happened.at.isoformat()})


def _redeemed(happened: hooks.RewardRedeemed) -> Iterable[Message]:
    yield Message(happened.member_id, happened.at, {
        "member_id": happened.member_id, "redemption_id": happened.redemption_id,
        "reward_id": happened.reward_id, "reward_type": happened.reward_type,
        "points": happened.points, "at": happened.at.isoformat()})


def _coupon(happened: hooks.CouponIssued) -> Iterable[Message]:
    yield Message(happened.member_id, happened.at, {
        "member_id": happened.member_id, "code": happened.code,
        "coupon_type": happened.coupon_type, "source": happened.source,
        "expires_at": _iso(happened.expires_at), "at": happened.at.isoformat()})


def _referral(happened: hooks.ReferralQualified) -> Iterable[Message]:
    yield Message(happened.referrer_id, happened.at, {
        "referral_id": happened.referral_id, "member_id": happened.referrer_id,
        "referee_id": happened.referee_id, "order_id": happened.order_id,
        "at": happened.at.isoformat()})


def _merge(happened: hooks.MembersMerged | hooks.MergeUndone) -> Iterable[Message]:
    yield Message(happened.survivor_id, happened.at, {
        "merge_id": happened.merge_id, "member_id": happened.survivor_id,
        "merged_id": happened.merged_id, "actor": happened.actor,
        "at": happened.at.isoformat()})


def _status(happened: hooks.MemberStatusChanged) -> Iterable[Message]:
    yield Message(happened.member_id, happened.at, {
        "member_id": happened.member_id, "from_status": happened.from_status,
        "to_status": happened.to_status, "reason": happened.reason,
        "actor": happened.actor, "at": happened.at.isoformat()})


def _expiring(happened: hooks.PointsExpiringSoon) -> Iterable[Message]:
    for notice in happened.notices:
        yield Message(notice.member_id, notice.expires_at, {
            "member_id": notice.member_id, "points": notice.points,
            "expires_at": notice.expires_at.isoformat(), "account_id": notice.account_id,
            "notice_id": notice.notice_id})


def _campaign(happened: hooks.CampaignStarted) -> Iterable[Message]:
    yield Message(None, happened.at, {
        "campaign_id": happened.campaign_id, "name": happened.name,
        "starts": _iso(happened.starts), "ends": _iso(happened.ends),
        "at": happened.at.isoformat()})


def _ready(happened: hooks.RewardsReady) -> Iterable[Message]:
    for ready in happened.rewards:
        yield Message(ready.member_id, ready.at, {
            "member_id": ready.member_id, "reward_id": ready.reward_id,
            "reward_name": ready.reward_name, "cost_points": ready.cost_points,
            "available_points": ready.available, "at": ready.at.isoformat()})


def _notification(happened: hooks.NotificationsRendered) -> Iterable[Message]:
    for message in happened.messages:
        yield Message(message.member_id, message.at, {
            "member_id": message.member_id, "kind": message.kind, "channel": message.channel,
            "language": message.language, "subject": message.subject, "body": message.body,
            "at": message.at.isoformat()})


for _entry in (
    EventType("member.enrolled", hooks.MembersEnrolled,
              "A member joined (API, import, or an event from an unknown identity)", _enrolled),
    EventType("points.earned", hooks.PointsEarned,
              "Points credited: earned by an event, an admin's credit, a transfer received",
              _moves),
    EventType("points.spent", hooks.PointsSpent,
              "Points taken: a spend, a reward, an admin's debit, a transfer given", _moves),
    EventType("points.expired", hooks.PointsExpired,
              "Points lost unused at their expiry (one per member and expiry day)", _moves),
    EventType("points.expiring_soon", hooks.PointsExpiringSoon,
              "Points that expire within the notice period (once per member and day)",
              _expiring),
    EventType("tier.changed", hooks.TierChanged,
              "A member's tier moved up or down, was set by hand, or ended", _tier),
    EventType("reward.ready", hooks.RewardsReady,
              "A member's available points reached the cost of a reward they may redeem "
              "(once each time the balance crosses it)", _ready),
    EventType("notification.ready", hooks.NotificationsRendered,
              "A message to a member, rendered in their language, for the brand's own "
              "messaging system to send on its channel (the member consented to it)",
              _notification),
    EventType("reward.redeemed", hooks.RewardRedeemed,
              "A member redeemed points for a reward", _redeemed),
    EventType("coupon.issued", hooks.CouponIssued,
              "A code was issued to a member (a coupon reward, a campaign's gift)", _coupon),
    EventType("referral.qualified", hooks.ReferralQualified,
              "A referred member's first purchase qualified the referral (to the referrer)",
              _referral),
    EventType("member.merged", hooks.MembersMerged,
              "Two members became one: ``merged_id`` into ``member_id``", _merge),
    EventType("member.merge_undone", hooks.MergeUndone,
              "A merge was undone: ``merged_id`` is a member of its own again", _merge),
    EventType("member.status_changed", hooks.MemberStatusChanged,
              "A member was blocked, closed or made active again", _status),
    EventType("campaign.started", hooks.CampaignStarted,
              "A campaign's window opened (told once per campaign)", _campaign),
):
    register(_entry)
