"""Rows of an import file turned into the payloads the API accepts (pure).

A JSONL line already *is* a payload (an event as ``POST /events`` takes it, a
member as ``POST /members`` takes it). A CSV row is mapped field by field:
``--map total=amount`` reads the event's ``total`` from column ``amount``,
``--set type=purchase`` gives every row the same value, and a column named like
the field is used without being mapped.

Without an ``id``, an event's id is ``<prefix>:<line>`` (the prefix defaults to
the file's name), so importing the same file again is recognised and skipped.
Without an ``order_id``, a purchase's order id is its event id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from zoneinfo import ZoneInfo

from patron.errors import InvalidInput

IDENTITY_FIELDS = ("external_id", "email", "phone", "card")
EVENT_FIELDS = frozenset({"id", "type", "occurred_at", "channel", "member_id", *IDENTITY_FIELDS,
                          "order_id", "currency", "total", "sku", "category", "quantity"})
MEMBER_FIELDS = frozenset({*IDENTITY_FIELDS, "name", "birthdate", "region", "join_channel",
                           "joined_at"})
PREFIXES = {"event": ("data.",), "member": ("attributes.", "consents.")}
TRUE = {"true", "yes", "y", "1"}
FALSE = {"false", "no", "n", "0"}


class InvalidMapping(InvalidInput):
    code = "invalid_mapping"
    title = "Invalid column mapping"


class InvalidRow(InvalidInput):
    code = "invalid_row"
    title = "Row cannot be read"


@dataclass(frozen=True)
class ColumnMap:
    """How CSV columns become payload fields."""

    columns: dict[str, str] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    money: Literal["minor", "major"] = "minor"
    time_format: str | None = None
    date_format: str | None = None
    id_prefix: str = "import"

    def get(self, row: Mapping[str, Any], name: str) -> str | None:
        if name in self.columns:
            value = row.get(self.columns[name])
        elif name in self.constants:
            value = self.constants[name]
        else:
            value = row.get(name)
        if value is None:
            return None
        text = str(value).strip()
        return text or None

    def prefixed(self, row: Mapping[str, Any], prefix: str) -> dict[str, str]:
        names = {n for n in (*self.columns, *self.constants) if n.startswith(prefix)}
        names |= {c for c in row if isinstance(c, str) and c.startswith(prefix)}
        found = {n[len(prefix):]: self.get(row, n) for n in sorted(names)}
        return {k: v for k, v in found.items() if v is not None and k}


@dataclass(frozen=True)
class Locale:
    """What a row's bare values mean in this program."""

    currency: str
    minor_exponent: int
    timezone: str


def _pairs(items: Iterable[str], option: str, kind: str) -> dict[str, str]:
    allowed = EVENT_FIELDS if kind == "event" else MEMBER_FIELDS
    result: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidMapping(f"{option} {item!r}: write FIELD=VALUE", field=option)
        if name not in allowed and not name.startswith(PREFIXES[kind]):
            raise InvalidMapping(
                f"{option} {item!r}: {name!r} is not a {kind} field; fields: "
                f"{', '.join(sorted(allowed))} or {' / '.join(p + 'NAME' for p in PREFIXES[kind])}",
                field=option)
        result[name] = value.strip()
    return result


def mapping(kind: Literal["event", "member"], maps: Iterable[str] = (),
            sets: Iterable[str] = (), *, money: Literal["minor", "major"] = "minor",
            time_format: str | None = None, date_format: str | None = None,
            id_prefix: str = "import") -> ColumnMap:
    return ColumnMap(_pairs(maps, "--map", kind), _pairs(sets, "--set", kind), money,
                    time_format, date_format, safe_prefix(id_prefix))


def safe_prefix(text: str) -> str:
    """An id prefix made of the printable ASCII an event id allows."""
    return re.sub(r"[^\x21-\x7e]", "_", text)[:100] or "import"


def check_columns(header: Iterable[str], m: ColumnMap, kind: Literal["event", "member"]) -> None:
    """Refuse at once a mapping that names missing columns or leaves out what is needed."""
    columns = set(header)
    missing = sorted(c for c in m.columns.values() if c not in columns)
    if missing:
        raise InvalidMapping(f"columns not in the file: {', '.join(missing)}",
                             columns=sorted(columns))

    def has(name: str) -> bool:
        return name in m.columns or name in m.constants or name in columns

    needed = ["occurred_at", "type"] if kind == "event" else []
    absent = [n for n in needed if not has(n)]
    who = ("member_id", *IDENTITY_FIELDS) if kind == "event" else IDENTITY_FIELDS
    if not any(has(n) for n in who):
        absent.append(" or ".join(who))
    if absent:
        raise InvalidMapping(f"nothing gives {', '.join(absent)}: map a column "
                             "(--map FIELD=COLUMN) or set a value (--set FIELD=VALUE)")


def parse_money(text: str, unit: str, exponent: int, name: str = "total") -> int:
    try:
        amount = Decimal(text.replace(",", "") if unit == "major" else text)
    except InvalidOperation:
        raise InvalidRow(f"{name} {text!r} is not a number", field=name) from None
    minor = amount.scaleb(exponent) if unit == "major" else amount
    if minor != minor.to_integral_value() or not minor.is_finite():
        what = f"more than {exponent} decimals" if unit == "major" else "not whole minor units"
        raise InvalidRow(f"{name} {text!r} has {what} (see --money)", field=name)
    return int(minor)


def parse_time(text: str, time_format: str | None, zone: str, name: str = "occurred_at"
               ) -> datetime:
    """A timestamp; one without an offset (or a bare date) is in the program's timezone."""
    try:
        value = (datetime.strptime(text, time_format) if time_format
                 else datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        hint = time_format or "ISO 8601, e.g. 2024-05-01T12:30:00+02:00"
        raise InvalidRow(f"{name} {text!r} does not match {hint}", field=name) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(zone))
    return value.astimezone(UTC)


def parse_date(text: str, date_format: str | None, name: str) -> date:
    """A calendar date (a birthdate): ISO 8601 or ``date_format``, never a timestamp's
    format, since a file's dates and times are often written differently."""
    try:
        return (datetime.strptime(text, date_format).date() if date_format
                else date.fromisoformat(text))
    except ValueError:
        hint = date_format or "ISO 8601, e.g. 1990-05-01"
        raise InvalidRow(f"{name} {text!r} does not match {hint}", field=name) from None


def _member_ref(row: Mapping[str, Any], m: ColumnMap) -> dict[str, Any]:
    member_id = m.get(row, "member_id")
    if member_id is not None:
        if not member_id.isdigit():
            raise InvalidRow(f"member_id {member_id!r} is not a number", field="member_id")
        return {"id": int(member_id)}
    for kind in IDENTITY_FIELDS:
        value = m.get(row, kind)
        if value is not None:
            return {"identity": {"type": kind, "value": value}}
    raise InvalidRow("the row names no member (member_id, external_id, email, phone, card)")


def _purchase(row: Mapping[str, Any], m: ColumnMap, locale: Locale, event_id: str
              ) -> dict[str, Any]:
    total = m.get(row, "total")
    if total is None:
        raise InvalidRow("a purchase needs a total", field="total")
    data: dict[str, Any] = {
        "order_id": m.get(row, "order_id") or event_id,
        "currency": (m.get(row, "currency") or locale.currency).upper(),
        "total": parse_money(total, m.money, locale.minor_exponent)}
    sku, category = m.get(row, "sku"), m.get(row, "category")
    if sku or category:
        quantity = m.get(row, "quantity") or "1"
        if not quantity.isdigit():
            raise InvalidRow(f"quantity {quantity!r} is not a whole number", field="quantity")
        data["lines"] = [{"sku": sku or category, "category": category,
                          "quantity": int(quantity), "amount": data["total"]}]
    return data


def event_payload(row: Mapping[str, Any], line: int, m: ColumnMap, locale: Locale
                  ) -> dict[str, Any]:
    """The ``EventIn`` payload of one CSV row (validated by the caller)."""
    event_id = m.get(row, "id") or f"{m.id_prefix}:{line}"
    kind = m.get(row, "type")
    when = m.get(row, "occurred_at")
    if kind is None or when is None:
        raise InvalidRow("the row has no " + ("type" if kind is None else "occurred_at"))
    payload: dict[str, Any] = {
        "id": event_id, "type": kind, "member": _member_ref(row, m),
        "occurred_at": parse_time(when, m.time_format, locale.timezone),
        "channel": m.get(row, "channel")}
    data = (_purchase(row, m, locale, event_id) if kind == "purchase"
            else dict(m.prefixed(row, "data.")))
    payload["data"] = data
    return payload


def _flag(text: str, name: str) -> bool:
    if text.lower() in TRUE:
        return True
    if text.lower() in FALSE:
        return False
    raise InvalidRow(f"{name} {text!r} is not yes/no", field=name)


def member_payload(row: Mapping[str, Any], m: ColumnMap, locale: Locale
                   ) -> tuple[dict[str, Any], datetime | None]:
    """The ``MemberCreate`` payload of one CSV row, and when the member joined."""
    identities = [{"type": kind, "value": m.get(row, kind)} for kind in IDENTITY_FIELDS
                  if m.get(row, kind) is not None]
    if not identities:
        raise InvalidRow("the row has no identity (external_id, email, phone or card)")
    profile: dict[str, Any] = {k: m.get(row, k) for k in ("name", "region", "join_channel")
                               if m.get(row, k) is not None}
    birthdate = m.get(row, "birthdate")
    if birthdate is not None:
        profile["birthdate"] = parse_date(birthdate, m.date_format, "birthdate")
    attributes = m.prefixed(row, "attributes.")
    if attributes:
        profile["attributes"] = attributes
    consents = {k: _flag(v, f"consents.{k}") for k, v in m.prefixed(row, "consents.").items()}
    joined = m.get(row, "joined_at")
    joined_at = parse_time(joined, m.time_format, locale.timezone, "joined_at") if joined else None
    return {"identities": identities, "profile": profile, "consents": consents}, joined_at
