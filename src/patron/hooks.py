"""What happened to members, announced inside the transaction that made it happen.

Patron's domains do not call each other to react to something. The domain where
a thing happens emits a *happening* (one of the frozen dataclasses below, named
in the past tense), and whatever reacts to it subscribes to that type.
Subscribers run at once, in the emitting transaction and in the order they were
registered, so a reaction commits or rolls back with the change it reacts to; a
subscriber that raises a ``PatronError`` refuses the whole change with that
problem. There is no queue here: a reaction that talks to the outside world
(a webhook, a message) writes an outbox row and lets a worker deliver it.

Happenings come in batches where the work that causes them is batched (an
ingest batch records many events at once), so a subscriber can answer a batch
with a few queries instead of a few per member.

Patron's own reactions are registered in one place, ``patron.flows.subscribers``.
An extension registers its own the same way::

    from patron import hooks

    @hooks.subscriber(hooks.TierChanged)
    def tell_the_crm(conn, happened: hooks.TierChanged) -> None:
        ...

Every happening carries the ``program`` it happened in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple, TypeVar

from sqlalchemy import Connection

from patron.program.service import Program


class EnrolledIdentity(NamedTuple):
    type: str
    value: str
    channel: str | None = None


@dataclass(frozen=True)
class Enrolment:
    member_id: int
    joined_at: datetime
    channel: str | None = None
    referral_code: str | None = None
    """The code the member signed up with, when they gave one."""
    identities: tuple[EnrolledIdentity, ...] | None = None
    """The identities the member enrolled with, as stored (normalised); None when the
    enrolling path did not say (a subscriber that needs them then reads them)."""
    profile: Mapping[str, Any] | None = None
    """The member's row as the enrolment wrote it (``members`` profile columns, attributes,
    match keys; a column left out was written empty); None when the enrolling path did
    not say (a subscriber that needs it then reads it)."""


@dataclass(frozen=True)
class MembersEnrolled:
    """New members joined: through ``POST /members``, an import, or an event that
    enrolled an unknown identity. ``strict`` is true when the member asked for it
    directly (an unknown referral code is then refused rather than ignored)."""

    program: Program
    members: tuple[Enrolment, ...]
    strict: bool = False


@dataclass(frozen=True)
class RecordedEvent:
    event_id: int
    """The event's row id (``events.id``)."""
    external_id: str
    type: str
    member_id: int
    occurred_at: datetime
    channel: str | None
    data: Mapping[str, Any]
    order_id: str | None = None
    order_total: int | None = None
    """A purchase's order id and total in minor units."""


@dataclass(frozen=True)
class EventsRecorded:
    """Events went through ingest and were recorded (rejected events are not)."""

    program: Program
    events: tuple[RecordedEvent, ...]


@dataclass(frozen=True)
class PointsMoved:
    """One ledger entry that earned, spent or expired points."""

    member_id: int
    """The member the entry is for (in a household pool, who earned or spent)."""
    points: int
    """Positive for points earned, the amount taken for points spent or expired."""
    at: datetime
    """The entry's ``occurred_at``: when the points were earned, spent or lost."""
    account_id: int
    """The account that held them: the member's own, or their household's pool."""
    reason: str | None = None
    kind: str | None = None
    """The entry's kind: ``earn``, ``adjust``, ``spend``, ``transfer`` or ``expire``."""
    entry_id: int | None = None
    """The ledger entry (``ledger_entries.id``)."""


@dataclass(frozen=True)
class PointsEarned:
    """Points were credited to a member, one move per entry:

    - ``earn``: points an event earned (ingest, referral and bonus awards), pending
      or not, announced once when written; the release of pending points later
      is not announced again;
    - ``adjust``: an admin's credit, and paid memberships' bonus points;
    - ``transfer``: points received from another member.

    Not announced: releases, debt settlements, points moving into or out of a
    household pool on joining or leaving (still the same member's), and the
    points a reward refund gives back.
    """

    program: Program
    moves: tuple[PointsMoved, ...]


@dataclass(frozen=True)
class PointsSpent:
    """Points were taken from a member's available points, one move per entry:

    - ``spend``: at checkout, on a reward, or a household member paying from the pool;
    - ``adjust``: an admin's debit;
    - ``transfer``: points given to another member.

    A refused spend (insufficient points, a child of a pooled household) and a
    retried request writing nothing are not announced, nor is a return taking
    back earned points (a ``reverse`` entry).
    """

    program: Program
    moves: tuple[PointsMoved, ...]


@dataclass(frozen=True)
class PointsExpired:
    """Lots reached their expiry date and the sweep took what was left of them.

    One happening per program for each batch of accounts the sweep handles in
    one transaction, one move per ``expire`` entry (an account's lots that
    expired on the same day).
    """

    program: Program
    moves: tuple[PointsMoved, ...]


@dataclass(frozen=True)
class TierChanged:
    """A member's tier moved, or was set by hand or ended; one per move, as the tier
    history records it (a review that keeps the tier moves nothing: none then)."""

    program: Program
    member_id: int
    from_tier: str | None
    to_tier: str
    kind: str
    """How: ``upgrade``, ``downgrade``, ``manual``, ``household_join``, …"""
    at: datetime


@dataclass(frozen=True)
class HouseholdChanged:
    """A member joined or left a household, in the transaction that changed it.

    ``change`` is ``joined`` (the household's creation seats its owner this
    way too), ``left`` (the member was removed) or ``dissolved`` (the household
    dissolved: one happening for each member, the owner's last). It is emitted
    as soon as the membership row changed, before the member's points move in
    or out of the pool.
    """

    program: Program
    household_id: int
    member_id: int
    change: Literal["joined", "left", "dissolved"]
    at: datetime
    actor: str
    """Who made the change (an API key's actor, or a command's)."""


@dataclass(frozen=True)
class RewardRedeemed:
    program: Program
    member_id: int
    redemption_id: int
    reward_id: str
    reward_type: str
    points: int
    at: datetime


@dataclass(frozen=True)
class CouponUsed:
    """A coupon took money off an order (``discount`` > 0), or a cancelled order gave that
    use back (``discount`` < 0, the same amount), in the checkout's transaction. What
    issued the coupon is its ``source`` (``campaign:double-beans``, ``reward:42``, …)."""

    program: Program
    coupon_id: int
    coupon_type: str
    kind: Literal["percent", "amount", "free_shipping"]
    source: str | None
    member_id: int | None
    order_id: str
    discount: int
    at: datetime


@dataclass(frozen=True)
class ReferralQualified:
    """A referred member's first purchase qualified their referral; it pays once the
    return window has passed."""

    program: Program
    referral_id: int
    referrer_id: int
    referee_id: int
    order_id: str
    at: datetime


@dataclass(frozen=True)
class MembersMerged:
    """``merged_id`` was merged into ``survivor_id`` (``merges.id`` is ``merge_id``): its
    identities, points, wallet, orders and the rest now belong to the survivor."""

    program: Program
    merge_id: int
    survivor_id: int
    merged_id: int
    at: datetime
    actor: str
    source: str
    """Where the merge came from: ``api``, ``match``, ``enrolment``, …"""


@dataclass(frozen=True)
class MergeUndone:
    """A merge was undone: ``merged_id`` is a member of its own again."""

    program: Program
    merge_id: int
    survivor_id: int
    merged_id: int
    at: datetime
    actor: str


@dataclass(frozen=True)
class MemberProfileChanged:
    """A member's profile was edited (``PATCH /members/{id}``), in the transaction that
    did it. Matching keeps its keys of the family name and postcode current with it."""

    program: Program
    member_id: int
    fields: frozenset[str]
    """The profile columns the edit set (``family_name``, ``postcode``, ...)."""
    at: datetime


@dataclass(frozen=True)
class MemberStatusChanged:
    """A member was blocked, closed or made active again, in the transaction that did it
    (one per change, as ``member_status_changes`` records it). A closure's points are
    forfeited by a subscriber of this (``patron.flows.member_status``)."""

    program: Program
    member_id: int
    from_status: str
    to_status: str
    reason: str | None
    actor: str
    """Who made the change (an API key's actor, or a command's)."""
    at: datetime
    change_id: int
    """The ``member_status_changes`` row."""


@dataclass(frozen=True)
class MemberErased:
    """A member's personal data was erased (``POST /members/{id}/erase``, ``patron members
    erase`` or the retention sweep), in the transaction that erased it.

    The members domain has already pseudonymised the profile, the identities and its
    own free text, and withdrawn every consent, when this is announced; each domain
    that keeps something else about the person (tags and features, matching's
    evidence, transfer messages, event payloads, portal sessions) drops it in its
    subscriber. Points, orders and their amounts are never touched: the ledger and
    every accounting total stay as they were.
    """

    program: Program
    member_id: int
    records: tuple[int, ...]
    """The member and every record merged into it (one person): all were erased."""
    actor: str
    reason: str | None
    at: datetime


@dataclass(frozen=True)
class CouponIssued:
    """A code was issued to a member (a coupon reward, a campaign's gift), in the
    transaction that issued it. Bearer codes (coupon batches) are not announced."""

    program: Program
    member_id: int
    code: str
    """The code in its printed form."""
    coupon_type: str
    source: str | None
    """What issued it, e.g. ``reward:free-coffee`` or ``campaign:spring``."""
    expires_at: datetime | None
    at: datetime


@dataclass(frozen=True)
class ExpiryNotice:
    """A member's points that will expire on one day, told once (``expiry_notices``)."""

    member_id: int
    account_id: int
    points: int
    """What is left of the lots that expire that day."""
    expires_at: datetime
    """The first of those lots' expiry instants."""
    notice_id: int


@dataclass(frozen=True)
class PointsExpiringSoon:
    """The scheduled sweep found lots that expire within the notice period; one notice per
    member and expiry day, never repeated. One happening per program per batch."""

    program: Program
    notices: tuple[ExpiryNotice, ...]


@dataclass(frozen=True)
class CampaignStarted:
    """The scheduled sweep found a campaign running that it had not announced yet; once
    per campaign (``campaign_starts``), in the sweep's transaction."""

    program: Program
    campaign_id: str
    name: str
    starts: datetime | None
    ends: datetime | None
    at: datetime


@dataclass(frozen=True)
class Achievement:
    member_id: int
    kind: str
    """``badge``, ``challenge`` or ``streak``."""
    item_id: str
    """The badge, challenge or streak's id in the program document."""
    key: str
    """Which one: a badge's level (``earned`` for a badge without levels), a challenge's
    goal (its week or month, ``done`` for the window), a streak's ``run:periods``."""
    name: str
    text: str
    """What the member read: "Badge earned: Regular, +100 Beans"."""
    points: int
    coupon_type: str | None
    at: datetime


@dataclass(frozen=True)
class EngagementAchieved:
    """Members earned badges, completed challenges or reached a streak's milestones, in
    the ingest that recorded the events; one per batch. ``points`` and ``coupon_type``
    are what was given (0 and None: no reward, or the challenge's budget ran out)."""

    program: Program
    achievements: tuple[Achievement, ...]


@dataclass(frozen=True)
class BalanceRise:
    """One account's available points before and after a change that added to them."""

    member_id: int
    """The account's member (a household pool's: its holder)."""
    account_id: int
    before: int
    after: int
    at: datetime


@dataclass(frozen=True)
class PointsAvailable:
    """Members' available (spendable) points went up: an earn's points available at once,
    an admin's credit, pending points released by the sweep. One happening per batch.
    Not announced: points received by transfer, a reward refund's points, a merge."""

    program: Program
    rises: tuple[BalanceRise, ...]


@dataclass(frozen=True)
class ReadyReward:
    member_id: int
    reward_id: str
    reward_name: str
    cost_points: int
    available: int
    """The member's available points once they reached the reward's cost."""
    at: datetime


@dataclass(frozen=True)
class RewardsReady:
    """A member's available points reached the cost of a catalog reward they could not
    afford before and may redeem (in its dates, their tier, plan and conditions, in
    stock): once per reward each time the balance crosses its cost, not again while it
    stays above."""

    program: Program
    rewards: tuple[ReadyReward, ...]


@dataclass(frozen=True)
class RenderedNotification:
    member_id: int
    kind: str
    channel: str
    """The consent channel it is for (sms, push, whatsapp, email, ...)."""
    language: str
    subject: str
    body: str
    at: datetime


@dataclass(frozen=True)
class NotificationsRendered:
    """Messages to members rendered for a channel the program hands to its own messaging
    system (``settings.notifications.channels``: ``webhook``), with the member's consent
    for that channel; the webhooks carry them (``notification.ready``)."""

    program: Program
    messages: tuple[RenderedNotification, ...]


Happening = (MembersEnrolled | EventsRecorded | PointsEarned | PointsSpent | PointsExpired
             | TierChanged | HouseholdChanged | RewardRedeemed | CouponUsed | ReferralQualified
             | MembersMerged | MergeUndone | MemberStatusChanged | MemberProfileChanged
             | MemberErased | CouponIssued | PointsExpiringSoon | CampaignStarted
             | EngagementAchieved | PointsAvailable | RewardsReady | NotificationsRendered)
HAPPENINGS: tuple[type, ...] = (MembersEnrolled, EventsRecorded, PointsEarned, PointsSpent,
                                PointsExpired, TierChanged, HouseholdChanged, RewardRedeemed,
                                CouponUsed, ReferralQualified, MembersMerged, MergeUndone,
                                MemberStatusChanged, MemberProfileChanged, MemberErased,
                                CouponIssued, PointsExpiringSoon, CampaignStarted,
                                EngagementAchieved, PointsAvailable, RewardsReady,
                                NotificationsRendered)

H = TypeVar("H")
Subscriber = Callable[[Connection, Any], None]

_subscribers: dict[type, list[Subscriber]] = {kind: [] for kind in HAPPENINGS}


def subscribe(kind: type[H], react: Callable[[Connection, H], None]) -> None:
    """Call ``react(conn, happened)`` whenever a ``kind`` happens (once per function)."""
    if kind not in _subscribers:
        raise TypeError(f"{kind.__name__} is not a Patron happening")
    if react not in _subscribers[kind]:
        _subscribers[kind].append(react)


def unsubscribe(kind: type[H], react: Callable[[Connection, H], None]) -> None:
    """Stop calling ``react`` for ``kind`` (a no-op when it was not subscribed)."""
    if react in _subscribers.get(kind, []):
        _subscribers[kind].remove(react)


def subscriber(kind: type[H]) -> Callable[[Callable[[Connection, H], None]],
                                          Callable[[Connection, H], None]]:
    """``subscribe`` as a decorator."""
    def register(react: Callable[[Connection, H], None]) -> Callable[[Connection, H], None]:
        subscribe(kind, react)
        return react
    return register


def subscribers_of(kind: type) -> tuple[Subscriber, ...]:
    return tuple(_subscribers[kind])


def emit(conn: Connection, happened: Happening) -> None:
    """Run every subscriber of the happening's type, in the caller's transaction."""
    for react in _subscribers[type(happened)]:
        react(conn, happened)
