"""Field types shared by every domain's schemas.

Every string that reaches the database is refused if it holds a NUL character
(PostgreSQL cannot store one), every integer is bounded to 64 bits, and free
JSON is bounded in depth, so no payload can turn into a server error.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints

MAX_INT = 2**63 - 1
MAX_POINTS = 10**12
MAX_MONEY = 10**15


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _clean_json(value: Any, depth: int = 0) -> Any:
    if depth > 8:
        raise ValueError("nested more than 8 levels")
    if isinstance(value, str):
        return _no_nul(value)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise ValueError("integer out of 64-bit range")
        return value
    if isinstance(value, list):
        return [_clean_json(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {_no_nul(str(k)): _clean_json(v, depth + 1) for k, v in value.items()}
    raise ValueError("unsupported JSON value")


def _clean_object(value: dict[str, Any]) -> dict[str, Any]:
    return _clean_json(value)


Text = Annotated[str, AfterValidator(_no_nul)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True),
                 AfterValidator(_no_nul)]
Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Key = Annotated[str, StringConstraints(min_length=1, max_length=150,
                                       pattern=r"^[\x21-\x7e]+$")]
Channel = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
Points = Annotated[int, Field(strict=True, ge=1, le=MAX_POINTS)]
SignedPoints = Annotated[int, Field(strict=True, ge=-MAX_POINTS, le=MAX_POINTS)]
Money = Annotated[int, Field(strict=True, ge=0, le=MAX_MONEY)]
Id = Annotated[int, Field(ge=1, le=MAX_INT)]
FreeJSON = Annotated[dict[str, Any], AfterValidator(_clean_object)]
