"""Pruning an event's payload to what rules read: pure, no database."""

from __future__ import annotations

from patron.events.retention import pruned
from patron.program.catalog import event_fields


def test_a_payload_keeps_the_fields_of_its_type_and_lines_their_product_fields():
    data = {"order_id": "A-1", "currency": "USD", "total": 1250, "customer": {"email": "a@b.c"},
            "lines": [{"sku": "LAT-1", "category": "drinks", "quantity": 2, "amount": 1250,
                       "line_index": 0, "engraving": "For Ann"}, "not a line"]}
    assert pruned(data, event_fields("purchase", {})) == {
        "order_id": "A-1", "currency": "USD", "total": 1250,
        "lines": [{"sku": "LAT-1", "category": "drinks", "quantity": 2, "amount": 1250,
                   "line_index": 0}, "not a line"]}


def test_declared_fields_stay_whole_and_an_unknown_type_keeps_nothing():
    declared = {"review": {"photo": "map"}, "visit": {"store": "string"}}
    data = {"rating": 5, "photo": {"width": 10, "exif": {"gps": "51.5,-0.1"}}, "note": "hi"}
    assert pruned(data, event_fields("review", declared)) == {
        "rating": 5, "photo": {"width": 10, "exif": {"gps": "51.5,-0.1"}}}
    assert pruned({"store": "S1", "ip": "203.0.113.9"}, event_fields("visit", declared)) == {
        "store": "S1"}
    assert pruned({"anything": 1}, event_fields("mystery", declared)) == {}
    assert pruned({}, event_fields("sign_up", {})) == {}
