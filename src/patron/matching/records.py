"""``MatchRecord``: one member as the matcher sees it, built from its row and identities."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from patron.matching import normalise

EXTERNAL_TYPES = ("external_id", "card")
"""Identity types that name a customer in another system: compared as one set."""


def _mapping(row: Any) -> Mapping[str, Any]:
    """A database row, a mapping, or a named tuple (an identity an enrolment announced)."""
    if isinstance(row, Mapping):
        return row
    return row._mapping if hasattr(row, "_mapping") else row._asdict()


@dataclass(frozen=True, slots=True)
class MatchRecord:
    """Match keys of one member (see ``patron.matching.normalise``); ``None`` is unknown."""

    member_id: int
    given_name: str | None = None
    family_name: str | None = None
    birthdate: str | None = None
    gender: str | None = None
    street_number: str | None = None
    address: str | None = None
    postcode: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    external_ids: tuple[str, ...] = ()

    @classmethod
    def from_rows(cls, member_row: Any, identity_rows: Iterable[Any] = ()) -> MatchRecord:
        """Keys from a ``members`` row and that member's ``identities`` rows."""
        m = _mapping(member_row)
        by_type: dict[str, set[str]] = {"email": set(), "phone": set(), "external": set()}
        for identity in identity_rows:
            i = _mapping(identity)
            kind = "external" if i["type"] in EXTERNAL_TYPES else i["type"]
            if kind in by_type:
                by_type[kind].add(str(i["value"]))
        given, family = m.get("given_name"), m.get("family_name")
        if given is None and family is None and m.get("name"):
            given, _, family = str(m["name"]).strip().rpartition(" ")
            given = given or None
        line1, line2 = m.get("address_line1"), m.get("address_line2")
        return cls(
            member_id=int(m["id"]),
            given_name=normalise.name_key(given),
            family_name=normalise.name_key(family),
            birthdate=normalise.birthdate_key(m.get("birthdate")),
            gender=normalise.gender_key(m.get("gender")),
            street_number=normalise.street_number(line1, line2),
            address=normalise.street_key(line1, line2),
            postcode=normalise.postcode_key(m.get("postcode")),
            city=normalise.text_key(m.get("city")),
            state=normalise.text_key(m.get("state")),
            country=normalise.country_key(m.get("country")),
            emails=tuple(sorted(by_type["email"])),
            phones=tuple(sorted(by_type["phone"])),
            external_ids=tuple(sorted(by_type["external"])),
        )

    def as_row(self) -> dict[str, Any]:
        """The record as one row of the table Splink reads: identity sets as lists (or
        ``None`` when empty) and the first of each set as a blocking key."""
        row: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            row[f.name] = (list(value) or None) if isinstance(value, tuple) else value
        row["email"] = self.emails[0] if self.emails else None
        row["phone"] = self.phones[0] if self.phones else None
        row["external_id"] = self.external_ids[0] if self.external_ids else None
        row["birth_year"] = self.birthdate[:4] if self.birthdate else None
        return row


COLUMNS = ("member_id", "given_name", "family_name", "birthdate", "gender", "street_number",
           "address", "postcode", "city", "state", "country", "emails", "phones",
           "external_ids", "email", "phone", "external_id", "birth_year")
"""Columns of ``MatchRecord.as_row()``, in order."""
