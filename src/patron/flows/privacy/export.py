"""A member's data, exported whole (``GET /members/{id}/export``, ``patron members export``).

The export is every row of every section (``sections.SECTIONS``) for the member and the
records merged into it, column by column as stored, as JSON: what a member asking for
their data gets, and what a brand moving elsewhere can read back. It only reads.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import Connection

from patron.flows.privacy.schemas import EXPORT_FORMAT
from patron.flows.privacy.sections import SECTIONS
from patron.members import service as members
from patron.members.erasure import records_of
from patron.program.service import Program


def export_member(conn: Connection, program: Program, member_id: int,
                  now: datetime) -> dict[str, Any]:
    """The export as JSON-ready data (404 ``member_not_found`` for an unknown member)."""
    members.person_row(conn, program, member_id)
    records = records_of(conn, program.id, member_id)
    sections = {section.name: [{name: _finite(value) for name, value in row._mapping.items()}
                               for row in conn.execute(section.query(records))]
                for section in SECTIONS}
    return to_jsonable_python({
        "format": EXPORT_FORMAT, "exported_at": now,
        "program": {"id": program.id, "slug": program.slug, "name": program.name},
        "member_id": member_id, "records": records, "sections": sections,
        "descriptions": {section.name: section.description for section in SECTIONS}})


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity (a model's score may be either): null instead."""
    return None if isinstance(value, float) and not math.isfinite(value) else value
