"""Purchase detail: the store, discounts, coupons and product hierarchy a purchase
carries are recorded with its order, reach earn rules, and bad values are refused."""

from __future__ import annotations

from sqlalchemy import select

from patron.events.tables import order_lines, orders
from patron.program.document import ProgramDocument
from patron.program.service import get_program
from patron.program.versions import publish
from tests.factories import member_payload, purchase

DETAILED_LINES = [
    {"sku": "A-1", "department": "Grocery", "category": "Snacks", "subcategory": "Crisps",
     "brand": "Acme", "quantity": 2, "amount": 300, "discount": 50},
    {"sku": "B-1", "department": "Grocery", "category": "Drinks", "brand": "Brio",
     "quantity": 1, "amount": 700},
]


def _detailed(member_id: int, at, order_id: str, store_id: str = "S1") -> dict:
    event = purchase({"id": member_id}, 1000, at, event_id=f"e-{order_id}", order_id=order_id,
                     lines=DETAILED_LINES)
    event["data"].update(store_id=store_id, discount=100, coupon_value=200)
    return event


def _publish(api, clock, *rules: dict) -> None:
    document = ProgramDocument.model_validate({
        "name": "Shop", "settings": {"pending_days": 0, "expiry": {"days": None}},
        "earn_rules": list(rules)})
    api.db.transact(lambda conn: publish(conn, get_program(conn, api.program.id), document,
                                         actor="test", now=clock.now()))


def test_a_purchase_records_its_store_discounts_coupons_and_product_hierarchy(api, clock):
    member = api.post("/members", json=member_payload()).json()
    sent = api.post("/events", json=_detailed(member["id"], clock.now(), "D-1"))
    assert sent.status_code == 201, sent.text
    again = api.post("/events", json=_detailed(member["id"], clock.now(), "D-1"))
    assert again.json()["status"] == "duplicate"
    with api.db.engine.connect() as conn:
        order = conn.execute(select(orders).where(orders.c.program_id == api.program.id,
                                                  orders.c.order_id == "D-1")).one()
        lines = conn.execute(select(order_lines).where(order_lines.c.order_pk == order.id)
                             .order_by(order_lines.c.line_no)).all()
    assert (order.store_id, order.discount, order.coupon_value) == ("S1", 100, 200)
    assert [(l.department, l.category, l.subcategory, l.brand, l.quantity, l.amount,
             l.discount) for l in lines] == [
        ("Grocery", "Snacks", "Crisps", "Acme", 2, 300, 50),
        ("Grocery", "Drinks", None, "Brio", 1, 700, None)]


def test_earn_rules_read_the_line_brand_and_the_store(api, clock):
    _publish(api, clock,
             {"id": "acme", "name": "Acme bonus", "on": "purchase", "scope": "line",
              "points": {"fixed": 7}, "when": 'line.brand == "Acme"'},
             {"id": "store", "name": "Store S1", "on": "purchase", "points": {"fixed": 40},
              "when": 'event.data.store_id == "S1"'},
             {"id": "deal", "name": "Deal hunter", "on": "purchase", "points": {"fixed": 3},
              "when": "event.data.coupon_value >= 200 && "
                      "event.data.lines.exists(l, l.discount > 0)"})
    member = api.post("/members", json=member_payload()).json()
    in_s1 = api.post("/events", json=_detailed(member["id"], clock.now(), "R-1"))
    assert in_s1.status_code == 201, in_s1.text
    assert sorted((a["rule_id"], a["points"]) for a in in_s1.json()["awards"]) == [
        ("acme", 7), ("deal", 3), ("store", 40)]
    in_s2 = api.post("/events", json=_detailed(member["id"], clock.now(), "R-2", "S2"))
    assert sorted(a["rule_id"] for a in in_s2.json()["awards"]) == ["acme", "deal"]
    back = api.post("/events", json={"id": "ret-r1", "type": "return",
                                     "member": {"id": member["id"]},
                                     "occurred_at": clock.now().isoformat(),
                                     "data": {"order_id": "R-1", "lines": [{"line_index": 0}]}})
    assert back.status_code == 201, back.text
    assert any(a["rule_id"] == "acme" and a["points"] == -7 for a in back.json()["awards"])


def test_earn_rules_read_the_coupon_codes(api, clock):
    _publish(api, clock, {"id": "spring", "name": "Spring code", "on": "purchase",
                          "points": {"fixed": 15},
                          "when": '"SPRING" in event.data.coupon_codes'})
    member = api.post("/members", json=member_payload()).json()
    with_code = _detailed(member["id"], clock.now(), "C-1")
    with_code["data"]["coupon_codes"] = ["WELCOME", "SPRING"]
    assert [a["rule_id"] for a in api.post("/events", json=with_code).json()["awards"]] == [
        "spring"]
    without = _detailed(member["id"], clock.now(), "C-2")
    assert api.post("/events", json=without).json()["awards"] == []
    for bad in ([""], ["X" * 256], "SPRING", [7]):
        wrong = _detailed(member["id"], clock.now(), "C-3")
        wrong["data"]["coupon_codes"] = bad
        refused = api.post("/events", json=wrong)
        assert refused.status_code == 422 and "coupon_codes" in refused.text, refused.text


def test_bad_purchase_detail_is_refused_with_its_field(api, clock):
    member = api.post("/members", json=member_payload()).json()
    cases = [
        (("store_id",), "S" * 101, "data.store_id"),
        (("discount",), -1, "data.discount"),
        (("coupon_value",), "12", "data.coupon_value"),
        (("lines", 0, "discount"), -5, "data.lines.0.discount"),
        (("lines", 0, "brand"), "B" * 201, "data.lines.0.brand"),
        (("lines", 1, "department"), 12, "data.lines.1.department"),
    ]
    for n, (path, value, field) in enumerate(cases):
        event = _detailed(member["id"], clock.now(), f"BAD-{n}")
        event["data"]["lines"] = [dict(line) for line in DETAILED_LINES]
        target = event["data"]
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        sent = api.post("/events", json=event)
        assert sent.status_code == 422, (field, sent.text)
        body = sent.json()
        assert field in (body.get("field") or "") or field in str(body), (field, body)
    with api.db.engine.connect() as conn:
        assert conn.execute(select(orders).where(orders.c.order_id.like("BAD-%"))).all() == []
