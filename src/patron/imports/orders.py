"""An order a CSV file gives, taken as the order schema would take it (pure).

A purchase's data is checked by ``PurchaseData`` before it is recorded. A year of
history is millions of lines, and building a pydantic model per line cost more than
writing the line. The orders ``patron.imports.domain`` builds from CSV rows hold only
text and integers, so :func:`plain_order` checks them field by field with the same
limits and, when they pass, gives the values the schema would have given (its
defaults filled in). Anything it does not pass goes through the schema, which refuses
it with its own words: the check only ever says yes to what the schema says yes to.
"""

from __future__ import annotations

from itertools import repeat
from typing import Any

from patron.schemas_common import MAX_MONEY

MAX_LINES = 500
MAX_QUANTITY = 1_000_000
ORDER_KEYS = frozenset({"order_id", "currency", "total", "store_id", "discount",
                        "coupon_value", "lines"})
LINE_KEYS = frozenset({"sku", "department", "category", "subcategory", "brand", "quantity",
                       "amount", "discount"})
LEVELS = ("department", "category", "subcategory", "brand")


def _storable(text: str) -> bool:
    """No NUL character and no lone surrogate (``schemas_common.storable``)."""
    if "\x00" in text:
        return False
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return True


def _texts(values: list[Any], shortest: int, longest: int) -> bool:
    """Every value is ``Text`` of these lengths (a column of an order's lines at once)."""
    if set(map(type, values)) != {str}:
        return False
    lengths = list(map(len, values))
    return (min(lengths) >= shortest and max(lengths) <= longest
            and _storable("".join(values)))


def _integers(values: list[Any], least: int, most: int) -> bool:
    return set(map(type, values)) == {int} and min(values) >= least and max(values) <= most


def _column(lines: list[dict[str, Any]], name: str, default: Any = None) -> list[Any]:
    return list(map(dict.get, lines, repeat(name), repeat(default)))


def _lines(lines: Any, total: int) -> bool:
    """Whether ``PurchaseData.lines`` takes these lines as they are, checked a field at a
    time over all lines (an order of hundreds of lines costs a few calls per field)."""
    if type(lines) is not list or len(lines) > MAX_LINES:
        return False
    if not lines:
        return True
    if set(map(type, lines)) != {dict}:
        return False
    keys = set().union(*lines)  # the fields any line has: those absent need no check
    if not LINE_KEYS.issuperset(keys):
        return False
    amounts = _column(lines, "amount")
    if not (_texts(_column(lines, "sku"), 1, 200) and _integers(amounts, 0, MAX_MONEY)
            and ("quantity" not in keys
                 or _integers(_column(lines, "quantity", 1), 1, MAX_QUANTITY))
            and sum(amounts) >= total):
        return False
    for level in LEVELS:
        if level in keys:
            given = [value for value in _column(lines, level) if value is not None]
            if given and not _texts(given, 0, 200):
                return False
    if "discount" not in keys:
        return True
    discounts = [value for value in _column(lines, "discount") if value is not None]
    return not discounts or _integers(discounts, 0, MAX_MONEY)


def plain_order(data: Any) -> bool:
    """Whether ``PurchaseData`` takes ``data`` as it is (the values it would hold are the
    data's, its defaults for what is absent). ``False`` means the schema must decide: it
    may still take it, and if not it says why."""
    if type(data) is not dict or not ORDER_KEYS.issuperset(data):
        return False
    currency, total, store_id = data.get("currency"), data.get("total"), data.get("store_id")
    if not (_texts([data.get("order_id")], 1, 200) and _integers([total], 0, MAX_MONEY)
            and type(currency) is str and len(currency) == 3 and currency.isascii()
            and currency.isalpha() and currency.isupper()
            and (store_id is None or _texts([store_id], 1, 100))):
        return False
    for name in ("discount", "coupon_value"):
        if data.get(name) is not None and not _integers([data[name]], 0, MAX_MONEY):
            return False
    return _lines(data.get("lines", []), total)
