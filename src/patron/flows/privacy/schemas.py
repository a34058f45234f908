"""What the privacy endpoints take and answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from patron.schemas_common import Storable

EXPORT_FORMAT = "patron.member-export/1"


class ErasureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(min_length=1, max_length=500,
                                              strip_whitespace=True), Storable] | None = Field(
        None, description="Why, kept with the erasure (e.g. the request's reference); no "
                          "personal data")


class Erasure(BaseModel):
    """What an erasure did."""

    member_id: int
    status: Literal["erased"] = "erased"
    erased_at: datetime
    records: list[int] = Field(description="The member and every record merged into it: "
                               "one person, all erased")
    identities_pseudonymised: int = Field(description="Identities whose value is now a "
                                          "random pseudonym")
    consents_withdrawn: int
    reason: str | None = None
    actor: str = Field(description="Who erased the member: an API key, a staff account, "
                       "``cli`` or ``job:retention``")


class ExportProgram(BaseModel):
    id: int
    slug: str
    name: str


class MemberExport(BaseModel):
    """Everything Patron holds about a member, one section per kind of record."""

    format: Literal["patron.member-export/1"] = EXPORT_FORMAT
    exported_at: datetime
    program: ExportProgram
    member_id: int
    records: list[int] = Field(description="The member and every record merged into it")
    sections: dict[str, list[dict[str, Any]]] = Field(
        description="Per section (``member``, ``identities``, ``consent_changes``, "
                    "``ledger_entries``, ``orders``, ...), its rows with every column but "
                    "secrets (token hashes)")
    descriptions: dict[str, str] = Field(description="What each section holds")
