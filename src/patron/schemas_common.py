"""Field types shared by every domain's schemas.

Every string that reaches the database is refused if it holds a NUL character or
a lone surrogate (PostgreSQL cannot store either), every integer is bounded to 64
bits, free JSON is bounded in depth, and every instant and day lies in the years
Patron computes with, so no payload can turn into a server error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timezone
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints

MAX_INT = 2**63 - 1
MAX_POINTS = 10**12
MAX_MONEY = 10**15

EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
"""The first instant Patron takes: loyalty history does not reach further back."""
LATEST = datetime(3000, 1, 1, tzinfo=timezone.utc)
"""The first instant Patron refuses. Expiry (up to 100 years), tier windows and
program-timezone days computed from any accepted instant stay far inside what
Python's and the databases' dates can hold."""


_PLAIN_ID = re.compile(r"[0-9]{1,18}")


def plain_id(value: Any) -> int | None:
    """The id a path, form, cursor or file row gives as text (1-18 ASCII digits), else
    None. ``str.isdigit`` is not the check: it accepts "¹", which ``int`` refuses."""
    text = str(value) if value is not None else ""
    return int(text) if _PLAIN_ID.fullmatch(text) else None


def storable(value: str) -> str:
    """Text a database can store: no NUL character, no lone surrogate."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode (a lone surrogate escape?)") from None
    return value


def unstorable_text(value: Any, loc: tuple[str | int, ...] = ()
                    ) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Where in a decoded JSON value a string (or a key) is text no database can store,
    and why."""
    if isinstance(value, str):
        try:
            storable(value)
        except ValueError as error:
            yield loc, str(error)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from unstorable_text(item, (*loc, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from unstorable_text(key, (*loc, key))
            yield from unstorable_text(item, (*loc, key))


def in_range(value: datetime | date) -> datetime | date:
    """Refuse an instant (or a day) outside [1970-01-01, 3000-01-01) UTC."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        inside = EARLIEST <= aware < LATEST
    else:
        inside = EARLIEST.date() <= value < LATEST.date()
    if not inside:
        raise ValueError("must be from 1970-01-01T00:00:00Z and before 3000-01-01T00:00:00Z")
    return value


def _clean_json(value: Any, depth: int = 0) -> Any:
    if depth > 8:
        raise ValueError("nested more than 8 levels")
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise ValueError("integer out of 64-bit range")
        return value
    if isinstance(value, list):
        return [_clean_json(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {storable(str(k)): _clean_json(v, depth + 1) for k, v in value.items()}
    raise ValueError("unsupported JSON value")


def _clean_object(value: dict[str, Any]) -> dict[str, Any]:
    return _clean_json(value)


Storable = AfterValidator(storable)
"""Text a database can store, checked last: ``Annotated[str, StringConstraints(...),
Storable]``. Constraints written after a validator function are checked in Python, a
call each, where written before it they are part of pydantic's own check of the string
(an order of nine lines has some fifty strings to check)."""
Text = Annotated[str, Storable]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True),
                 Storable]
Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Key = Annotated[str, StringConstraints(min_length=1, max_length=150,
                                       pattern=r"^[\x21-\x7e]+$")]
Channel = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
Points = Annotated[int, Field(strict=True, ge=1, le=MAX_POINTS)]
SignedPoints = Annotated[int, Field(strict=True, ge=-MAX_POINTS, le=MAX_POINTS)]
Money = Annotated[int, Field(strict=True, ge=0, le=MAX_MONEY)]
Id = Annotated[int, Field(ge=1, le=MAX_INT)]
FreeJSON = Annotated[dict[str, Any], AfterValidator(_clean_object)]
Instant = Annotated[AwareDatetime, AfterValidator(in_range)]
"""A timezone-aware instant from 1970-01-01T00:00:00Z and before 3000-01-01T00:00:00Z."""
Day = Annotated[date, AfterValidator(in_range)]
"""A calendar day from 1970-01-01 to 2999-12-31."""
Validity = Annotated[date | datetime, AfterValidator(in_range)]
"""A catalog validity bound: a day or an instant, in the same range."""
