"""Match keys: the form of each profile field that two records are compared on.

Pure functions. A key is ``None`` when the field says nothing, so that "unknown" is never
mistaken for "different". Names, cities and streets are transliterated to ASCII (``Zoë`` and
``Zoe``, ``Łódź`` and ``Lodz`` become one key), lower-cased, stripped of punctuation and of
extra whitespace. Phones and emails are compared as the identities already store them
(``patron.members.domain.normalise_identity``), so they are not normalised again here.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

from anyascii import anyascii

from patron.errors import InvalidInput
from patron.members.domain import normalise_identity

_NOT_WORD = re.compile(r"[^a-z0-9 ]+")
_SPACES = re.compile(r"\s+")
_NOT_ALNUM = re.compile(r"[^A-Z0-9]+")
_HYPHENS = re.compile(r"[-_/.,']")


@lru_cache(maxsize=1 << 18)
def text_key(value: str | None) -> str | None:
    """A name, city or street as a key: ASCII, lower case, words split by single spaces.
    Cached: names and cities repeat across a program's members, and batch matching keys
    every member."""
    if value is None:
        return None
    ascii_text = anyascii(str(value)).lower()
    ascii_text = _HYPHENS.sub(" ", ascii_text)
    ascii_text = _NOT_WORD.sub("", ascii_text)
    key = _SPACES.sub(" ", ascii_text).strip()
    return key or None


def name_key(value: str | None) -> str | None:
    """A given or family name as a key; ``O'Brien`` and ``o brien`` agree."""
    return text_key(value)


@lru_cache(maxsize=1 << 16)
def postcode_key(value: str | None) -> str | None:
    """A postcode with spaces and punctuation removed, upper case (``sw1a 1aa`` → ``SW1A1AA``)."""
    if value is None:
        return None
    key = _NOT_ALNUM.sub("", anyascii(str(value)).upper())
    return key or None


def address_key(line1: str | None, line2: str | None = None) -> str | None:
    """Both street lines as one key (the order people write them in varies by channel)."""
    parts = [k for k in (text_key(line1), text_key(line2)) if k]
    return " ".join(parts) or None


def street_key(line1: str | None, line2: str | None = None) -> str | None:
    """The address without its numbers: the street, building and locality words. House
    numbers are compared on their own (``street_number``); left in, a shared number and a
    shared "road" make two different streets look alike to a string similarity."""
    key = address_key(line1, line2)
    if key is None:
        return None
    return " ".join(t for t in key.split() if not any(c.isdigit() for c in t)) or None


def address_tokens(line1: str | None, line2: str | None = None) -> tuple[str, ...]:
    """The words of an address, each once, sorted: ``12 High St`` and ``High St 12`` agree."""
    key = address_key(line1, line2)
    return tuple(sorted(set(key.split()))) if key else ()


def street_number(line1: str | None, line2: str | None = None) -> str | None:
    """The first number written in the address (house or flat number), or ``None``."""
    key = address_key(line1, line2)
    if key is None:
        return None
    for token in key.split():
        if token.isdigit():
            return token.lstrip("0") or "0"
    return None


def birthdate_key(value: date | str | None) -> str | None:
    """``YYYYMMDD``: one typo in a birthdate is one character different."""
    if value is None:
        return None
    if isinstance(value, date):
        return value.strftime("%Y%m%d")
    digits = re.sub(r"[^0-9]", "", str(value))
    return digits if len(digits) == 8 else None


def birthdate_parts(value: date | str | None) -> tuple[str, str, str] | None:
    """Year, month and day of a birthdate key, for comparing them one by one."""
    key = birthdate_key(value)
    return (key[:4], key[4:6], key[6:]) if key else None


def gender_key(value: str | None) -> str | None:
    """``f``, ``m`` or another recorded value in lower case; ``None`` when unknown."""
    key = text_key(value)
    if key in (None, "unknown", "u", "not specified", "prefer not to say"):
        return None
    return {"female": "f", "woman": "f", "male": "m", "man": "m"}.get(key, key)


def country_key(value: str | None) -> str | None:
    """An ISO 3166 alpha-2 country in upper case."""
    if value is None:
        return None
    key = str(value).strip().upper()
    return key or None


@lru_cache(maxsize=1 << 18)
def exact_key(value: str | None) -> str | None:
    """A name, street or city as deterministic rules compare it, and as ``members.family_key``
    holds it: ``text_key`` without its spaces, so ``O'Brien``, ``OBrien`` and ``O Brien`` agree,
    as do ``Smith-Jones`` and ``smith jones``. (The model compares ``text_key`` with a string
    similarity instead, which the spaces help.) Case-folded first: the same text typed in
    upper case transliterates alike (``µ`` and its upper case ``Μ``). Cached, like
    ``text_key``: enrolment compares the same names again and again."""
    key = text_key(value.casefold()) if value is not None else None
    return key.replace(" ", "") if key else None


FAMILY_KEY_LENGTH, POSTCODE_KEY_LENGTH = 100, 20
"""The widths of ``members.family_key`` and ``members.postcode_key``."""


def blocking_keys(family_name: str | None, postcode: str | None
                  ) -> tuple[str | None, str | None]:
    """``members.family_key`` and ``members.postcode_key``: what enrolment looks members up by."""
    family, code = exact_key(family_name), postcode_key(postcode)
    return ((family[:FAMILY_KEY_LENGTH] if family else None),
            (code[:POSTCODE_KEY_LENGTH] if code else None))


def identity_key(kind: str, value: object, default_region: str) -> str | None:
    """A value as the identity of ``kind`` would be stored (a phone in E.164, an email in
    lower case), or ``None`` when it is not one: how a phone imported into a member's
    attributes is compared with another member's phone identity."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    try:
        return normalise_identity(kind, str(value), default_region)
    except InvalidInput:
        return None


# The same keys as DuckDB SQL, for batch matching: a million members keyed in one statement
# instead of a million Python calls. Each expression takes text already transliterated to
# ASCII (``NON_ASCII`` finds the values that need it; ``anyascii`` is applied in Python to
# each distinct one, so the few non-Latin names cost a lookup, not a pass over every row).
# ``tests/matching/test_sql_keys.py`` holds them equal to the Python functions above.

NON_ASCII = r"[^\x{00}-\x{7F}]"
"""RE2 pattern of a character ``anyascii`` would change."""


def text_key_sql(column: str) -> str:
    """``text_key`` of an ASCII ``column``."""
    lowered = f"lower({column})"
    spaced = f"regexp_replace({lowered}, '[-_/.,'']', ' ', 'g')"
    kept = f"regexp_replace({spaced}, '[^a-z0-9 ]+', '', 'g')"
    return f"nullif(trim(regexp_replace({kept}, ' +', ' ', 'g')), '')"


def postcode_key_sql(column: str) -> str:
    """``postcode_key`` of an ASCII ``column``."""
    return f"nullif(regexp_replace(upper({column}), '[^A-Z0-9]+', '', 'g'), '')"


def address_key_sql(line1: str, line2: str) -> str:
    """``address_key`` of two ASCII columns (``concat_ws`` leaves out the unknown one)."""
    return f"nullif(concat_ws(' ', {text_key_sql(line1)}, {text_key_sql(line2)}), '')"


def street_key_sql(address: str) -> str:
    """``street_key`` from an ``address_key`` column: its words without a digit."""
    words = f"list_filter(string_split({address}, ' '), w -> NOT regexp_matches(w, '[0-9]'))"
    return f"nullif(array_to_string({words}, ' '), '')"


def street_number_sql(address: str) -> str:
    """``street_number`` from an ``address_key`` column: its first all-digit word."""
    first = (f"list_filter(string_split({address}, ' '), "
             f"w -> regexp_full_match(w, '[0-9]+'))[1]")
    return f"CASE WHEN {first} IS NOT NULL THEN coalesce(nullif(ltrim({first}, '0'), ''), '0') END"


def birthdate_key_sql(column: str) -> str:
    """``birthdate_key`` of a date or its text (``YYYY-MM-DD`` or any 8 digits)."""
    digits = f"regexp_replace(CAST({column} AS VARCHAR), '[^0-9]', '', 'g')"
    return f"CASE WHEN length({digits}) = 8 THEN {digits} END"


def gender_key_sql(column: str) -> str:
    """``gender_key`` of an ASCII ``column``."""
    key = text_key_sql(column)
    return (f"CASE WHEN {key} IN ('unknown', 'u', 'not specified', 'prefer not to say') "
            f"THEN NULL WHEN {key} IN ('female', 'woman') THEN 'f' "
            f"WHEN {key} IN ('male', 'man') THEN 'm' ELSE {key} END")


def country_key_sql(column: str) -> str:
    """``country_key``: trimmed of whitespace, upper case."""
    return rf"nullif(upper(regexp_replace({column}, '^\s+|\s+$', '', 'g')), '')"
