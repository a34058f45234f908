"""The program document: one YAML/JSON file holding a program's settings and earn rules.

A marketer edits this document, ``patron program validate`` checks it, publishing
freezes it as an immutable version, and the earning engine reads it. Later
sections (tiers, rewards, campaigns) slot in beside ``earn_rules``.

Money is integer minor units (cents) and points are integers everywhere; rates and
multipliers are Decimal (written as strings such as ``"1.5"`` so YAML never turns
them into binary floats). Unknown keys are errors, so a typo such as ``exclusiv:``
is reported instead of silently ignored.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo, available_timezones

from babel.numbers import get_currency_precision, list_currencies
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from patron.program.catalog import FieldType
from patron.program.engagement import Badge, Challenge, Streak
from patron.program.expiry import ExpiryPolicy
from patron.program.incentives import CouponType, Referrals, Reward
from patron.program.membership import Households, MembershipPlan, Tiers
from patron.program.privacy import Privacy
from patron.schemas_common import in_range
from patron.program.validity import ValidityBound

SCHEMA_ID = "https://patron.dev/schemas/program-document.json"

Rounding = Literal["floor", "ceiling", "half_up", "half_even"]
NegativeBalance = Literal["allow_negative", "clawback_available_only"]
Period = Literal["day", "week", "month", "year", "lifetime"]
PERIODS: tuple[Period, ...] = ("day", "week", "month", "year", "lifetime")

RULE_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"
TAG_NAME = r"^[a-z0-9][a-z0-9_:.-]{0,63}$"
EVENT_TYPE_NAME = r"^[a-z][a-z0-9_]{0,63}$"
MAX_TRANSFER_POINTS = 10**12


@lru_cache
def _currencies() -> frozenset[str]:
    return frozenset(list_currencies())


@lru_cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expiry(_Model):
    days: int | None = Field(365, ge=1, le=36500,
                             description="Days after points become available; null: never expire")
    round_to_month_end: bool = Field(False, description="Expire at the end of that month, "
                                     "so members get one date to remember per month")


NotifyChannel = Literal["email", "sms", "push", "whatsapp", "post", "phone"]
"""The consent channels a notification may be for (``patron.members.consents``)."""
Transport = Literal["smtp", "webhook"]


class Notifications(_Model):
    channels: dict[NotifyChannel, Transport] = Field(
        default_factory=lambda: {"email": "smtp"},
        description="Each channel members are told on, and how: smtp (email only: Patron "
                    "sends the e-mail) or webhook (the rendered message goes to the "
                    "program's webhook endpoints subscribed to notification.ready, for the "
                    "brand's own SMS, push or e-mail provider to send). Each message still "
                    "needs the member's consent for its channel; {} tells no one")

    @field_validator("channels")
    @classmethod
    def _smtp_is_email(cls, value: dict[str, str]) -> dict[str, str]:
        wrong = sorted(channel for channel, how in value.items()
                       if how == "smtp" and channel != "email")
        if wrong:
            raise ValueError(f"only email is sent over smtp; give {', '.join(wrong)} "
                             "as webhook")
        return value


class Settings(_Model):
    currency: str = Field("USD", description="ISO-4217 code of the program's money")
    timezone: str = Field("UTC", description="IANA timezone for calendar logic: birthdays, "
                          "days/weeks/months of limits, plain-date validity windows")
    default_region: str = Field("US", description="Region for phone numbers without +country")
    points_name: str = Field("points", min_length=1, max_length=40)
    point_value_minor: Decimal = Field(Decimal(1), ge=0, le=1_000_000,
                                       description="Money value of one point in minor units "
                                       "(\"0.5\" = half a cent); prices liability and cost")
    expiry: Expiry = Field(default_factory=Expiry)
    pending_days: int = Field(14, ge=0, le=365, description="Purchase points stay pending "
                              "(not spendable) for the return window")
    auto_enrol: bool = Field(True, description="Enrol unknown identities on their first event")
    rounding: Rounding = Field("floor", description="Default rounding of fractional points")
    negative_balance: NegativeBalance = Field(
        "clawback_available_only",
        description="On returns: claw back only what the member still has, or let the "
                    "balance go negative")
    starts_on: date | None = Field(None, description="First day the program runs (program "
                                   "timezone); campaigns must lie inside the run dates")
    ends_on: date | None = Field(None, description="Last day the program runs, inclusive; "
                                 "absent: open-ended")
    notifications: Notifications = Field(
        default_factory=Notifications, description="How members are told of their points, "
        "tiers and rewards (patron.notifications)")

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        value = value.upper()
        if value not in _currencies():
            raise ValueError(f"unknown ISO-4217 currency {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        if value not in _timezones():
            raise ValueError(f"unknown IANA timezone {value!r} (e.g. Europe/Paris)")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def minor_exponent(self) -> int:
        return get_currency_precision(self.currency)

    @property
    def expiry_policy(self) -> ExpiryPolicy:
        return ExpiryPolicy(self.expiry.days, self.expiry.round_to_month_end, self.timezone)


class EventTypeDeclaration(_Model):
    name: str = Field(pattern=EVENT_TYPE_NAME, description="Event type integrators send")
    description: str | None = None
    fields: dict[str, FieldType] = Field(default_factory=dict,
                                         description="Data fields conditions may read")


class LineFilter(_Model):
    categories: list[str] = Field(default_factory=list)
    skus: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _not_empty(self) -> LineFilter:
        if not self.categories and not self.skus:
            raise ValueError("give categories and/or skus")
        return self


class PointsAction(_Model):
    """What a rule gives: exactly one action.

    Points (``per_currency_unit``, ``fixed``, the multipliers), money into the
    wallet (``cashback_percent``) or a catalog gift (``gift``). A *gift* rule gives
    one unit of a ``type: gift`` reward of the document's ``rewards`` catalog, free,
    at most once per event: its ``stock`` is the same stock point redemptions take
    from, so when none is left the event records an ``out_of_stock`` note instead.
    A gift is counted as 1 by the rule's per-member limits (points and awards
    alike) and by its ``budget`` (the most gifts the rule gives). To give points
    *and* a gift, write two rules with the same condition. Give a gift rule its
    threshold as ``min_spend`` so that a return taking the order below it cancels
    the gift; without one, only a return of the whole order does. The rule decides
    who gets the gift and when; the reward's own eligibility, dates and price
    govern redeeming it for points.
    """

    per_currency_unit: Decimal | None = Field(
        None, gt=0, le=100_000, description="Points per whole currency unit spent (per $1)")
    fixed: int | None = Field(None, gt=0, le=100_000_000, description="Points per event, or "
                              "per matching line for a per-line rule")
    multiplier: Decimal | None = Field(
        None, gt=1, le=100, description="Multiply the points earn rules gave (2 = double)")
    cashback_percent: Decimal | None = Field(
        None, gt=0, le=100, description="Money back into the member's wallet: this percent of "
        "what they paid (purchases); rounded with the rule's rounding, in minor units")
    benefit_multiplier: Literal["tier", "membership"] | None = Field(
        None, description="Multiply by the earn_multiplier of the member's tier or paid plan")
    of: list[str] | None = Field(None, description="Multiplier only: the rule ids it multiplies "
                                 "(default: every earn rule)")
    gift: str | None = Field(None, pattern=RULE_ID, description="A reward of type gift from "
                             "the rewards catalog, given free: one unit of its stock per event")
    rounding: Rounding | None = Field(None, description="Overrides settings.rounding")

    @model_validator(mode="after")
    def _exactly_one(self) -> PointsAction:
        given = [k for k in ("per_currency_unit", "fixed", "multiplier", "benefit_multiplier",
                             "cashback_percent", "gift") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of per_currency_unit, fixed, multiplier, "
                             "benefit_multiplier, cashback_percent, gift")
        if self.of is not None and self.multiplier is None and self.benefit_multiplier is None:
            raise ValueError("'of' only applies to a multiplier")
        if self.gift is not None and self.rounding is not None:
            raise ValueError("a gift is one whole unit: rounding does not apply")
        return self

    @property
    def kind(self) -> Literal["per_currency_unit", "fixed", "multiplier", "cashback", "gift"]:
        if self.per_currency_unit is not None:
            return "per_currency_unit"
        if self.cashback_percent is not None:
            return "cashback"
        if self.gift is not None:
            return "gift"
        return "fixed" if self.fixed is not None else "multiplier"


class PeriodLimit(_Model):
    points: int | None = Field(None, gt=0, description="Most points per member in the period")
    awards: int | None = Field(None, gt=0, description="Most awards per member in the period")

    @model_validator(mode="after")
    def _not_empty(self) -> PeriodLimit:
        if self.points is None and self.awards is None:
            raise ValueError("give points and/or awards")
        return self


class MemberLimits(_Model):
    day: PeriodLimit | None = None
    week: PeriodLimit | None = Field(None, description="ISO week, Monday to Sunday")
    month: PeriodLimit | None = None
    year: PeriodLimit | None = None
    lifetime: PeriodLimit | None = None

    def items(self) -> list[tuple[Period, PeriodLimit]]:
        return [(p, lim) for p in PERIODS if (lim := getattr(self, p)) is not None]


class Limits(_Model):
    per_event: int | None = Field(None, gt=0, description="Most points this rule gives per event")
    per_member: MemberLimits | None = None
    budget: int | None = Field(None, gt=0, description="Most points this rule issues in total "
                               "(a gift rule: most gifts it gives)")


class EarnRule(_Model):
    id: str = Field(pattern=RULE_ID, description="Stable id; awards and reports refer to it")
    name: str = Field(min_length=1, max_length=120, description="Shown to members")
    description: str | None = None
    on: str = Field(description="Event type the rule earns on")
    when: str | None = Field(None, description="CEL condition over event, member (and line)")
    scope: Literal["event", "line"] | None = Field(
        None, description="line: evaluated per purchase line (default when 'lines' is given)")
    lines: LineFilter | None = Field(None, description="Per-line rule: only these lines")
    points: PointsAction
    min_spend: int | None = Field(None, gt=0, description="Order total (minor units) the "
                                  "purchase must reach; a return below it claws back")
    limits: Limits | None = None
    valid_from: ValidityBound | None = None
    valid_until: ValidityBound | None = Field(None, description="A date is inclusive; "
                                              "a date-time is exclusive")
    priority: int = Field(100, ge=0, le=1_000_000, description="Lower runs first")
    exclusive: bool = Field(False, description="When it awards, later rules of its kind "
                            "(earn or multiplier) do not, on the same event or lines")
    pending: bool | None = Field(None, description="Points pending for the return window "
                                 "(default: yes for purchases when pending_days > 0)")
    active: bool = True
    tier_points: bool = Field(False, description="Its points also count as tier points "
                              "(the non-spendable tier qualification counter)")
    explain: str | None = Field(None, max_length=200, description="Member-facing text; "
                                "placeholders {points}, {points_name}, {rule}")

    @property
    def is_multiplier(self) -> bool:
        return self.points.multiplier is not None or self.points.benefit_multiplier is not None

    @property
    def per_line(self) -> bool:
        return self.scope == "line" or (self.scope is None and self.lines is not None)

    @property
    def gift(self) -> str | None:
        """The catalog reward a gift rule gives; None for points and cashback rules."""
        return self.points.gift


class Transfers(_Model):
    """Members giving points to other members of the program.

    Off unless a program turns it on: a transfer moves liability between
    members, and open transfers are what points brokers and account farms look
    for, so a program that allows them usually caps them per day.
    """

    enabled: bool = Field(False, description="Members may give available points to other "
                          "active members of the program")
    minimum_points: int = Field(1, ge=1, le=MAX_TRANSFER_POINTS,
                                description="Fewest points one transfer may move")
    maximum_points: int | None = Field(None, ge=1, le=MAX_TRANSFER_POINTS,
                                       description="Most points one transfer may move; "
                                       "null: no limit per transfer")
    daily_maximum_points: int | None = Field(
        None, ge=1, le=MAX_TRANSFER_POINTS, description="Most points one member may send per "
        "calendar day in the program timezone, all their transfers of the day together; "
        "null: no daily limit")


MatchField = Literal["email", "phone", "card", "external_id", "given_name", "family_name",
                     "birthdate", "postcode", "address_line1", "city", "gender"]
IdentityKind = Literal["email", "phone", "external_id", "card"]
IDENTITY_KINDS: tuple[IdentityKind, ...] = ("email", "phone", "external_id", "card")
BLOCKING_FIELDS = frozenset({"birthdate", "postcode"})
"""A rule is checked at enrolment only when it names one of these: the new member's
existing look-alikes are found through an index on them (with the family name key)."""


class MatchRule(_Model):
    """Fields that, when every one of them agrees, make two members one person.

    Fields are compared on match keys: names and addresses lower-cased, accents
    transliterated, punctuation and repeated spaces collapsed; postcodes without
    spaces; phones in E.164. A field missing on either side never agrees.
    Identity fields (email, phone, card, external_id) agree when one member holds
    the value as an identity and the other carries it in an imported attribute of
    that name (``attributes.phone``): identities are unique per program, so two
    members never hold the same one.
    """

    name: str = Field(pattern=RULE_ID, description="Stable name; candidates and merges cite it")
    fields: list[MatchField] = Field(description="Every one must agree")

    @model_validator(mode="after")
    def _sensible(self) -> MatchRule:
        if not self.fields:
            raise ValueError("a rule needs at least one field")
        if len(set(self.fields)) != len(self.fields):
            raise ValueError("a field is listed twice")
        return self


class Matching(_Model):
    """How Patron recognises one person enrolled twice (One ID).

    ``auto_merge`` rules merge the new member into the existing one at once;
    ``suggest`` rules only queue the pair for review (``GET /merge-candidates``).
    A trained probabilistic model, when the program has one, merges pairs scored
    at ``auto_merge_probability`` or more and queues those at
    ``suggest_probability`` or more.
    """

    unique_identities: list[IdentityKind] = Field(
        default_factory=lambda: list(IDENTITY_KINDS),
        description="Identity types that name one member: a value belongs to one member of "
        "the program. Every type is unique today, so this lists all four")
    auto_merge: list[MatchRule] = Field(default_factory=list,
                                        description="Rules that merge at once")
    suggest: list[MatchRule] = Field(default_factory=list,
                                     description="Rules that queue a pair for review")
    auto_merge_probability: float = Field(0.99, gt=0, le=1, description="A model's match "
                                          "probability at or above which pairs merge")
    suggest_probability: float = Field(0.9, gt=0, le=1, description="A model's match "
                                       "probability at or above which pairs are queued")
    on_enrolment: bool = Field(True, description="Match each new member against existing "
                               "members when they enrol")

    def rules(self) -> list[tuple[Literal["auto_merge", "suggest"], MatchRule]]:
        """Auto-merge rules first, then suggest rules, each in document order."""
        return ([("auto_merge", rule) for rule in self.auto_merge]
                + [("suggest", rule) for rule in self.suggest])


class TagRule(_Model):
    """A tag the features job gives every member whose features satisfy ``when``
    (and takes back from those who no longer do). Manual tags are never touched."""

    tag: str = Field(pattern=TAG_NAME, description="The tag members get")
    when: str = Field(description="CEL over member.features and member.tags, e.g. "
                      "'member.features.frequency >= 12'")
    description: str | None = None


class CampaignBudget(_Model):
    points: int | None = Field(None, ge=0, le=10**15, description="Most points the "
                               "campaign's earn rules issue in total")
    money: int | None = Field(None, ge=0, le=10**15, description="Most the campaign may cost, "
                              "minor units: points at settings.point_value_minor, cashback, "
                              "and the value of coupons and rewards it gives")


class CampaignCoupon(_Model):
    type: str = Field(pattern=RULE_ID, description="A coupon type of the document's coupons")
    count: int = Field(1, ge=1, le=100, description="Coupons per treatment member")


class Campaign(_Model):
    """A time-boxed offer to a target segment, measured against a holdout.

    Members of ``segment`` (every active member when absent) are assigned once,
    deterministically by a hash of campaign and member, to the holdout (a
    ``holdout`` share of them) or to treatment. Only treatment members get the
    campaign's ``earn_rules`` (inside the window), its ``coupons`` and its
    ``reward``; members are told nothing of a holdout. ``budget`` stops awards
    once spent. Results compare the two groups over the window plus
    ``attribution_days``.
    """

    id: str = Field(pattern=RULE_ID, description="Stable id; results and members' "
                    "campaigns refer to it")
    name: str = Field(min_length=1, max_length=120)
    description: str | None = None
    starts: ValidityBound = Field(description="A date (start of that day in the program "
                                  "timezone) or a date-time")
    ends: ValidityBound = Field(description="A date is inclusive; a date-time is exclusive")
    segment: str | None = Field(None, pattern=RULE_ID, description="Key of the target "
                                "segment; absent: every active member")
    holdout: Decimal = Field(Decimal("0.1"), ge=0, le=Decimal("0.5"), description="Share of "
                             "the target kept out, 0 to 0.5 (\"0.1\" = 10%)")
    attribution_days: int = Field(14, ge=0, le=365, description="Days after the window "
                                  "whose purchases still count in results")
    earn_rules: list[EarnRule] = Field(default_factory=list, description="Rules only "
                                       "treatment members earn by, inside the window")
    coupons: list[CampaignCoupon] = Field(default_factory=list, description="Coupons issued "
                                          "to each treatment member when assigned")
    reward: str | None = Field(None, pattern=RULE_ID, description="A catalog reward given "
                               "free to each treatment member when assigned")
    budget: CampaignBudget | None = None
    active: bool = True


class ProgramDocument(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_ref: str | None = Field(None, alias="$schema")
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    settings: Settings = Field(default_factory=Settings)
    event_types: list[EventTypeDeclaration] = Field(default_factory=list)
    earn_rules: list[EarnRule] = Field(default_factory=list)
    tiers: Tiers | None = Field(None, description="Membership levels")
    memberships: list[MembershipPlan] = Field(default_factory=list,
                                              description="Paid membership plans")
    households: Households = Field(default_factory=Households)
    coupons: list[CouponType] = Field(default_factory=list, description="Coupon types")
    rewards: list[Reward] = Field(default_factory=list, description="The rewards catalog")
    referrals: Referrals = Field(default_factory=Referrals)
    transfers: Transfers = Field(default_factory=Transfers,
                                 description="Point transfers between members")
    matching: Matching = Field(default_factory=Matching,
                               description="Recognising one person enrolled twice")
    tags: list[TagRule] = Field(default_factory=list, description="Rule tags the features "
                                "job keeps current")
    campaigns: list[Campaign] = Field(default_factory=list, description="Offers to a segment, "
                                      "with a holdout and a budget")
    privacy: Privacy = Field(default_factory=Privacy, description="How long personal data "
                             "is kept")
    badges: list[Badge] = Field(default_factory=list, description="Earned once (or per "
                                "level) when a condition holds; may give points or a coupon")
    challenges: list[Challenge] = Field(default_factory=list, description="Time-boxed goals "
                                        "with progress and a reward on completion")
    streaks: list[Streak] = Field(default_factory=list, description="Consecutive days or "
                                  "weeks with a qualifying action, rewarded at milestones")

    _compiled: Any = PrivateAttr(default=None)
    _engagement: Any = PrivateAttr(default=None)

    def declared_fields(self) -> dict[str, dict[str, FieldType]]:
        return {decl.name: dict(decl.fields) for decl in self.event_types}

    def reward(self, reward_id: str) -> Reward:
        for reward in self.rewards:
            if reward.id == reward_id:
                return reward
        raise KeyError(reward_id)

    def coupon_type(self, type_id: str) -> CouponType:
        for coupon in self.coupons:
            if coupon.id == type_id:
                return coupon
        raise KeyError(type_id)

    def plan(self, plan_id: str) -> MembershipPlan:
        for plan in self.memberships:
            if plan.id == plan_id:
                return plan
        raise KeyError(plan_id)

    def campaign(self, campaign_id: str) -> Campaign:
        for campaign in self.campaigns:
            if campaign.id == campaign_id:
                return campaign
        raise KeyError(campaign_id)

    def challenge(self, challenge_id: str) -> Challenge:
        for challenge in self.challenges:
            if challenge.id == challenge_id:
                return challenge
        raise KeyError(challenge_id)

    def rule(self, rule_id: str) -> EarnRule:
        """An earn rule of the document or of one of its campaigns (ids are unique across)."""
        for rule in (*self.earn_rules, *(r for c in self.campaigns for r in c.earn_rules)):
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


def program_json_schema() -> dict[str, Any]:
    """The published JSON Schema editors and CI use to check a program document."""
    schema = ProgramDocument.model_json_schema(mode="validation", by_alias=True)
    return {**schema, "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": SCHEMA_ID, "title": "Patron program document"}


def program_json_schema_text() -> str:
    return json.dumps(program_json_schema(), indent=2, sort_keys=True) + "\n"
