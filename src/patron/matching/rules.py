"""Deterministic matching: which of the program's matching rules two members meet.

A rule (``matching.auto_merge`` or ``matching.suggest`` in the program document)
names fields that must all agree. Fields are compared on *match keys*, so that
``Zoë  O'Brien`` typed at a till and ``zoe obrien`` typed on the web agree:

- names, street and city: ``normalise.exact_key``: transliterated to ASCII,
  lower-cased, punctuation and spaces dropped (``O'Brien`` = ``OBrien`` = ``O Brien``,
  ``Smith-Jones`` = ``smith jones``);
- postcodes: ``normalise.postcode_key``, letters and digits only (``SW1A 1AA`` = ``sw1a1aa``);
- birthdates: the same calendar date; gender: ``normalise.gender_key`` (``female`` = ``F``;
  ``unknown`` is no value);
- identities (email, phone, card, external_id): the normalised value, held as an
  identity *or* in an imported attribute of the same name (``attributes.phone``).
  Identities are unique per program, so two members never hold the same one as
  identities; an identity field agrees when one member holds the value and the
  other carries it in its attributes (a record imported from another system).

A field missing on either side never agrees: two members without birthdates are
not "the same birthdate". The first rule that fires wins, auto-merge rules before
suggest rules, each in document order. Everything here is pure: no database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from patron.matching.normalise import blocking_keys  # noqa: F401  (migration 0016 fills keys with it)
from patron.matching.normalise import (birthdate_key, exact_key, gender_key, identity_key,
                                       postcode_key)
from patron.program.document import IDENTITY_KINDS, Matching

Action = Literal["auto_merge", "suggest"]
NAME_FIELDS = ("given_name", "family_name", "address_line1", "city")



def field_keys(name: str, member: Any, identities: Sequence[Any],
               default_region: str) -> dict[str, str]:
    """One field's match keys, each with the value it came from."""
    found: dict[str, str] = {}

    def keep(key: str | None, shown: Any) -> None:
        if key is not None:
            found.setdefault(key, str(shown))

    if name in NAME_FIELDS:
        keep(exact_key(getattr(member, name)), getattr(member, name))
    elif name == "gender":
        keep(gender_key(member.gender), member.gender)
    elif name == "postcode":
        keep(postcode_key(member.postcode), member.postcode)
    elif name == "birthdate":
        if isinstance(member.birthdate, date):
            keep(birthdate_key(member.birthdate), member.birthdate.isoformat())
    elif name in IDENTITY_KINDS:
        for row in identities:
            if row.type == name:
                keep(row.value, row.value)
        attributes = member.attributes if isinstance(member.attributes, Mapping) else {}
        value = attributes.get(name)
        if value is not None:
            keep(identity_key(name, value, default_region), value)
    return found


class MatchProfile:
    """One member as the rules see it: for each field, its match keys and the value each
    key came from (shown as evidence). Keys are worked out when a rule first asks for
    them: most look-alikes differ on the first field compared."""

    __slots__ = ("member_id", "_member", "_identities", "_region", "_keys")

    def __init__(self, member: Any, identities: Iterable[Any] | Callable[[], Sequence[Any]],
                 default_region: str = "US") -> None:
        self.member_id: int = member.id
        self._member = member
        self._identities = identities if callable(identities) else list(identities)
        self._region = default_region
        self._keys: dict[str, dict[str, str]] = {}

    @classmethod
    def from_rows(cls, member: Any, identities: Iterable[Any] | Callable[[], Sequence[Any]],
                  default_region: str = "US") -> MatchProfile:
        """From a ``members`` row and that member's ``identities`` rows (or a function
        that loads them, called only when a rule compares an identity)."""
        return cls(member, identities, default_region)

    def keys(self, name: str) -> dict[str, str]:
        """The field's match keys (empty when the member has none), each with its value."""
        found = self._keys.get(name)
        if found is None:
            identities = self._identities
            if name in IDENTITY_KINDS and callable(identities):
                identities = self._identities = list(identities())
            found = self._keys[name] = field_keys(
                name, self._member, identities if isinstance(identities, list) else [],
                self._region)
        return found


@dataclass(frozen=True)
class Decision:
    action: Action
    rule: str
    evidence: dict[str, Any]
    """Per field of the rule: the key both agree on and each member's value, by id."""


def agreement(field_name: str, a: MatchProfile, b: MatchProfile) -> dict[str, Any] | None:
    """The evidence that ``a`` and ``b`` agree on a field, or None when they do not."""
    mine = a.keys(field_name)
    theirs = b.keys(field_name) if mine else None
    shared = mine.keys() & theirs.keys() if theirs else None
    if not shared:
        return None
    key = min(shared)
    return {"agrees": True, "key": key,
            "values": {str(a.member_id): mine[key], str(b.member_id): theirs[key]}}


def decide(section: Matching, new: MatchProfile, other: MatchProfile) -> Decision | None:
    """The first rule whose fields all agree between the two members, or None.

    Within a rule, profile fields are compared before identities, which may need a
    query to load."""
    for action, name, fields in ordered_rules(section):
        evidence = {}
        for field_name in fields:
            agreed = agreement(field_name, new, other)
            if agreed is None:
                break
            evidence[field_name] = agreed
        else:
            return Decision(action, name, evidence)
    return None


_ORDERED: dict[int, tuple[Matching, list[tuple[Action, str, tuple[str, ...]]]]] = {}


def ordered_rules(section: Matching) -> list[tuple[Action, str, tuple[str, ...]]]:
    """The section's rules in the order they decide, each with its fields profile first:
    worked out once per compiled document, not for every pair enrolment compares."""
    found = _ORDERED.get(id(section))
    if found is None or found[0] is not section:
        if len(_ORDERED) >= 64:
            _ORDERED.clear()
        found = _ORDERED[id(section)] = (section, [
            (action, rule.name, tuple(sorted(rule.fields, key=IDENTITY_KINDS.__contains__)))
            for action, rule in section.rules()])
    return found[1]
