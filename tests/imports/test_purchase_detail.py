"""Purchase detail in an imported file: store, order and line discounts, coupon value and
the product hierarchy are recorded as a purchase sent to the API would record them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from patron.events.tables import order_lines, orders
from patron.imports import domain
from tests.imports.test_service import import_file

HEADER = ("order_id,external_id,occurred_at,store_id,discount,coupon_value,sku,department,"
          "category,subcategory,brand,quantity,line.amount,line.discount\n")
ROWS = ("G1,c-1,2024-03-01T10:00:00Z,S1,1.00,2.50,A-1,Grocery,Snacks,Crisps,Acme,2,3.00,0.50\n"
        "G1,c-1,2024-03-01T10:00:00Z,S1,1.00,2.50,B-1,Grocery,Drinks,,Brio,1,7.00,\n"
        "G2,c-2,2024-03-02T10:00:00Z,S2,,,C-1,Home,Kitchen,Pans,Acme,1,20.00,\n")


def detail(database, program, order_id):
    with database.engine.connect() as conn:
        order = conn.execute(select(orders).where(orders.c.program_id == program.id,
                                                  orders.c.order_id == order_id)).one()
        lines = conn.execute(select(order_lines).where(order_lines.c.order_pk == order.id)
                             .order_by(order_lines.c.line_no)).all()
    return ((order.store_id, order.total, order.discount, order.coupon_value),
            [(l.sku, l.department, l.category, l.subcategory, l.brand, l.quantity, l.amount,
              l.discount) for l in lines])


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "ingest"])
def test_csv_purchase_detail_is_recorded(database, program, clock, tmp_path, bulk):
    path = tmp_path / "detail.csv"
    path.write_text(HEADER + ROWS)
    columns = domain.mapping("event", [], ["type=purchase"], money="major")
    summary = import_file(database, program, clock, path, columns=columns, bulk=bulk)
    assert (summary.imported, summary.rejected) == (2, 0), summary.reasons
    assert detail(database, program, "G1") == (("S1", 10_00, 1_00, 2_50), [
        ("A-1", "Grocery", "Snacks", "Crisps", "Acme", 2, 3_00, 50),
        ("B-1", "Grocery", "Drinks", None, "Brio", 1, 7_00, None)])
    assert detail(database, program, "G2") == (("S2", 20_00, None, None), [
        ("C-1", "Home", "Kitchen", "Pans", "Acme", 1, 20_00, None)])
    again = import_file(database, program, clock, path, columns=columns, bulk=bulk)
    assert (again.imported, again.duplicates) == (0, 2)


def test_bad_purchase_detail_in_a_file_is_refused_by_field(database, program, clock, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(HEADER
                    + "H1,c-1,2024-03-01T10:00:00Z,S1,-1.00,,A-1,,,,,1,3.00,\n"
                    + "H2,c-1,2024-03-02T10:00:00Z,S1,,,A-1,,,,,1,3.00,x\n"
                    + f"H3,c-1,2024-03-03T10:00:00Z,{'S' * 101},,,A-1,,,,,1,3.00,\n"
                    + "H4,c-1,2024-03-04T10:00:00Z,S1,,,A-1,,,,,1,3.00,\n")
    columns = domain.mapping("event", [], ["type=purchase"], money="major")
    summary = import_file(database, program, clock, path, columns=columns)
    assert (summary.imported, summary.rejected) == (1, 3)
    rejects = [json.loads(line) for line in Path(summary.rejects_file).read_text().splitlines()]
    found = sorted((r["line"], r["code"], r["detail"].split(" ")[0]) for r in rejects)
    assert found == [(2, "invalid_input", "data.discount:"), (3, "invalid_row", "line.discount"),
                     (4, "invalid_input", "data.store_id:")]
    with database.engine.connect() as conn:
        assert conn.execute(select(orders.c.order_id).where(
            orders.c.program_id == program.id)).scalars().all() == ["H4"]
