"""Review queue payloads: merge candidates with both members side by side."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from patron.schemas_common import MAX_INT, Storable

CandidateState = Literal["pending", "merged", "rejected"]


class CandidateIdentity(BaseModel):
    type: str
    value: str
    channel: str | None


class CandidateMember(BaseModel):
    """One member of the pair as a reviewer compares them."""

    id: int
    status: str
    merged_into: int | None = None
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    birthdate: date | None = None
    gender: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    postcode: str | None = None
    state: str | None = None
    country: str | None = None
    join_channel: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    identities: list[CandidateIdentity]


class MergeCandidate(BaseModel):
    id: int
    state: CandidateState
    probability: float = Field(description="1 for a deterministic rule; a model's match "
                               "probability otherwise")
    rule: str | None = Field(description="The matching rule that found the pair, or the model")
    evidence: dict[str, Any] = Field(description="Per field: whether the two agree, the key "
                                     "compared and each member's value (by member id)")
    member_a: CandidateMember = Field(description="The older member (lower id)")
    member_b: CandidateMember
    created_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = Field(None, description="Why it was rejected")
    merge_id: int | None = Field(None, description="The merge that accepting it made")


class MergeCandidatePage(BaseModel):
    items: list[MergeCandidate]
    next_cursor: int | None = Field(None, description="Pass as `after` for the next page")


class CandidateReject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(min_length=1, max_length=500),
                          Storable] | None = Field(
        None, description="Why these are two people; kept with the decision")


class CandidateAccept(BaseModel):
    model_config = ConfigDict(extra="forbid")

    survivor_id: int | None = Field(None, ge=1, le=MAX_INT, description="The member who stays "
                                    "(one of the pair); default the older one, member_a")
