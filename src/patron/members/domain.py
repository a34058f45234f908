"""Identity normalisation: one member, recognised the same way on every channel.

An email typed as ``Ann@Example.COM`` at the till and ``ann@example.com`` in the
web shop is one identity, so values are normalised before they are compared or
stored: emails lower-cased, phones to E.164, card numbers without spaces.

A birthdate lies from 1900-01-01 to today. The payload schema keeps the lower
bound; today needs the injected clock, so ``refuse_future_birthdate`` is called
where ``now`` is known and answers as the schema would have.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import lru_cache
from enum import StrEnum
from zoneinfo import ZoneInfo

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from patron.errors import InvalidInput


class IdentityType(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    EXTERNAL_ID = "external_id"
    CARD = "card"


class InvalidIdentity(InvalidInput):
    code = "invalid_identity"
    title = "Invalid identity"


EARLIEST_BIRTHDATE = date(1900, 1, 1)
BIRTHDATE_RULE = "birthdate must be between 1900-01-01 and today"
BIRTHDATE_FIELD = "profile.birthdate"


class BirthdateInFuture(InvalidInput):
    """Answered exactly as the payload check it completes: 422 ``validation_error``
    with the failing field in ``errors``."""

    code = "validation_error"
    title = "Invalid request"


def refuse_future_birthdate(birthdate: date | None, now: datetime, zone: ZoneInfo) -> None:
    """A birthdate after today, the program's own day (``zone``), is refused."""
    if birthdate is not None and birthdate > now.astimezone(zone).date():
        message = f"Value error, {BIRTHDATE_RULE}"
        raise BirthdateInFuture(f"{BIRTHDATE_FIELD}: {message}", errors=[
            {"field": BIRTHDATE_FIELD, "message": message, "type": "value_error"}])


_CARD = re.compile(r"^[A-Z0-9]{4,64}$")
_PRINTABLE = re.compile(r"^[\x21-\x7e]{1,200}$")


def normalise_identity(kind: IdentityType | str, value: str, default_region: str = "US") -> str:
    kind = IdentityType(kind)
    value = value.strip()
    if kind is IdentityType.EMAIL:
        return _email(value)
    if kind is IdentityType.PHONE:
        return _phone(value, default_region)
    if kind is IdentityType.CARD:
        card = re.sub(r"[\s-]", "", value).upper()
        if not _CARD.match(card):
            raise InvalidIdentity(f"card number {value!r} must be 4-64 letters or digits",
                                  field="value")
        return card
    if not _PRINTABLE.match(value):
        raise InvalidIdentity("external_id must be 1-200 visible ASCII characters",
                              field="value")
    return value


@lru_cache(maxsize=65_536)  # a member's identity comes back with each event; parsing it costs
def _email(value: str) -> str:
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidIdentity(f"{value!r} is not a valid email address: {exc}",
                              field="value") from None
    return result.normalized.lower()


@lru_cache(maxsize=65_536)
def _phone(value: str, default_region: str) -> str:
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentity(f"{value!r} is not a phone number: {exc}", field="value") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentity(f"{value!r} is not a valid phone number", field="value")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_identity_query(text: str) -> tuple[IdentityType, str]:
    """``email:ann@example.com`` → (email, ann@example.com)."""
    kind, sep, value = text.partition(":")
    if not sep or not value:
        raise InvalidInput("identity must look like TYPE:VALUE, e.g. email:ann@example.com",
                           field="identity")
    try:
        return IdentityType(kind), value
    except ValueError:
        raise InvalidInput(f"unknown identity type {kind!r}; use one of "
                           + ", ".join(t.value for t in IdentityType), field="identity") from None
