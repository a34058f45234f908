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

    __slots__ = ("member_id", "_member", "_identities", "_region", "_keys", "_compared")

    def __init__(self, member: Any, identities: Iterable[Any] | Callable[[], Sequence[Any]],
                 default_region: str = "US") -> None:
        self.member_id: int = member.id
        self._member = member
        self._identities = identities if callable(identities) else list(identities)
        self._region = default_region
        self._keys: dict[str, dict[str, str]] = {}
        self._compared: dict[str, Any] = {}

    @classmethod
    def from_rows(cls, member: Any, identities: Iterable[Any] | Callable[[], Sequence[Any]],
                  default_region: str = "US") -> MatchProfile:
        """From a ``members`` row and that member's ``identities`` rows (or a function
        that loads them, called only when a rule compares an identity)."""
        return cls(member, identities, default_region)

    def _identity_rows(self) -> list[Any]:
        identities = self._identities
        if callable(identities):
            identities = self._identities = list(identities())
        return identities

    def keys(self, name: str) -> dict[str, str]:
        """The field's match keys (empty when the member has none), each with its value."""
        found = self._keys.get(name)
        if found is None:
            identities = self._identity_rows() if name in IDENTITY_KINDS else []
            found = self._keys[name] = field_keys(name, self._member, identities, self._region)
        return found

    def compared(self, name: str) -> Any:
        """What the rules compare of the field, without the values shown as evidence: one
        key (a profile field) or a frozenset of keys (an identity kind); None when the
        member has none. Deciding on these costs a dictionary look-up per field: the keys
        shown as evidence are worked out only for the rule that fires."""
        try:
            return self._compared[name]
        except KeyError:
            pass
        reader = PROFILE_KEYS.get(name)
        if reader is not None:
            found = reader(self._member)
        else:
            found = frozenset(self.keys(name)) or None
        self._compared[name] = found
        return found


def _name_reader(name: str) -> Callable[[Any], str | None]:
    def read(member: Any) -> str | None:
        value = getattr(member, name)
        return exact_key(value) if value is not None else None
    return read


def _birthdate(member: Any) -> int | None:
    value = member.birthdate
    return value.toordinal() if isinstance(value, date) else None


PROFILE_KEYS: dict[str, Callable[[Any], Any]] = {
    **{name: _name_reader(name) for name in NAME_FIELDS},
    "gender": lambda member: gender_key(member.gender),
    "postcode": lambda member: postcode_key(member.postcode),
    "birthdate": _birthdate,
}
"""How each profile field's compared key is read: the same key ``field_keys`` gives (a
birthdate as its day number rather than ``YYYYMMDD``: equal exactly when those are)."""


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

    Within a rule, the fields that tell most people apart and cost least are compared
    first (birthdate, postcode, family name), identities last: they may need a query
    to load."""
    for action, name, compared, shown in ordered_rules(section):
        for field_name in compared:
            mine = new.compared(field_name)
            if mine is None:
                break
            theirs = other.compared(field_name)
            if theirs is None or (mine != theirs if field_name not in IDENTITY_KINDS
                                  else mine.isdisjoint(theirs)):
                break
        else:
            return Decision(action, name, {field_name: agreement(field_name, new, other)
                                           for field_name in shown})
    return None


FIRST_COMPARED = {"birthdate": 0, "postcode": 1, "family_name": 2}
"""Fields compared before the others of a rule: enrolment's look-alikes share a birthdate
or a postcode, so these settle most pairs at the first or second field."""

CompiledRule = tuple[Action, str, tuple[str, ...], tuple[str, ...]]
_ORDERED: dict[int, tuple[Matching, list[CompiledRule]]] = {}


def _compare_rank(field_name: str) -> tuple[bool, int]:
    return field_name in IDENTITY_KINDS, FIRST_COMPARED.get(field_name, len(FIRST_COMPARED))


def ordered_rules(section: Matching) -> list[CompiledRule]:
    """The section's rules in the order they decide, each with its fields in the order
    they are compared and in the order the evidence shows them (profile fields first):
    worked out once per compiled document, not for every pair enrolment compares."""
    found = _ORDERED.get(id(section))
    if found is None or found[0] is not section:
        if len(_ORDERED) >= 64:
            _ORDERED.clear()
        found = _ORDERED[id(section)] = (section, [
            (action, rule.name, tuple(sorted(rule.fields, key=_compare_rank)),
             tuple(sorted(rule.fields, key=IDENTITY_KINDS.__contains__)))
            for action, rule in section.rules()])
    return found[1]
