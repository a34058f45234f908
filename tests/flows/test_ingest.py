"""Ingest through the rule engine, on SQLite and PostgreSQL: versions, bonuses,
limits, budgets and the awards a return claws back from."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from patron.earning import repository as earning_repository
from patron.earning.tables import awards
from patron.events.schemas import EventIn
from patron.events.tables import events as events_table
from patron.flows.ingest import checked_data, ingest, made_of
from patron.ledger import repository as ledger_repository
from patron.flows.statement import ledger_page
from patron.ledger.service import spend_points
from patron.flows.enrolment import create_member
from patron.program.service import get_program
from patron.program.versions import get_version, publish
from patron.program.document import ProgramDocument
from sqlalchemy import event, select
from tests.concurrency import at_once
from tests.conftest import make_program
from tests.factories import member_create

SETTINGS = {"currency": "USD", "timezone": "UTC", "points_name": "points", "pending_days": 0,
            "expiry": {"days": None}}


def rule(rule_id: str, on: str, points: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": rule_id, "name": extra.pop("name", rule_id.replace("_", " ")), "on": on,
            "points": points, **extra}


BASE = rule("base", "purchase", {"per_currency_unit": "1"}, name="1 point per $1")
FIRST = rule("first", "purchase", {"fixed": 50}, when="member.purchase_count == 0",
             name="First order bonus")
BIG = rule("big", "purchase", {"fixed": 100}, min_spend=5000, name="Big order bonus")


class Shop:
    def __init__(self, db, clock, rules, **settings):
        self.db, self.clock = db, clock
        base = make_program(db, clock, **{**SETTINGS, **settings})
        self.program = self.publish(base, rules, **settings)
        self.n = 0

    def publish(self, program, rules, **settings):
        return self.publish_full(program, rules, settings=settings)

    def publish_full(self, program, rules, *, settings=None, **sections):
        self.settings = {**SETTINGS, **(settings or getattr(self, "settings", {}))}
        document = ProgramDocument.model_validate(
            {"name": "Shop", "settings": self.settings, "earn_rules": rules, **sections})
        self.db.transact(lambda conn: publish(conn, program, document, actor="test",
                                              now=self.clock.now()))
        return self.db.read(lambda conn: get_program(conn, program.id))

    def member(self, **profile) -> int:
        payload = member_create(profile=profile) if profile else member_create()
        return self.db.transact(lambda conn: create_member(conn, self.program, payload,
                                                           self.clock.now())).id

    def send(self, *events: dict[str, Any]):
        batch = [EventIn.model_validate(e) for e in events]
        return self.db.transact(lambda conn: ingest(conn, self.program, batch,
                                                    now=self.clock.now(), actor="test"))

    def event(self, member_id: int, kind: str, data: dict[str, Any] | None = None,
              at: datetime | None = None) -> dict[str, Any]:
        self.n += 1
        return {"id": f"e-{self.program.id}-{self.n}", "type": kind, "member": {"id": member_id},
                "occurred_at": (at or self.clock.now()).isoformat(), "data": data or {}}

    def purchase(self, member_id: int, lines: list[tuple[str, str, int, int]],
                 at: datetime | None = None, order_id: str | None = None, total=None):
        self.n += 1
        items = [{"sku": s, "category": c, "quantity": q, "amount": a} for s, c, q, a in lines]
        return self.event(member_id, "purchase", {
            "order_id": order_id or f"o-{self.n}", "currency": "USD",
            "total": total if total is not None else sum(i["amount"] for i in items),
            "lines": items}, at)

    def balance(self, member_id: int):
        def read(conn):
            account = ledger_repository.accounts_by_member(conn, self.program.id,
                                                           [member_id])[member_id]
            totals = ledger_repository.ledger_totals(conn, account.id)
            assert account.available == totals["available"] == totals["open_lots"]
            assert account.pending == totals["pending"] == totals["pending_lots"] >= 0
            return account
        return self.db.read(read)


def test_purchase_earns_by_its_rules_with_one_entry_per_rule(database, clock):
    shop = Shop(database, clock, [BASE, FIRST, BIG])
    member = shop.member()
    [first] = shop.send(shop.purchase(member, [("LAT", "drinks", 1, 4_50),
                                               ("BNS", "beans", 2, 60_00)], order_id="A-1"))
    assert first.status == "processed" and first.program_version == 2
    assert {a.rule_id: a.points for a in first.awards} == {"base": 64, "first": 50, "big": 100}
    assert first.points == 214
    [second] = shop.send(shop.purchase(member, [("LAT", "drinks", 1, 4_50)]))
    assert {a.rule_id: a.points for a in second.awards} == {"base": 4}
    page = database.read(lambda conn: ledger_page(conn, shop.program, member, None, 10))
    reasons = [(e.details.get("rule"), e.reason, e.details.get("program_version"))
               for e in page.items]
    assert ("first", "First order bonus: +50", 2) in reasons
    assert ("base", "1 point per $1: +4", 2) in reasons
    assert shop.balance(member).available == 218
    pieces = database.read(lambda conn: conn.execute(
        select(awards.c.rule_id, awards.c.line_index, awards.c.points)
        .where(awards.c.member_id == member).order_by(awards.c.id)).all())
    assert [tuple(p) for p in pieces][:4] == [("base", 0, 4), ("base", 1, 60),
                                              ("first", None, 50), ("big", None, 100)]


def _statements(database, work):
    sent: list[str] = []

    def record(conn, cursor, statement, *args):
        sent.append(statement)
    event.listen(database.engine, "before_cursor_execute", record)
    try:
        return work(), sent
    finally:
        event.remove(database.engine, "before_cursor_execute", record)


def test_members_events_are_counted_only_for_conditions_that_read_the_counts(database, clock):
    eu = rule("eu", "purchase", {"fixed": 5}, when="member.profile.region == 'EU'")
    shop = Shop(database, clock, [BASE, eu])
    member = shop.member(region="EU")
    shop.send(shop.purchase(member, [("LAT", "drinks", 1, 4_50)]))
    ([outcome], sent) = _statements(database, lambda: shop.send(
        shop.purchase(member, [("LAT", "drinks", 1, 4_50)])))
    assert {a.rule_id: a.points for a in outcome.awards} == {"base": 4, "eu": 5}
    counting = [s for s in sent if "FROM events" in s and "count(" in s.lower()]
    assert counting == []
    shop.program = shop.publish(shop.program, [BASE, eu, FIRST])
    ([outcome], sent) = _statements(database, lambda: shop.send(
        shop.purchase(member, [("LAT", "drinks", 1, 4_50)])))
    assert {a.rule_id: a.points for a in outcome.awards} == {"base": 4, "eu": 5}  # not first
    assert len([s for s in sent if "FROM events" in s and "count(" in s.lower()]) == 1
    newcomer = shop.member(region="US")
    [first] = shop.send(shop.purchase(newcomer, [("LAT", "drinks", 1, 4_50)]))
    assert {a.rule_id: a.points for a in first.awards} == {"base": 4, "first": 50}


def test_events_are_evaluated_by_the_version_current_when_they_occurred(database, clock):
    shop = Shop(database, clock, [BASE])
    member = shop.member()
    published_at = clock.now()
    clock.advance(days=1)
    double = rule("base", "purchase", {"per_currency_unit": "2"}, name="2 points per $1")
    shop.program = shop.publish(shop.program, [double])
    late, now = shop.send(
        shop.purchase(member, [("X", "", 1, 10_00)], at=published_at + timedelta(hours=1)),
        shop.purchase(member, [("X", "", 1, 10_00)]))
    assert (late.program_version, late.points) == (2, 10)
    assert (now.program_version, now.points) == (3, 20)


def test_review_points_capped_at_five_a_month(database, clock):
    review = rule("review", "review", {"fixed": 20}, limits={"per_member": {"month": {
        "awards": 5}}}, name="Thanks for your review")
    shop = Shop(database, clock, [review])
    member = shop.member()
    march = clock.now() + timedelta(hours=1)  # the review rule's version is current
    clock.set(datetime(2026, 4, 2, 12, tzinfo=timezone.utc))
    first = shop.send(*[shop.event(member, "review", at=march + timedelta(days=d))
                        for d in range(3)])
    rest = shop.send(*[shop.event(member, "review", at=march + timedelta(days=d))
                       for d in range(3, 7)])
    assert [o.points for o in first + rest] == [20, 20, 20, 20, 20, 0, 0]
    assert rest[-1].notes[0].code == "limit_reached"
    [april] = shop.send(shop.event(member, "review"))
    assert april.points == 20
    other = shop.member()
    assert shop.send(shop.event(other, "review", at=march))[0].points == 20


def test_a_rule_stops_at_its_budget_and_says_so(database, clock):
    check_in = rule("check_in", "check_in", {"fixed": 40}, limits={"budget": 100})
    shop = Shop(database, clock, [check_in])
    a, b = shop.member(), shop.member()
    outcomes = shop.send(shop.event(a, "check_in"), shop.event(b, "check_in"))
    outcomes += shop.send(shop.event(a, "check_in"), shop.event(b, "check_in"))
    assert [o.points for o in outcomes] == [40, 40, 20, 0]
    assert "capped" in outcomes[2].awards[0].reason
    assert outcomes[3].notes[0].code == "budget_exhausted"


def _check_ins_at_once(shop, members: list[int]) -> list[int]:
    """One check-in per member, all sent at the same moment from their own threads: the
    points each earned."""
    return at_once(members, lambda member_id: [
        o.points for o in shop.send(shop.event(member_id, "check_in"))])


def test_budget_holds_under_concurrent_batches(database, clock):
    check_in = rule("check_in", "check_in", {"fixed": 10}, limits={"budget": 100})
    shop = Shop(database, clock, [check_in])
    members = [shop.member() for _ in range(16)]
    results = _check_ins_at_once(shop, members)
    assert sum(results) == 100 and sorted(results) == [0] * 6 + [10] * 10
    used = database.read(lambda conn: earning_repository.budgets_used(
        conn, shop.program.id, ["check_in"]))
    assert used == {"check_in": 100}


def test_a_budget_read_unlocked_is_capped_as_if_events_came_one_by_one(database, clock):
    """Events racing for the last points of a budget: one gets the remainder, capped,
    the rest nothing, whichever read the budget before the others wrote to it."""
    check_in = rule("check_in", "check_in", {"fixed": 10}, limits={"budget": 95})
    shop = Shop(database, clock, [check_in])
    members = [shop.member() for _ in range(12)]
    results = _check_ins_at_once(shop, members)
    assert sorted(results) == [0] * 2 + [5] + [10] * 9
    used = database.read(lambda conn: earning_repository.budgets_used(
        conn, shop.program.id, ["check_in", "unused"]))
    assert used == {"check_in": 95, "unused": 0}


def test_member_limit_holds_under_concurrent_batches(database, clock):
    daily = rule("check_in", "check_in", {"fixed": 5}, limits={"per_member": {"day": {
        "awards": 1}}})
    shop = Shop(database, clock, [daily])
    member = shop.member()
    barrier = threading.Barrier(8)
    results: list[int] = []

    def send() -> None:
        event = shop.event(member, "check_in")
        barrier.wait()
        results.extend(o.points for o in shop.send(event))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [0] * 7 + [5]


def test_birthday_month_doubles_and_category_promotion_in_its_dates(database, clock):
    birthday = rule("birthday", "purchase", {"multiplier": "2", "of": ["base"]},
                    when="member.is_birthday_month", name="Birthday double")
    beans = rule("beans", "purchase", {"multiplier": "2", "of": ["base"]},
                 lines={"categories": ["beans"]}, valid_from="2026-03-01",
                 valid_until="2026-03-07", name="2x on beans, 1-7 Mar")
    shop = Shop(database, clock, [BASE, birthday, beans])
    march_baby = shop.member(birthdate="1990-03-15")
    other = shop.member(birthdate="1990-07-15")
    lines = [("LAT", "drinks", 1, 10_00), ("BNS", "beans", 1, 20_00)]
    [b] = shop.send(shop.purchase(march_baby, lines))
    [o] = shop.send(shop.purchase(other, lines))
    assert {a.rule_id: a.points for a in b.awards} == {"base": 30, "birthday": 30, "beans": 20}
    assert {a.rule_id: a.points for a in o.awards} == {"base": 30, "beans": 20}
    clock.advance(days=6)
    [late] = shop.send(shop.purchase(other, lines))
    assert {a.rule_id: a.points for a in late.awards} == {"base": 30}


def test_events_without_rules_are_recorded_and_earn_nothing(database, clock):
    shop = Shop(database, clock, [BASE])
    member = shop.member()
    [share] = shop.send(shop.event(member, "social_share", {"network": "x"}))
    assert share.status == "processed" and share.points == 0 and share.awards == []


def test_custom_event_types_must_be_declared(database, clock):
    shop = Shop(database, clock, [BASE])
    member = shop.member()
    [typo] = shop.send(shop.event(member, "chek_in"))
    assert typo.status == "rejected" and typo.error["code"] == "unknown_event_type"
    workshop = rule("workshop", "workshop", {"fixed": 15})
    document = ProgramDocument.model_validate({
        "name": "Shop", "settings": SETTINGS, "earn_rules": [BASE, workshop],
        "event_types": [{"name": "workshop", "fields": {"topic": "string"}}]})
    database.transact(lambda conn: publish(conn, shop.program, document, actor="test",
                                           now=clock.now()))
    shop.program = database.read(lambda conn: get_program(conn, shop.program.id))
    [attended] = shop.send(shop.event(member, "workshop", {"topic": "latte art"}))
    assert attended.status == "processed" and attended.points == 15


def test_points_that_never_expire_survive_publishing(database, clock):
    shop = Shop(database, clock, [BASE], expiry={"days": None})
    member = shop.member()
    [bought] = shop.send(shop.purchase(member, [("X", "", 1, 10_00)]))
    assert bought.awards[0].expires_at is None
    stored = database.read(lambda conn: get_version(conn, shop.program))
    assert stored.document.settings.expiry.days is None


def test_a_rule_on_an_attribute_some_members_lack_earns_for_the_others_silently(database, clock):
    vip = rule("vip", "check_in", {"fixed": 10}, when="member.profile.attributes.vip == true",
               name="VIP check-in")
    shop = Shop(database, clock, [vip])
    plain = shop.member(name="Plain")
    starred = shop.member(name="Star", attributes={"vip": True})
    missing, earned = shop.send(shop.event(plain, "check_in"), shop.event(starred, "check_in"))
    assert (missing.status, missing.points, missing.notes) == ("processed", 0, [])
    assert earned.points == 10


def test_an_exclusive_line_bonus_names_itself_and_the_lines_in_the_outcome(database, clock):
    beans = rule("beans", "purchase", {"per_currency_unit": "3"}, priority=10, exclusive=True,
                 lines={"categories": ["beans"]}, name="3x on beans")
    shop = Shop(database, clock, [BASE, beans])
    member = shop.member()
    [bought] = shop.send(shop.purchase(member, [("BNS", "beans", 1, 20_00),
                                                ("LAT", "drinks", 1, 5_00)]))
    assert {a.rule_id: a.points for a in bought.awards} == {"beans": 60, "base": 5}
    assert [(n.rule_id, n.code, n.message) for n in bought.notes] == [
        ("base", "stopped_by_exclusive", "1 point per $1: not combined with '3x on beans' "
                                         "on BNS")]
    assert shop.balance(member).available == 65


def test_payload_models_built_beforehand_answer_as_ingest_builds_them(database, clock):
    """An import builds a batch's payload models while the batch before is written
    (``checked_data``), and its parse makes each purchase's order as the rules read it
    and each event's data as JSON (``made_of``); ingest given them answers as it does
    building them itself: the same outcomes for good orders, the same refusal for one the
    order schema refuses (left out of what was built beforehand), and the same rows."""
    outcomes, rows = [], []
    for beforehand in (False, True):
        shop = Shop(database, clock, [BASE, FIRST])
        alice, bob = shop.member(), shop.member()
        events = [shop.purchase(alice, [("s1", "food", 1, 1200)]),
                  shop.event(bob, "purchase", {"order_id": "bad", "currency": "USD",
                                               "total": 100, "lines": [
                                                   {"sku": "s", "quantity": 0, "amount": 100}]}),
                  shop.purchase(bob, [("s2", "food", 2, 3000), ("s3", None, 1, 450)]),
                  shop.event(alice, "review")]
        batch = [EventIn.model_validate(e) for e in events]
        checked = checked_data(batch) if beforehand else None
        made = [made_of(e, "USD") for e in batch] if beforehand else None
        if beforehand:
            assert sorted(checked) == [0, 2]  # the refused order is left to ingest
            assert [m.purchase is not None for m in made] == [True, False, True, False]
            assert made[2].purchase.total == 3450
        found = shop.db.transact(lambda conn, b=batch, c=checked, m=made: ingest(
            conn, shop.program, b, now=clock.now(), actor="test", checked=c, made=m))
        outcomes.append([(o.status, o.points, (o.error or {}).get("code"),
                          (o.error or {}).get("detail")) for o in found])
        rows.append(shop.db.read(lambda conn, p=shop.program.id: [
            (r.type, r.data) for r in conn.execute(
                select(events_table.c.type, events_table.c.data)
                .where(events_table.c.program_id == p).order_by(events_table.c.id))]))
    assert outcomes[0] == outcomes[1]
    assert rows[0] == rows[1]
    assert [status for status, *_ in outcomes[1]] == ["processed", "rejected", "processed",
                                                      "processed"]
