"""Profile fields worth matching on, cleaned one field at a time before they are stored.

One ID compares members' names, birthdates and addresses, so the same person typed
twice should be stored the same way twice. Cleaning here is about form, not meaning:
whitespace trimmed and runs of it collapsed to one space, a postcode upper-cased
without inner spaces (``sw1a 1aa`` → ``SW1A1AA``), a country upper-cased and checked
against ISO 3166 alpha-2, a gender from a fixed vocabulary. Case and accents of names
are kept as typed (a display name is shown back to the member); match keys that fold
them belong to matching.

``name`` stays the display name; when a member has none, it is composed from the
given and family names.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

import pycountry


class Gender(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNDISCLOSED = "undisclosed"


ADDRESS_FIELDS = ("address_line1", "address_line2", "city", "postcode", "state", "country")
"""The ``members`` columns an API ``address`` object maps to, one for one."""

_SPACES = re.compile(r"\s+")
_POSTCODE = re.compile(r"^[A-Z0-9-]{1,20}$")
_COUNTRIES = frozenset(c.alpha_2 for c in pycountry.countries)


def collapse(value: str) -> str:
    """Whitespace trimmed, and every run of it inside made one space."""
    return _SPACES.sub(" ", value).strip()


def clean_postcode(value: str) -> str:
    """Upper-cased, without any whitespace: ``sw1a 1aa`` → ``SW1A1AA``."""
    code = _SPACES.sub("", value).upper()
    if not _POSTCODE.match(code):
        raise ValueError("postcode must be 1-20 letters, digits or hyphens (spaces are dropped)")
    return code


def clean_country(value: str) -> str:
    """An ISO 3166-1 alpha-2 code, upper-cased: ``au`` → ``AU``; anything else is refused."""
    code = value.strip().upper()
    if code not in _COUNTRIES:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code (e.g. AU, GB, US)")
    return code


def clean_gender(value: str) -> str:
    """Lower-cased and trimmed, then one of the vocabulary."""
    word = value.strip().lower()
    try:
        return Gender(word).value
    except ValueError:
        raise ValueError("gender must be one of "
                         + ", ".join(g.value for g in Gender)) from None


def display_name(name: str | None, given_name: str | None, family_name: str | None
                 ) -> str | None:
    """The name to show: the one given, else given and family names joined."""
    if name:
        return name
    composed = " ".join(part for part in (given_name, family_name) if part)
    return composed or None


def with_display_name(values: dict[str, Any], row: Any = None) -> dict[str, Any]:
    """``values`` to store, with ``name`` composed when the member would have none.

    On an update (``row`` given) a name that was composed is composed again when the
    given or family name changes; a name someone typed is kept until they change it.
    """
    if values.get("name"):
        return values
    if row is None:
        return dict(values, name=display_name(None, values.get("given_name"),
                                              values.get("family_name")))
    given = values.get("given_name", row.given_name)
    family = values.get("family_name", row.family_name)
    was_composed = row.name is None or row.name == display_name(None, row.given_name,
                                                                 row.family_name)
    if "name" in values or (was_composed and ({"given_name", "family_name"} & set(values))):
        return dict(values, name=display_name(None, given, family))
    return values
