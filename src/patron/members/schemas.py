from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, StringConstraints,
                      field_validator, model_validator)

from patron.members import consents as consent_rules
from patron.members.domain import BIRTHDATE_RULE, EARLIEST_BIRTHDATE, IdentityType
from patron.members.profile import (ADDRESS_FIELDS, Gender, clean_country, clean_gender,
                                    clean_postcode, collapse)
from patron.members.tables import members
from patron.schemas_common import Channel, FreeJSON, Storable, storable

ConsentPurpose = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Region = Annotated[str, StringConstraints(min_length=1, max_length=members.c.region.type.length,
                                          strip_whitespace=True), AfterValidator(storable)]
"""As long as the column that stores it, so SQLite and PostgreSQL take the same regions."""


def _words(column: str) -> Any:
    """Free text as long as its column: trimmed, inner whitespace runs made one space."""
    return Annotated[str, StringConstraints(min_length=1, max_length=members.c[column].type.length,
                                            strip_whitespace=True),
                     AfterValidator(storable), AfterValidator(collapse)]


Name = _words("name")
GivenName = _words("given_name")
FamilyName = _words("family_name")
GenderWord = Annotated[str, StringConstraints(max_length=16), AfterValidator(clean_gender)]
Postcode = Annotated[str, StringConstraints(min_length=1, max_length=20),
                     AfterValidator(clean_postcode)]
Country = Annotated[str, StringConstraints(min_length=2, max_length=2),
                    AfterValidator(clean_country)]

_CLEANED = ("Whitespace is trimmed and runs of it inside become one space; case and accents "
            "are kept.")


class Address(BaseModel):
    """A postal address, cleaned field by field before it is stored."""

    model_config = ConfigDict(extra="forbid")

    line1: _words("address_line1") | None = Field(None, description="Street and number. "
                                                   + _CLEANED)
    line2: _words("address_line2") | None = Field(None, description="Unit, building, … "
                                                   + _CLEANED)
    city: _words("city") | None = Field(None, description="City, town or suburb. " + _CLEANED)
    postcode: Postcode | None = Field(None, description="Upper-cased with all spaces removed "
                                      "(`sw1a 1aa` is stored as `SW1A1AA`); letters, digits "
                                      "and hyphens")
    state: _words("state") | None = Field(None, description="State, province or county. "
                                          + _CLEANED)
    country: Country | None = Field(None, description="ISO 3166-1 alpha-2 code, upper-cased "
                                    "(`au` is stored as `AU`); any other value is refused")


class IdentityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: IdentityType = Field(description="email, phone, external_id or card")
    value: Annotated[str, StringConstraints(min_length=1, max_length=320), Storable] = Field(
        description="As typed; Patron normalises it (emails lower-cased, phones to E.164)")
    channel: Channel | None = Field(None, description="Channel the identity was captured on")


class Identity(BaseModel):
    type: IdentityType
    value: str
    channel: str | None
    created_at: datetime


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = Field(None, description="Display name. " + _CLEANED + " When none is "
                              "given it is composed from the given and family names")
    given_name: GivenName | None = Field(None, description="Given (first) name. " + _CLEANED)
    family_name: FamilyName | None = Field(None, description="Family (last) name. " + _CLEANED)
    birthdate: date | None = Field(None, description="Used for birthday offers and matching")
    gender: GenderWord | None = Field(None, description="One of "
                                      + ", ".join(g.value for g in Gender)
                                      + " (case-insensitive, stored lower-case)")
    address: Address | None = Field(None, description="Postal address")
    region: Region | None = None
    join_channel: Channel | None = Field(None, description="Channel the member joined on")
    attributes: FreeJSON = Field(default_factory=dict,
                                 description="Free attributes of the brand's own")

    @field_validator("birthdate")
    @classmethod
    def _plausible_birthdate(cls, value: date | None) -> date | None:
        """The lower bound only: the schema has no clock, so a birthdate after today is
        refused where the clock is known (``refuse_future_birthdate``), with the same answer."""
        if value is not None and value < EARLIEST_BIRTHDATE:
            raise ValueError(BIRTHDATE_RULE)
        return value


class ProfileUpdate(BaseModel):
    """Only the fields sent change (null clears one); ``address`` changes only the parts
    sent (``"address": null`` clears all of it); ``attributes`` is merged key by key
    (null removes). Values are cleaned as on enrolment."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    given_name: GivenName | None = None
    family_name: FamilyName | None = None
    birthdate: date | None = None
    gender: GenderWord | None = None
    address: Address | None = None
    region: Region | None = None
    join_channel: Channel | None = None
    attributes: FreeJSON | None = None

    _plausible_birthdate = field_validator("birthdate")(Profile._plausible_birthdate.__func__)


ConsentChannel = Literal["email", "sms", "push", "post", "phone", "whatsapp", "any"]


class ConsentIn(BaseModel):
    """One consent given or withdrawn."""

    model_config = ConfigDict(extra="forbid")

    channel: ConsentChannel = Field(description="The channel it covers; ``any``: a purpose "
                                    "no channel carries, or every channel at once")
    purpose: ConsentPurpose = Field(consent_rules.MARKETING,
                                    description="What for: marketing, surveys, partners, ...")
    granted: bool = Field(description="true: given; false: withdrawn")
    source: Channel | None = Field(None, description="Where the member gave or withdrew it: "
                                   "web, pos, app, paper, ...")
    notice: Annotated[str, StringConstraints(min_length=1, max_length=200),
                          Storable] | None = Field(
        None, description="The version of the privacy notice or wording the member saw")

    @model_validator(mode="after")
    def _channel_not_in_purpose(self) -> "ConsentIn":
        channel, purpose = consent_rules.parse_key(self.purpose)
        if self.channel == consent_rules.ANY and channel != consent_rules.ANY:
            raise ValueError(f"name the channel: channel {channel!r}, purpose {purpose!r}")
        return self


def _distinct(items: list[ConsentIn]) -> list[ConsentIn]:
    seen: set[tuple[str, str]] = set()
    for item in items:
        if (item.channel, item.purpose) in seen:
            raise ValueError(f"channel {item.channel!r} and purpose {item.purpose!r} are "
                             "listed twice")
        seen.add((item.channel, item.purpose))
    return items


ConsentList = Annotated[list[ConsentIn], Field(min_length=1, max_length=50),
                        AfterValidator(_distinct)]
ConsentKeys = Annotated[dict[ConsentPurpose, bool], Field(max_length=50)]
_CONSENTS_IN = ("Consents as a list of ``{channel, purpose, granted, source, notice}``, or "
                "in the short form ``{\"email_marketing\": true}`` (``CHANNEL_PURPOSE``, or a "
                "purpose on any channel)")


class ConsentChanges(BaseModel):
    """Consents given or withdrawn, recorded with who sent them and when."""

    model_config = ConfigDict(extra="forbid")

    consents: ConsentList


class MemberCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    identities: list[IdentityIn] = Field(min_length=1, max_length=20)
    profile: Profile = Field(default_factory=Profile)
    consents: ConsentKeys | ConsentList = Field(default_factory=dict, description=_CONSENTS_IN)
    referral_code: Annotated[str, StringConstraints(min_length=1, max_length=32),
                                 Storable] | None = Field(
        None, description="The code of the member who referred this one")


class MemberUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profile: ProfileUpdate | None = None
    consents: ConsentKeys | ConsentList | None = Field(None, description=_CONSENTS_IN)


def consent_decisions(consents: dict[str, bool] | list[ConsentIn] | None,
                      source: str | None = None) -> list[consent_rules.Decision]:
    """The decisions a payload's ``consents`` sends, in either form."""
    if not consents:
        return []
    if isinstance(consents, dict):
        return consent_rules.from_keys(consents, source)
    return [consent_rules.Decision(c.channel, c.purpose, c.granted, c.source or source,
                                   c.notice) for c in consents]


class Consent(BaseModel):
    """The latest decision for one channel and purpose."""

    granted: bool
    updated_at: datetime
    channel: str | None = Field(None, description="email, sms, push, post, phone, whatsapp "
                                "or any")
    purpose: str | None = None
    source: str | None = Field(None, description="Where the member gave or withdrew it")
    notice: str | None = Field(None, description="The wording's version the member saw")


class ConsentRecord(BaseModel):
    """One consent given or withdrawn, as recorded."""

    id: int
    channel: str
    purpose: str
    granted: bool
    source: str | None
    notice: str | None
    actor: str = Field(description="Who recorded it: ``key:<id>``, ``staff:<email>``, "
                       "``import``, ``erasure``, ...")
    recorded_at: datetime


class MemberConsents(BaseModel):
    """A member's consents now, and every change of them."""

    member_id: int
    current: list[ConsentRecord] = Field(description="The latest decision per channel and "
                                         "purpose")
    history: list[ConsentRecord] = Field(description="Every decision, oldest first")


class MemberStatus(BaseModel):
    """Where the member stands and the last change of it."""

    status: str = Field(description="active; blocked (cannot earn or spend); closed (cannot "
                        "earn or spend, points forfeited); merged (into ``merged_into``); erased "
                        "(personal data pseudonymised: cannot earn or spend)")
    reason: str | None = Field(None, description="Why the status last changed")
    changed_by: str | None = Field(None, description="Who changed it: an API key's name or id")
    changed_at: datetime | None = None
    merged_into: int | None = Field(None, description="The member this record was merged into")


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["active", "blocked", "closed"] = Field(
        description="blocked: cannot earn or spend until made active again; closed: cannot "
                    "earn or spend, available points are forfeited now and pending ones as "
                    "they settle, and it is final. ``merged`` is set by a merge only")
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500,
                                              strip_whitespace=True),
                          Storable] | None = Field(
        None, description="Why, in words kept with the change")


class StatusChangeRecord(BaseModel):
    """One change of a member's status."""

    id: int
    status: str
    previous_status: str
    reason: str | None
    actor: str = Field(description="Who made the change: an API key's name or id")
    created_at: datetime


class Member(BaseModel):
    id: int
    status: str = Field(description="active, blocked, closed, merged or erased")
    standing: MemberStatus = Field(description="The status with its reason, who set it and "
                                   "when")
    profile: Profile
    identities: list[Identity]
    consents: dict[str, Consent]
    created_at: datetime
    updated_at: datetime


class MemberCampaign(BaseModel):
    """A campaign the member gets the offer of (members are never told of a holdout)."""

    id: str
    name: str
    starts: datetime
    ends: datetime = Field(description="When the offer ends (exclusive)")


class MemberView(Member):
    campaigns: list[MemberCampaign] = Field(
        default_factory=list, description="Campaigns whose offer the member gets")


class MemberPage(BaseModel):
    items: list[Member]
    next_cursor: int | None = Field(None, description="Pass as `after` for the next page")


def profile_row(profile: BaseModel, *, only_sent: bool = False) -> dict[str, Any]:
    """A profile payload as ``members`` columns; ``only_sent`` keeps just the fields sent."""
    values = profile.model_dump(exclude_unset=only_sent)
    if "address" in values:
        address = values.pop("address")
        if address is None:
            values.update(dict.fromkeys(ADDRESS_FIELDS))
        else:
            sent = (profile.address.model_fields_set if only_sent
                    else Address.model_fields.keys())
            values.update({f"address_{k}" if k.startswith("line") else k: address[k]
                           for k in sent})
    return values


def address_out(row: Any) -> Address | None:
    if all(getattr(row, field) is None for field in ADDRESS_FIELDS):
        return None
    return Address.model_construct(line1=row.address_line1, line2=row.address_line2,
                                   city=row.city, postcode=row.postcode, state=row.state,
                                   country=row.country)


def profile_out(row: Any) -> Profile:
    return Profile.model_construct(
        name=row.name, given_name=row.given_name, family_name=row.family_name,
        birthdate=row.birthdate, gender=row.gender, address=address_out(row),
        region=row.region, join_channel=row.join_channel, attributes=row.attributes or {})


def standing_out(row: Any) -> MemberStatus:
    return MemberStatus(status=row.status, reason=row.status_reason,
                        changed_by=row.status_changed_by, changed_at=row.status_changed_at,
                        merged_into=row.merged_into)


def member_out(row: Any, identity_rows: list[Any]) -> Member:
    return Member(
        id=row.id, status=row.status, standing=standing_out(row), profile=profile_out(row),
        identities=[Identity(type=i.type, value=i.value, channel=i.channel,
                             created_at=i.created_at) for i in identity_rows],
        consents={k: consent_out(k, v) for k, v in (row.consents or {}).items()},
        created_at=row.created_at, updated_at=row.updated_at)


def consent_out(key: str, entry: dict[str, Any]) -> Consent:
    channel, purpose = consent_rules.parse_key(key)
    return Consent(granted=entry["granted"], updated_at=entry["updated_at"],
                   channel=entry.get("channel", channel), purpose=entry.get("purpose", purpose),
                   source=entry.get("source"), notice=entry.get("notice"))


def consent_record(row: Any) -> ConsentRecord:
    return ConsentRecord(id=row.id, channel=row.channel, purpose=row.purpose,
                         granted=row.granted, source=row.source, notice=row.notice,
                         actor=row.actor, recorded_at=row.created_at)
