"""Returns take back what their orders gave badges, challenges and streaks (both databases)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from patron.engagement.service import member_badges
from patron.engagement.tables import engagement_awards
from patron.ledger.service import balance, spend_points
from patron.ledger.tables import ledger_entries
from tests.conftest import T0
from tests.engagement.factories import Shop, challenge, streak

UTC = timezone.utc
NOW = datetime(2026, 5, 31, 20, tzinfo=UTC)
MAY = datetime(2026, 5, 4, 10, tzinfo=UTC)
BADGE = {"id": "big", "name": "Big spender", "on": ["purchase"],
         "when": "event.data.total >= 5000", "reward": {"points": 100}}
SPEND = challenge(id="spend", name="May spend", goal={
    "measure": "sum", "field": "line.net_amount", "target": 6000, "unit": "spent"},
    reward={"points": 300})
KINDS = challenge(id="kinds", name="Try 2 kinds", goal={
    "measure": "distinct", "field": "line.category", "target": 2, "unit": "kinds"},
    reward={"points": 50})


def shop(database, clock, **sections) -> Shop:
    clock.set(T0)
    made = Shop(database, clock, **sections)
    clock.set(NOW)
    return made


def order(s: Shop, member: int, at: datetime, order_id: str, *lines: tuple[str, str, int, int]):
    data = {"order_id": f"{order_id}-{s.program.id}", "total": sum(q * a for *_, q, a in lines),
            "lines": [{"sku": sku, "category": cat, "quantity": q, "amount": q * a}
                      for sku, cat, q, a in lines]}
    [done] = s.send(s.event_in(member, at, **data))
    assert done.status == "processed", done.error
    return done


def give_back(s: Shop, member: int, order_id: str, event_id: str | None = None, **line):
    data = {"order_id": f"{order_id}-{s.program.id}", "lines": [line] if line else []}
    [done] = s.send(s.event_in(member, kind="return", event_id=event_id, **data))
    assert done.status in ("processed", "duplicate"), done.error
    return done


def points_of(database, s: Shop, member: int) -> int:
    return database.read(lambda conn: balance(conn, s.program, member)).available


def reversed_awards(database, member: int) -> list[tuple]:
    a = engagement_awards.c
    return [tuple(r) for r in database.read(lambda conn: conn.execute(
        select(a.kind, a.item_id, a.award_key, a.reversed_at.is_not(None))
        .where(a.member_id == member).order_by(a.id)).all())]


def test_a_returned_line_takes_back_its_spend_and_the_completion_reward(database, clock):
    s = shop(database, clock, challenges=[SPEND])
    member = s.member()
    first = order(s, member, MAY, "A", ("TV", "tv", 1, 5000), ("CBL", "cables", 2, 250))
    assert [p.text for p in first.progress] == [
        "May spend: $55.00 of $60.00 spent (until 31 May 2026)"]
    done = order(s, member, MAY + timedelta(days=1), "B", ("CBL", "cables", 1, 1000))
    assert [p.status for p in done.progress] == ["completed"]
    assert points_of(database, s, member) == 300
    back = give_back(s, member, "A", sku="TV")
    assert [(p.kind, p.status, p.value, p.text) for p in back.progress] == [
        ("challenge", "taken_back", 1500, f"May spend: $15.00 of $60.00 spent (until 31 May "
         f"2026); no longer done, order A-{s.program.id} returned")]
    assert [(a.kind, a.points, a.reason) for a in back.awards] == [
        ("reverse", -300, f"May spend: order A-{s.program.id} returned, no longer done: −300")]
    assert points_of(database, s, member) == 0
    assert reversed_awards(database, member) == [("challenge", "spend", "done", True)]
    again = order(s, member, MAY + timedelta(days=2), "C", ("TV", "tv", 1, 5000))
    assert [(p.status, p.value) for p in again.progress] == [("completed", 6500)]
    assert points_of(database, s, member) == 300  # completing it again rewards again
    assert [r[2] for r in reversed_awards(database, member)] == ["done", "done#2"]


def test_a_return_replayed_or_repeated_takes_nothing_twice(database, clock):
    s = shop(database, clock, challenges=[challenge(reward={"points": 200})])
    member = s.member()
    for day, name in enumerate("ABC"):
        order(s, member, MAY + timedelta(days=day), name, ("X", "food", 1, 1000))
    assert points_of(database, s, member) == 200
    first = give_back(s, member, "C", event_id=f"ret-{s.program.id}")
    retried = give_back(s, member, "C", event_id=f"ret-{s.program.id}")
    assert retried.status == "duplicate" and retried.awards == first.awards
    assert [a.points for a in first.awards] == [-200]
    assert [p.text for p in first.progress] == [
        f"May visits: 2 of 3 visits (until 31 May 2026); no longer done, order "
        f"C-{s.program.id} returned"]
    assert points_of(database, s, member) == 0
    entries = database.read(lambda conn: conn.execute(select(ledger_entries.c.points).where(
        ledger_entries.c.member_id == member, ledger_entries.c.points < 0)).scalars().all())
    assert entries == [-200]


def test_partly_returned_orders_keep_counting_what_they_still_hold(database, clock):
    s = shop(database, clock, challenges=[challenge(reward={"points": 200}), KINDS])
    member = s.member()
    order(s, member, MAY, "A", ("X", "food", 1, 1000), ("Y", "toys", 1, 1000))
    assert points_of(database, s, member) == 50
    back = give_back(s, member, "A", sku="Y")
    assert [(p.id, p.value) for p in back.progress] == [("kinds", 1)]
    assert [a.points for a in back.awards] == [-50]
    rest = give_back(s, member, "A", sku="X")
    assert [(p.id, p.value) for p in rest.progress] == [("may-visits", 0), ("kinds", 0)]
    assert rest.awards == []


def test_a_badge_stays_earned_and_its_points_go_back_when_its_order_does(database, clock):
    s = shop(database, clock, badges=[BADGE],
             streaks=[streak(milestones=[{"periods": 2, "reward": {"points": 40}}])])
    member = s.member()
    order(s, member, MAY, "A", ("X", "food", 1, 1000))
    done = order(s, member, MAY + timedelta(weeks=1), "B", ("TV", "tv", 1, 6000))
    assert [p.status for p in done.progress] == ["earned", "milestone"]
    assert points_of(database, s, member) == 140
    back = give_back(s, member, "B")
    assert [(p.kind, p.text) for p in back.progress] == [
        ("badge", "Badge Big spender stays earned; its points go back"),
        ("streak", f"Weekly coffee: 1 week in a row (order B-{s.program.id} returned)")]
    assert sorted(a.points for a in back.awards) == [-100, -40]
    assert points_of(database, s, member) == 0
    view = s.db.read(lambda conn: member_badges(conn, s.program, member))
    assert [(b.id, b.earned) for b in view] == [("big", True)]
    again = order(s, member, MAY + timedelta(weeks=1, days=1), "C", ("X", "food", 1, 1000))
    assert [(p.status, p.value) for p in again.progress] == [("milestone", 2)]
    assert points_of(database, s, member) == 40


def test_a_streak_period_another_purchase_also_counted_in_stays(database, clock):
    s = shop(database, clock, streaks=[streak()])
    member = s.member()
    order(s, member, MAY, "A", ("X", "food", 1, 1000))
    order(s, member, MAY + timedelta(weeks=1), "B", ("X", "food", 1, 1000))
    order(s, member, MAY + timedelta(weeks=1, hours=2), "C", ("X", "food", 1, 1000))
    back = give_back(s, member, "B")
    assert back.progress == [] and back.awards == []


def test_reward_points_already_spent_are_forgiven_as_a_purchase_return_forgives(database,
                                                                                clock):
    s = shop(database, clock, challenges=[challenge(reward={"points": 200})])
    member = s.member()
    for day, name in enumerate("ABC"):
        order(s, member, MAY + timedelta(days=day), name, ("X", "food", 1, 1000))
    s.db.transact(lambda conn: spend_points(conn, s.program, member, points=150,
                                            reason="mug", key="spend-1", actor="test",
                                            now=clock.now()))
    back = give_back(s, member, "C")
    [award] = back.awards
    assert (award.points, award.forgiven) == (-50, 150)
    assert award.reason == (f"May visits: order C-{s.program.id} returned, no longer done: −50 "
                            "(150 already spent, forgiven)")
    assert points_of(database, s, member) == 0
