"""Sales by store, by product level, category trends and segment figures over a small
grocer whose every figure is known, on SQLite and PostgreSQL (and both snapshot paths).

The program counts in New York time; 1 point per $, no pending, no expiry.

| order | member | NY day | store | total | discount | coupons | lines |
|---|---|---|---|---|---|---|---|
| g-1 | E | 01-10 | S1 | 10.00 | 1.00 | 0.50 | A-1 Grocery/Snacks/Crisps/Acme 2 4.00 0.50; |
| | | | | | | | B-1 Grocery/Drinks/–/Brio 1 6.00 |
| g-2 | F | 01-20 | S1 | 20.00 | – | – | C-1 Home/Kitchen/Pans/Acme 1 20.00 2.00 |
| g-3 | E | 02-05 | S2 | 5.00 | – | 1.00 | A-1 Grocery/Snacks/Crisps/Acme 1 5.00 |
| g-4 | G | 01-31 (02-01 04:30 UTC) | – | 8.00 | – | – | D-1 –/–/–/– 3 8.00 |

Lines: sku department/category/subcategory/brand, quantity, paid, line discount.

Segments: ``big`` (E and G now; F left it), ``empty`` (nobody), ``old`` (inactive, E).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from typer.testing import CliRunner

from patron.analytics.query import ReportQuery
from patron.analytics.service import run_report
from patron.cli.main import app
from patron.clock import FrozenClock
from patron.db import Database
from patron.flows.enrolment import create_member
from patron.flows.ingest import ingest
from patron.program.service import Program
from patron.segments.tables import segment_members, segments
from tests.conftest import T0, Api, make_program
from tests.factories import member_create, purchase_event


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def line(sku, department, category, subcategory, brand, quantity, amount, discount=None):
    found = {"sku": sku, "department": department, "category": category,
             "subcategory": subcategory, "brand": brand, "quantity": quantity,
             "amount": amount, "discount": discount}
    return {k: v for k, v in found.items() if v is not None}


ORDERS = [  # member, UTC time, store, total, discount, coupons, lines
    ("E", at(2026, 1, 10, 17), "S1", 10_00, 1_00, 50,
     [line("A-1", "Grocery", "Snacks", "Crisps", "Acme", 2, 4_00, 50),
      line("B-1", "Grocery", "Drinks", None, "Brio", 1, 6_00)]),
    ("F", at(2026, 1, 20, 17), "S1", 20_00, None, None,
     [line("C-1", "Home", "Kitchen", "Pans", "Acme", 1, 20_00, 2_00)]),
    ("E", at(2026, 2, 5, 17), "S2", 5_00, None, 1_00,
     [line("A-1", "Grocery", "Snacks", "Crisps", "Acme", 1, 5_00)]),
    ("G", at(2026, 2, 1, 4, 30), None, 8_00, None, None,
     [line("D-1", None, None, None, None, 3, 8_00)]),
]


@dataclass
class Grocer:
    db: Database
    program: Program
    ids: dict[str, int]


def _purchases(ids: dict[str, int]) -> list:
    events = []
    for n, (name, when, store, total, discount, coupons, lines) in enumerate(ORDERS):
        event = purchase_event({"id": ids[name]}, total, when, order_id=f"g-{n + 1}",
                               lines=lines)
        extra = {"store_id": store, "discount": discount, "coupon_value": coupons}
        data = {**event.data, **{k: v for k, v in extra.items() if v is not None}}
        events.append(event.model_copy(update={"data": data}))
    return events


def _segments(db: Database, program: Program, ids: dict[str, int]) -> None:
    def write(conn):
        made = {}
        for key, active in (("big", True), ("empty", True), ("old", False)):
            made[key] = conn.execute(segments.insert().values(
                program_id=program.id, key=key, name=key.title(), kind="static",
                active=active, created_by="test", created_at=T0, updated_at=T0)
                .returning(segments.c.id)).scalar_one()
        for key, name, left in (("big", "E", None), ("big", "G", None), ("big", "F", T0),
                                ("old", "E", None)):
            conn.execute(segment_members.insert().values(
                segment_id=made[key], member_id=ids[name], entered_at=at(2026, 1, 1),
                left_at=left))
    db.transact(write)


@pytest.fixture(scope="module")
def grocer(database: Database) -> Grocer:
    clock = FrozenClock(T0)
    program = make_program(database, clock, timezone="America/New_York", pending_days=0,
                           expiry={"days": None})
    ids = {name: database.transact(lambda conn: create_member(
        conn, program, member_create(), at(2026, 1, 1))).id for name in "EFG"}
    outcomes = database.transact(lambda conn: ingest(conn, program, _purchases(ids), now=T0,
                                                     actor="test"))
    assert [o.status for o in outcomes] == ["processed"] * 4, outcomes
    _segments(database, program, ids)
    return Grocer(database, program, ids)


@pytest.fixture(params=["auto", "fetch"])
def source(request) -> str | None:
    return None if request.param == "auto" else request.param


def report(grocer, name, source=None, **query):
    return grocer.db.read(lambda conn: run_report(
        conn, grocer.program, name, ReportQuery(**query), T0, source=source))


def test_sales_by_store(grocer, source):
    r = report(grocer, "stores", source)
    assert [(s.store_id, s.orders, s.members, s.revenue, s.units, s.average_basket,
             s.discount, s.coupon_value) for s in r.stores] == [
        ("S1", 2, 2, 30_00, 4, 15_00, 3_50, 50),
        ("unknown", 1, 1, 8_00, 3, 8_00, 0, 0),
        ("S2", 1, 1, 5_00, 1, 5_00, 0, 1_00)]
    assert r.stores[0].share_of_revenue == round(30 / 43, 6)
    assert (r.summary.keys, r.summary.revenue, r.summary.orders, r.summary.members,
            r.summary.units, r.summary.discount) == (3, 43_00, 4, 3, 8, 3_50)


def test_sales_by_store_within_dates(grocer):
    r = report(grocer, "stores", start=date(2026, 2, 1), end=date(2026, 2, 28))
    assert [(s.store_id, s.revenue) for s in r.stores] == [("S2", 5_00)]


def test_sales_by_department_and_by_brand(grocer, source):
    r = report(grocer, "products", source, level="department")
    assert [(p.key, p.revenue, p.units, p.orders, p.members, p.discount)
            for p in r.products] == [
        ("Home", 20_00, 1, 1, 1, 2_00), ("Grocery", 15_00, 4, 2, 1, 50),
        ("unknown", 8_00, 3, 1, 1, 0)]
    assert r.products[0].share_of_revenue == round(20 / 43, 6)
    assert (r.summary.level, r.summary.revenue, r.summary.orders, r.summary.members) == (
        "department", 43_00, 4, 3)
    brands = report(grocer, "products", level="brand")
    assert [(p.key, p.revenue, p.orders, p.members, p.discount) for p in brands.products] == [
        ("Acme", 29_00, 3, 2, 2_50), ("unknown", 8_00, 1, 1, 0), ("Brio", 6_00, 1, 1, 0)]
    skus = report(grocer, "products", level="sku")
    assert {p.key: p.units for p in skus.products} == {"A-1": 3, "B-1": 1, "C-1": 1, "D-1": 3}


def test_category_trends_per_new_york_month(grocer, source):
    r = report(grocer, "category-trends", source)
    assert [(t.month, t.key, t.revenue, t.members, t.share_of_month) for t in r.trends] == [
        (date(2026, 1, 1), "Kitchen", 20_00, 1, round(20 / 38, 6)),
        (date(2026, 1, 1), "unknown", 8_00, 1, round(8 / 38, 6)),
        (date(2026, 1, 1), "Drinks", 6_00, 1, round(6 / 38, 6)),
        (date(2026, 1, 1), "Snacks", 4_00, 1, round(4 / 38, 6)),
        (date(2026, 2, 1), "Snacks", 5_00, 1, 1.0)]
    assert (r.summary.level, r.summary.months, r.summary.keys, r.summary.revenue) == (
        "category", 2, 4, 43_00)
    by_department = report(grocer, "category-trends", level="department")
    assert [(t.month.month, t.key, t.revenue) for t in by_department.trends] == [
        (1, "Home", 20_00), (1, "Grocery", 10_00), (1, "unknown", 8_00), (2, "Grocery", 5_00)]


def test_figures_per_segment_of_its_current_members(grocer, source):
    r = report(grocer, "segments", source, end=date(2026, 2, 28), lapsed_days=25)
    assert [(s.segment, s.name, s.members, s.active_members, s.purchasers, s.orders,
             s.revenue, s.spend_per_member, s.points_balance) for s in r.segments] == [
        ("big", "Big", 2, 1, 2, 3, 23_00, 11_50, 23),
        ("empty", "Empty", 0, 0, 0, 0, 0, None, 0)]
    assert (r.summary.segments, r.summary.members_in_a_segment) == (2, 2)
    february = report(grocer, "segments", start=date(2026, 2, 1), end=date(2026, 2, 28))
    assert [(s.segment, s.purchasers, s.orders, s.revenue) for s in february.segments] == [
        ("big", 1, 1, 5_00), ("empty", 0, 0, 0)]


@pytest.fixture
def grocer_api(api, grocer) -> Api:
    return Api(api.client, api.db, grocer.program, api.clock)


def test_sales_reports_over_http_as_json_and_csv(grocer_api):
    brands = grocer_api.get("/analytics/products", role="analyst", params={"level": "brand"})
    assert brands.status_code == 200, brands.text
    assert [(p["key"], p["revenue"]) for p in brands.json()["products"]] == [
        ("Acme", 29_00), ("unknown", 8_00), ("Brio", 6_00)]
    stores = grocer_api.get("/analytics/stores", role="analyst",
                            params={"format": "csv", "end": "2026-01-31"})
    assert stores.status_code == 200 and stores.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(stores.text)))
    assert [(r["store_id"], r["revenue"], r["discount"]) for r in rows] == [
        ("S1", "3000", "350"), ("unknown", "800", "0")]
    trends = grocer_api.get("/analytics/category-trends", role="analyst",
                            params={"level": "subcategory", "start": "2026-02-01"})
    assert [(t["month"], t["key"]) for t in trends.json()["trends"]] == [
        ("2026-02-01", "Crisps")]
    groups = grocer_api.get("/analytics/segments", role="analyst").json()
    assert [s["segment"] for s in groups["segments"]] == ["big", "empty"]


@pytest.mark.parametrize("path, params, code, field", [
    ("/analytics/products", {"level": "aisle"}, "validation_error", "level"),
    ("/analytics/category-trends", {"level": ""}, "validation_error", "level"),
    ("/analytics/stores", {"start": "2026-02-01", "end": "2026-01-01"}, "invalid_date_range",
     "start"),
    ("/analytics/segments", {"start": "2026-02-01", "end": "2026-01-01"},
     "invalid_date_range", "start"),
    ("/analytics/behaviour", {"bands": "1,4,2"}, "validation_error", "bands"),
    ("/analytics/behaviour", {"bands": "0,5"}, "validation_error", "bands"),
    ("/analytics/behaviour", {"bands": "one"}, "validation_error", "bands"),
])
def test_bad_sales_parameters_are_problems_with_a_code_and_field(grocer_api, path, params,
                                                                  code, field):
    response = grocer_api.get(path, role="analyst", params=params)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == code
    fields = [body["field"]] if "field" in body else [e["field"] for e in body["errors"]]
    assert any(f == field or f.endswith(f".{field}") for f in fields), body


def test_cli_shows_sales_reports(grocer):
    url = grocer.db.engine.url.render_as_string(hide_password=False)

    def run(*args: str):
        return CliRunner().invoke(app, ["analytics", *args, "--program", grocer.program.slug,
                                        "--db", url])
    table = run("stores", "--end", "2026-02-28")
    assert table.exit_code == 0, table.output
    assert "S1" in table.stdout and "$30.00" in table.stdout and "$3.50" in table.stdout
    brands = run("products", "--level", "brand", "-f", "json")
    assert [p["key"] for p in json.loads(brands.stdout)["products"]] == [
        "Acme", "unknown", "Brio"]
    trends = run("category-trends", "--level", "department", "-f", "csv")
    assert trends.stdout.splitlines()[1].startswith("2026-01-01,Home,2000")
    segments = run("segments", "-f", "csv", "--end", "2026-02-28")
    assert segments.stdout.splitlines()[1].startswith("big,Big,static,2,")
    bad = run("products", "--level", "aisle")
    assert bad.exit_code == 2


def test_frequent_shoppers_spread_over_frequency_bands(database):
    """Three members buying 22, 25 and 30 times would all be 21+ in the fixed bands."""
    program = make_program(database, FrozenClock(T0), pending_days=0, expiry={"days": None})
    ids = [database.transact(lambda conn: create_member(conn, program, member_create(),
                                                        at(2025, 1, 1))).id for _ in range(3)]
    events = [purchase_event({"id": member}, 5_00, at(2025, 1, 2 + n, 12),
                             order_id=f"f-{member}-{n}")
              for member, times in zip(ids, (22, 25, 30)) for n in range(times)]
    database.transact(lambda conn: ingest(conn, program, events, now=T0, actor="test"))

    def behaviour(**query):
        return database.read(lambda conn: run_report(conn, program, "behaviour",
                                                     ReportQuery(**query), T0))
    adaptive = behaviour()
    assert adaptive.summary.frequency_bands == "quantiles"
    assert [(b.orders, b.members) for b in adaptive.frequency] == [
        ("1-21", 0), ("22-24", 1), ("25-29", 1), ("30+", 1)]
    given = behaviour(bands="1,12,26,52")
    assert given.summary.frequency_bands == "given"
    assert [(b.orders, b.members) for b in given.frequency] == [
        ("1-11", 0), ("12-25", 2), ("26-51", 1), ("52+", 0)]
