"""Program payloads: the program and its versions.

The simulation's request and report replay events, so they live with the replay
(``patron.flows.replay_schemas``): the program package knows nothing of events.

Money is integer minor units of the currency named beside it; points are integers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from patron.program.domain import ProgramSettings
from patron.program.document import ProgramDocument

class DocumentProblem(BaseModel):
    path: str = Field(description="Where in the document, e.g. earn_rules[2].when; "
                                  "empty for the document as a whole")
    message: str
    severity: Literal["error", "warning"] = "error"


class Program(BaseModel):
    id: int
    slug: str
    name: str
    version: int = Field(description="The current version's number")
    settings: ProgramSettings
    created_at: datetime
    document: ProgramDocument = Field(description="The current version's program document")
    source: str | None = Field(None, description="The YAML it was published from, if any")


class ProgramVersionSummary(BaseModel):
    version: int
    checksum: str = Field(description="SHA-256 of the canonical JSON document")
    published_at: datetime
    published_by: str = Field(description="Who published it: key:ID, cli, system, …")
    note: str | None = None


class ProgramVersion(ProgramVersionSummary):
    document: ProgramDocument
    source: str | None = Field(None, description="The YAML it was published from, if any")


class PublishedVersion(ProgramVersion):
    created: bool = Field(description="False: the document equals the current version, "
                                      "nothing was published")
    warnings: list[DocumentProblem] = Field(default_factory=list,
                                    description="Things that work but may not be meant")


class ProgramVersionPage(BaseModel):
    items: list[ProgramVersionSummary]
    next_cursor: int | None = Field(None, description="Pass as `before` for older versions")
