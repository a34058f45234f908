"""Validity bounds in a program document: a plain date in the program's timezone, or an
exact instant.

A date means the whole local day (from its midnight; an end date includes the day);
a date-time must carry its offset, so no instant is ever read in the server's own
timezone. ``patron.program.compiled.instant`` turns either into an instant.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

from patron.schemas_common import in_range


def _validity_bound(value: Any) -> date | datetime:
    """A calendar date (in the program timezone) or an exact, timezone-aware instant."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        return in_range(value)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value) if "T" in value else None
            if parsed is None:
                return in_range(date.fromisoformat(value))
        except ValueError:
            raise ValueError("must be a date (2025-03-12) or a date-time with a timezone "
                             "(2025-03-12T09:00:00+01:00)") from None
    else:
        raise ValueError("must be a date (2025-03-12) or a date-time with a timezone")
    if parsed.tzinfo is None:
        raise ValueError("a date-time needs a timezone offset, e.g. 2025-03-12T09:00:00Z; "
                         "or give a plain date, read in the program timezone")
    return in_range(parsed)


ValidityBound = Annotated[
    date | datetime,
    PlainValidator(_validity_bound),
    PlainSerializer(lambda bound: bound.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"anyOf": [{"type": "string", "format": "date"},
                              {"type": "string", "format": "date-time"}]}),
]
