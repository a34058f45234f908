"""Rows of an import file turned into the payloads the API accepts (pure).

A JSONL line already *is* a payload (an event as ``POST /events`` takes it, a
member as ``POST /members`` takes it). A CSV row is mapped field by field:
``--map total=amount`` reads the event's ``total`` from column ``amount``,
``--set type=purchase`` gives every row the same value, and a column named like
the field is used without being mapped.

Adjacent purchase rows with the same ``order_id`` (and the same ``id``, if
given) are one order: each row is a line (``line.sku``, ``line.category``,
``line.quantity``, ``line.amount``) and the order's total is the sum of the line
amounts unless a ``total`` is given. A line may name its ``department``,
``category``, ``subcategory``, ``brand`` and ``line.discount``; the order its
``store_id``, ``discount`` and ``coupon_value``, on every row alike.
Adjacency lets a file of any size stream
through in batches; a row of an order that ended rows earlier is refused
(``split_order``) rather than taken for a repeat of it.

Without an ``id``, an event's id comes from what it records, never from where
the file lies: ``order:<order_id>`` for a purchase with an order id, otherwise
``csv:<digest of the event>`` (``:2``, ``:3``… for the second and third
identical row of the file). The same rows imported again, under any file name,
are recognised and skipped. Without an ``order_id``, a purchase's order id is
its event id.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from operator import itemgetter
from typing import Any, Literal
from zoneinfo import ZoneInfo

from patron.errors import InvalidInput

IDENTITY_FIELDS = ("external_id", "email", "phone", "card")
PRODUCT_FIELDS = ("department", "category", "subcategory", "brand")
"""A line's product hierarchy, read from ``line.<name>`` or a plain ``<name>`` column."""
LINE_FIELDS = ("line.sku", *(f"line.{name}" for name in PRODUCT_FIELDS), "line.quantity",
               "line.amount", "line.discount")
LINE_SOURCES = (("line.amount",), ("line.sku", "sku"), ("line.category", "category"),
                ("line.quantity", "quantity"),
                *((f"line.{name}", name) for name in PRODUCT_FIELDS), ("line.discount",))
"""The fields ``_lines`` reads from each row (``ColumnMap.line_columns``): a line's amount,
sku, category, quantity, product levels and discount."""
ORDER_MONEY = ("discount", "coupon_value")
"""Order-level money besides the total: the order's own discount and its coupons' value."""
EVENT_FIELDS = frozenset({"id", "type", "occurred_at", "channel", "member_id", *IDENTITY_FIELDS,
                          "order_id", "currency", "total", "store_id", *ORDER_MONEY, "sku",
                          *PRODUCT_FIELDS, "quantity", *LINE_FIELDS})
ORDER_FIELDS = ("id", "type", "occurred_at", "channel", "member_id", *IDENTITY_FIELDS,
                "currency", "total", "store_id", *ORDER_MONEY)
"""What every row of one order must agree on."""
PROFILE_FIELDS = ("name", "given_name", "family_name", "gender", "region", "join_channel")
ADDRESS_COLUMNS = {"address_line1": "line1", "address_line2": "line2", "city": "city",
                   "postcode": "postcode", "state": "state", "country": "country"}
"""A CSV's address columns and the parts of the profile's ``address`` they fill."""
MEMBER_FIELDS = frozenset({*IDENTITY_FIELDS, *PROFILE_FIELDS, *ADDRESS_COLUMNS, "birthdate",
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


class SplitOrder(InvalidRow):
    code = "split_order"
    title = "Rows of an order are apart"


@dataclass(frozen=True)
class ColumnMap:
    """How CSV columns become payload fields."""

    columns: dict[str, str] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    money: Literal["minor", "major"] = "minor"
    time_format: str | None = None
    date_format: str | None = None
    _sources: dict[str, tuple[bool, str]] = field(init=False, repr=False, compare=False)
    """Each mapped field's source, worked out once: (True, column) or (False, constant)."""
    _plans: dict[tuple[str, ...], tuple[list[Any], str | None]] = field(
        init=False, repr=False, compare=False)
    """``column``'s cells and constant, by the fields asked for (``_plan``)."""
    _cells: dict[tuple[str, ...], list[str]] = field(init=False, repr=False, compare=False)
    """``cells``' answers, by the fields asked for."""
    _line_plans: dict[tuple[Any, ...], list[tuple[list[Any], str | None]]] = field(
        init=False, repr=False, compare=False)
    """``line_columns``' cells, by the file's header."""

    def __post_init__(self) -> None:
        sources = {name: (False, value) for name, value in self.constants.items()}
        sources.update((name, (True, column)) for name, column in self.columns.items())
        object.__setattr__(self, "_sources", sources)
        object.__setattr__(self, "_plans", {})
        object.__setattr__(self, "_cells", {})
        object.__setattr__(self, "_line_plans", {})

    def get(self, row: Mapping[str, Any], name: str) -> str | None:
        source = self._sources.get(name)
        if source is None:
            value = row.get(name)
        elif source[0]:
            value = row.get(source[1])
        else:
            value = source[1]
        if value is None:
            return None
        text = (value if type(value) is str else str(value)).strip()
        return text or None

    def values(self, row: Mapping[str, Any], names: Sequence[str]) -> list[str | None]:
        """``[get(row, name) for name in names]`` in one call (a file's every row asks
        for the fields that group it into orders)."""
        found: list[str | None] = []
        for name in names:
            source = self._sources.get(name)
            value = (row.get(name) if source is None
                     else row.get(source[1]) if source[0] else source[1])
            if value is not None:
                value = (value if type(value) is str else str(value)).strip() or None
            found.append(value)
        return found

    def first(self, row: Mapping[str, Any], *names: str) -> str | None:
        """``get(row, a) or get(row, b) …``: the first of the fields given a value."""
        for name in names:
            source = self._sources.get(name)
            if source is None:
                value = row.get(name)
            elif source[0]:
                value = row.get(source[1])
            else:
                value = source[1]
            if value is not None:
                text = (value if type(value) is str else str(value)).strip()
                if text:
                    return text
        return None

    def column(self, rows: Sequence[Mapping[str, Any]], *names: str) -> list[str | None]:
        """``first(row, *names)`` of each row, reading the cells without a call per row:
        an order's lines are most of a file."""
        keys, constant = self._plans.get(names) or self._plan(names)
        if rows and type(rows[0]) is dict:
            # a CSV row has every column of the header (None where cells are missing):
            # a column the file lacks is no cell of any row
            keys = [key for key in keys if key in rows[0]]
        return _read(rows, keys, constant)

    def line_columns(self, rows: Sequence[Mapping[str, Any]]) -> list[list[str | None]]:
        """``column(rows, *names)`` for each of ``LINE_SOURCES``: an order's lines, read
        with the cells planned once per header (a CSV row holds every column of it)."""
        first = rows[0]
        if type(first) is not dict:
            return [self.column(rows, *names) for names in LINE_SOURCES]
        header = tuple(first)
        plan = self._line_plans.get(header)
        if plan is None:
            plan = []
            for names in LINE_SOURCES:
                keys, constant = self._plans.get(names) or self._plan(names)
                plan.append(([key for key in keys if key in first], constant))
            if len(self._line_plans) < 16:
                self._line_plans[header] = plan
        return [_read(rows, keys, constant) for keys, constant in plan]

    def _plan(self, names: tuple[str, ...]) -> tuple[list[Any], str | None]:
        """The cells ``column`` reads for these fields, in turn, and the constant that
        stands where they are all empty: worked out once per fields asked for."""
        keys: list[Any] = []
        constant: str | None = None
        for name in names:
            source = self._sources.get(name)
            if source is None or source[0]:
                key = name if source is None else source[1]
                if key not in keys:  # ``--map line.quantity=quantity``: one cell, read once
                    keys.append(key)
                continue
            constant = source[1].strip() or None
            if constant is not None:
                break
        self._plans[names] = keys, constant
        return keys, constant

    def cells(self, names: tuple[str, ...]) -> list[str]:
        """The cells these fields are read from, those not constants (worked out once)."""
        found = self._cells.get(names)
        if found is None:
            found = self._cells[names] = [c for c in map(self.cell, names) if c is not None]
        return found

    def cell(self, name: str) -> str | None:
        """The column a field is read from (None: a constant, the same on every row)."""
        source = self._sources.get(name)
        if source is None:
            return name
        return source[1] if source[0] else None

    def prefixed(self, row: Mapping[str, Any], prefix: str) -> dict[str, str]:
        names = {n for n in (*self.columns, *self.constants) if n.startswith(prefix)}
        names |= {c for c in row if isinstance(c, str) and c.startswith(prefix)}
        found = {n[len(prefix):]: self.get(row, n) for n in sorted(names)}
        return {k: v for k, v in found.items() if v is not None and k}


def _read(rows: Sequence[Mapping[str, Any]], keys: list[Any], constant: str | None
          ) -> list[str | None]:
    """Each row's first of these cells with text, else ``constant`` (``ColumnMap.column``,
    its cells worked out)."""
    if len(keys) == 1:
        key = keys[0]
        texts = [row.get(key) for row in rows]
        if all(type(text) is str for text in texts):
            return [text.strip() or constant for text in texts]
    if not keys:
        return [constant] * len(rows)
    found: list[str | None] = []
    for row in rows:
        text = None
        for key in keys:
            value = row.get(key)
            if value is not None:
                text = (value if type(value) is str else str(value)).strip() or None
                if text is not None:
                    break
        found.append(text if text is not None else constant)
    return found


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
            time_format: str | None = None, date_format: str | None = None) -> ColumnMap:
    return ColumnMap(_pairs(maps, "--map", kind), _pairs(sets, "--set", kind), money,
                    time_format, date_format)


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
    if text.isascii():
        whole, dot, fraction = (text.replace(",", "") if unit == "major" else text).partition(".")
        if whole.isdigit() and not dot:
            return int(whole) * 10 ** exponent if unit == "major" else int(whole)
        if (unit == "major" and whole.isdigit() and fraction.isdigit()
                and len(fraction) <= exponent):
            return int(whole) * 10 ** exponent + int(fraction.ljust(exponent, "0"))
    try:
        amount = Decimal(text.replace(",", "") if unit == "major" else text)
    except InvalidOperation:
        raise InvalidRow(f"{name} {text!r} is not a number", field=name) from None
    minor = amount.scaleb(exponent) if unit == "major" else amount
    if minor != minor.to_integral_value() or not minor.is_finite():
        what = f"more than {exponent} decimals" if unit == "major" else "not whole minor units"
        raise InvalidRow(f"{name} {text!r} has {what} (see --money)", field=name)
    return int(minor)


_MONEY_READERS: dict[tuple[str, int], Callable[[str, str], int]] = {}


def money_reader(unit: str, exponent: int) -> Callable[[str, str], int]:
    """``parse_money`` for one program's money (``reader(text, name)``), reading the usual
    amount (``12.50`` in major units with all its decimals, ``1250`` in minor) without a
    call more: a file of history has one a line."""
    found = _MONEY_READERS.get((unit, exponent))
    if found is not None:
        return found
    if unit == "major":
        def read(text: str, name: str) -> int:
            whole, _, fraction = text.partition(".")
            if (len(fraction) == exponent and whole.isdigit() and fraction.isdigit()
                    and text.isascii()):
                return int(whole + fraction)
            return parse_money(text, unit, exponent, name)
    else:
        def read(text: str, name: str) -> int:
            if text.isdigit() and text.isascii():
                return int(text)
            return parse_money(text, unit, exponent, name)
    _MONEY_READERS[(unit, exponent)] = read
    return read


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


def order_key(row: Mapping[str, Any], m: ColumnMap) -> tuple[str | None, str] | None:
    """What makes rows one order: a purchase's order id and event id; ``None`` for a row
    that is an event of its own."""
    order_id, kind, event_id = m.values(row, _KEY_FIELDS)
    if order_id is None or kind != "purchase":
        return None
    return event_id, order_id


_KEY_FIELDS = ("order_id", "type", "id")


def order_keys(m: ColumnMap) -> Callable[[Mapping[str, Any]], tuple[str | None, str] | None]:
    """``order_key`` for the rows of one file, with the map's sources worked out once
    (every row of a file asks): for the usual map, purchases whose type is set and whose
    order id is a column, two cells read per row."""
    order, kind, event = (m._sources.get(name) for name in _KEY_FIELDS)
    if (kind is None or kind[0] or order is None or not order[0]
            or (event is not None and not event[0])):
        return lambda row: order_key(row, m)
    if kind[1].strip() != "purchase":
        return lambda row: None
    order_cell, event_cell = order[1], "id" if event is None else event[1]

    def key(row: Mapping[str, Any]) -> tuple[str | None, str] | None:
        order_id = row.get(order_cell)
        if order_id is None:
            return None
        order_id = (order_id if type(order_id) is str else str(order_id)).strip()
        if not order_id:
            return None
        event_id = row.get(event_cell)
        if event_id is not None:
            event_id = (event_id if type(event_id) is str else str(event_id)).strip() or None
        return event_id, order_id
    return key


def split_order(key: tuple[str | None, str]) -> SplitOrder:
    return SplitOrder(f"order {key[1]} already ended rows earlier: the rows of an order must "
                      "be next to each other", order_id=key[1])


def _whole(quantity: str) -> int:
    if not quantity.isdigit():
        raise InvalidRow(f"quantity {quantity!r} is not a whole number", field="line.quantity")
    return int(quantity)


def _lines(rows: Sequence[Mapping[str, Any]], m: ColumnMap, locale: Locale,
           total: int | None) -> tuple[list[dict[str, Any]], list[int]]:
    """An order's lines, one a row, and each row's amount (a lone row without a
    ``line.amount`` is a line worth the order's total)."""
    given, skus, categories, quantities, *levels, discounts = m.line_columns(rows)
    # the product levels the order's rows give (a file often has none)
    products = [(name, column) for name, column in zip(PRODUCT_FIELDS, levels)
                if column.count(None) < len(column)]
    money = money_reader(m.money, locale.minor_exponent)
    if None not in given:  # every row gives its amount: the usual order
        amounts = [money(amount, "line.amount") for amount in given]
    elif len(rows) > 1:
        for amount in given[:given.index(None)]:  # a row before it may be wrong first
            money(amount, "line.amount")
        raise InvalidRow(f"an order of {len(rows)} rows needs each row's line.amount",
                         field="line.amount")
    elif total is not None:
        amounts = [total]
    else:
        raise InvalidRow("a purchase needs a total (or a line.amount)", field="total")
    if None not in skus and not products and discounts.count(None) == len(discounts):
        # each row a line of a product named by its sku alone: built in one pass
        return [{"sku": sku, "category": None, "quantity": _whole(quantity or "1"),
                 "amount": amount}
                for sku, quantity, amount in zip(skus, quantities, amounts)], amounts
    lines: list[dict[str, Any]] = []
    for n, (sku, category, quantity) in enumerate(zip(skus, categories, quantities)):
        if sku or category:
            lines.append(_line(sku or category, quantity, amounts[n],
                               {name: column[n] for name, column in products
                                if column[n] is not None} if products else {},
                               discounts[n], m, locale))
    if lines and len(lines) != len(rows):
        raise InvalidRow("some rows of the order name no line.sku or line.category",
                         field="line.sku")
    return lines, amounts


def _line(sku: str, quantity: str | None, amount: int, products: dict[str, str],
          discount: str | None, m: ColumnMap, locale: Locale) -> dict[str, Any]:
    line: dict[str, Any] = {"sku": sku, "category": None, **products,
                            "quantity": _whole(quantity or "1"), "amount": amount}
    if discount is not None:
        line["discount"] = parse_money(discount, m.money, locale.minor_exponent,
                                       "line.discount")
    return line


def _order_extras(row: Mapping[str, Any], m: ColumnMap, locale: Locale) -> dict[str, Any]:
    """The store and order-level money a purchase row gives, those present only."""
    extras: dict[str, Any] = {}
    store_id = m.get(row, "store_id")
    if store_id is not None:
        extras["store_id"] = store_id
    for name in ORDER_MONEY:
        given = m.get(row, name)
        if given is not None:
            extras[name] = parse_money(given, m.money, locale.minor_exponent, name)
    return extras


def _purchase(rows: Sequence[Mapping[str, Any]], m: ColumnMap, locale: Locale
              ) -> dict[str, Any]:
    first = rows[0]
    given = m.get(first, "total")
    total = (parse_money(given, m.money, locale.minor_exponent) if given is not None
             else None)
    lines, amounts = _lines(rows, m, locale, total)
    data: dict[str, Any] = {"currency": (m.get(first, "currency") or locale.currency).upper(),
                            "total": sum(amounts) if total is None else total,
                            **_order_extras(first, m, locale)}
    if lines:
        data["lines"] = lines
    return data


def _agreed(rows: Sequence[Mapping[str, Any]], m: ColumnMap, order_id: str) -> None:
    first = rows[0]
    # the cells of the file (a CSV row has every column of the header) each field is read
    # from: the same cells, the same values (the usual case, checked cheaply)
    cells = [cell for cell in m.cells(ORDER_FIELDS) if cell in first]
    if not cells:
        return
    read = itemgetter(*cells)
    same = read(first)
    if all(read(row) == same for row in rows):
        return
    for name in ORDER_FIELDS:
        values = {m.get(row, name) for row in rows}
        if len(values) > 1:
            found = ", ".join(sorted(repr(v) for v in values))
            raise InvalidRow(f"the rows of order {order_id} differ in {name}: {found}",
                             field=name)


def content_id(payload: Mapping[str, Any], repeats: Counter[str]) -> str:
    """An id from what the event records, so the same rows have the same ids whatever the
    file is called; the n-th identical row of a file (two equal purchases on one day) is
    ``:n``, so it is not taken for a repeat of the first."""
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    repeats[digest] += 1
    return f"csv:{digest}" + (f":{repeats[digest]}" if repeats[digest] > 1 else "")


def order_event_id(order_id: str) -> str:
    """A purchase's id from its order id (hashed if it is not one an event id allows)."""
    if re.fullmatch(r"[\x21-\x7e]{1,140}", order_id):
        return f"order:{order_id}"
    return f"order:{hashlib.sha256(order_id.encode()).hexdigest()[:32]}"


def event_payload(rows: Sequence[Mapping[str, Any]], m: ColumnMap, locale: Locale,
                  repeats: Counter[str] | None = None) -> dict[str, Any]:
    """The ``EventIn`` payload of one CSV row, or of the rows of one order (validated by
    the caller); ``repeats`` counts the file's rows without an id, by content."""
    first = rows[0]
    kind, when = m.get(first, "type"), m.get(first, "occurred_at")
    if kind is None or when is None:
        raise InvalidRow("the row has no " + ("type" if kind is None else "occurred_at"))
    order_id = m.get(first, "order_id") if kind == "purchase" else None
    if len(rows) > 1:
        _agreed(rows, m, order_id or "")
    payload: dict[str, Any] = {
        "type": kind, "member": _member_ref(first, m),
        "occurred_at": parse_time(when, m.time_format, locale.timezone),
        "channel": m.get(first, "channel"),
        "data": (_purchase(rows, m, locale) if kind == "purchase"
                 else dict(m.prefixed(first, "data.")))}
    event_id = m.get(first, "id")
    if event_id is None:
        event_id = (order_event_id(order_id) if order_id is not None
                    else content_id(payload, repeats if repeats is not None else Counter()))
    if kind == "purchase":
        payload["data"] = {"order_id": order_id or event_id, **payload["data"]}
    return {"id": event_id, **payload}


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
    profile: dict[str, Any] = {k: m.get(row, k) for k in PROFILE_FIELDS
                               if m.get(row, k) is not None}
    address = {part: m.get(row, column) for column, part in ADDRESS_COLUMNS.items()
               if m.get(row, column) is not None}
    if address:
        profile["address"] = address
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
