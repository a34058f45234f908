from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, StringConstraints,
                      field_validator)

from patron.members.domain import BIRTHDATE_RULE, EARLIEST_BIRTHDATE, IdentityType
from patron.members.tables import members
from patron.schemas_common import Channel, FreeJSON, Name, Text, storable

ConsentPurpose = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Region = Annotated[str, StringConstraints(min_length=1, max_length=members.c.region.type.length,
                                          strip_whitespace=True), AfterValidator(storable)]
"""As long as the column that stores it, so SQLite and PostgreSQL take the same regions."""


class IdentityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: IdentityType = Field(description="email, phone, external_id or card")
    value: Annotated[Text, StringConstraints(min_length=1, max_length=320)] = Field(
        description="As typed; Patron normalises it (emails lower-cased, phones to E.164)")
    channel: Channel | None = Field(None, description="Channel the identity was captured on")


class Identity(BaseModel):
    type: IdentityType
    value: str
    channel: str | None
    created_at: datetime


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    birthdate: date | None = Field(None, description="Used for birthday offers")
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
    """Only the fields sent change; ``attributes`` is merged key by key (null removes)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    birthdate: date | None = None
    region: Region | None = None
    join_channel: Channel | None = None
    attributes: FreeJSON | None = None

    _plausible_birthdate = field_validator("birthdate")(Profile._plausible_birthdate.__func__)


class MemberCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    identities: list[IdentityIn] = Field(min_length=1, max_length=20)
    profile: Profile = Field(default_factory=Profile)
    consents: dict[ConsentPurpose, bool] = Field(
        default_factory=dict, max_length=50,
        description="Consent per purpose, e.g. {\"email_marketing\": true}")
    referral_code: Annotated[Text, StringConstraints(min_length=1, max_length=32)] | None = Field(
        None, description="The code of the member who referred this one")


class MemberUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profile: ProfileUpdate | None = None
    consents: dict[ConsentPurpose, bool] | None = Field(None, max_length=50)


class Consent(BaseModel):
    granted: bool
    updated_at: datetime


class Member(BaseModel):
    id: int
    status: str
    profile: Profile
    identities: list[Identity]
    consents: dict[str, Consent]
    created_at: datetime
    updated_at: datetime


class MemberPage(BaseModel):
    items: list[Member]
    next_cursor: int | None = Field(None, description="Pass as `after` for the next page")


def member_out(row: Any, identity_rows: list[Any]) -> Member:
    return Member(
        id=row.id, status=row.status,
        profile=Profile.model_construct(name=row.name, birthdate=row.birthdate,
                                        region=row.region, join_channel=row.join_channel,
                                        attributes=row.attributes or {}),
        identities=[Identity(type=i.type, value=i.value, channel=i.channel,
                             created_at=i.created_at) for i in identity_rows],
        consents={k: Consent(**v) for k, v in (row.consents or {}).items()},
        created_at=row.created_at, updated_at=row.updated_at)
