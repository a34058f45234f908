"""A report as tables: summary figures, named tables, CSV; shared by the API and the CLI."""

from __future__ import annotations

import csv
import io
from typing import Any

from pydantic import BaseModel

from patron.analytics.schemas import PRIMARY_TABLE
from patron.errors import InvalidInput

HEADER_FIELDS = ("report", "program", "currency", "minor_exponent", "start", "as_of",
                 "as_of_basis", "data_end", "warnings", "generated_at", "source")
MONEY_FIELDS = frozenset({
    "revenue", "value", "cost", "average_order_value", "average_spend_per_purchaser",
    "average_spend", "monetary", "average_monetary", "average_repeat_spend",
    "expected_average_spend", "expected_value", "net_value", "discount", "coupon_value",
    "average_basket", "spend_per_member"})
"""Columns holding money in minor units (shown as money in the table view)."""


class UnknownTable(InvalidInput):
    code = "unknown_table"
    title = "Unknown report table"


def _flatten(prefix: str, value: Any, into: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else key, inner, into)
    else:
        into[prefix] = value


def header(report: BaseModel) -> dict[str, Any]:
    data = report.model_dump(mode="json")
    return {k: data[k] for k in HEADER_FIELDS if k in data}


def figures(report: BaseModel) -> dict[str, Any]:
    """Every single-valued figure of a report (nested ones as ``liability.points``)."""
    data = report.model_dump(mode="json")
    found: dict[str, Any] = {}
    for key, value in data.items():
        if key not in HEADER_FIELDS and not isinstance(value, list):
            _flatten(key, value, found)
    return found


def tables(report: BaseModel) -> dict[str, list[dict[str, Any]]]:
    data = report.model_dump(mode="json")
    return {k: v for k, v in data.items() if isinstance(v, list) and k not in HEADER_FIELDS}


def table(report: BaseModel, name: str | None = None) -> tuple[str, list[dict[str, Any]]]:
    """One table of a report: the named one, or the report's main one."""
    found = tables(report)
    name = name or PRIMARY_TABLE[str(report.report)]
    if name not in found:
        raise UnknownTable(f"report {report.report} has no table {name!r}; "
                           f"tables: {', '.join(found)}", field="table", tables=list(found))
    return name, found[name]


def columns(rows: list[dict[str, Any]]) -> list[str]:
    """Column names, a list-valued field spread as ``name_0, name_1, …``."""
    names: list[str] = []
    widths: dict[str, int] = {}
    for row in rows:
        for key, value in row.items():
            if key not in widths and key not in names:
                names.append(key)
            if isinstance(value, list):
                widths[key] = max(widths.get(key, 0), len(value))
    spread: list[str] = []
    for key in names:
        spread.extend([f"{key}_{i}" for i in range(widths[key])] if key in widths else [key])
    return spread


def flat_row(row: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, list):
            flat.update({f"{key}_{i}": v for i, v in enumerate(value)})
        else:
            flat[key] = value
    return flat


def to_csv(report: BaseModel, name: str | None = None) -> str:
    _, rows = table(report, name)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns(rows), extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(flat_row(row))
    return out.getvalue()
