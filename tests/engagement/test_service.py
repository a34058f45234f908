"""Badges, challenges and streaks through ingest, on SQLite and PostgreSQL: progress in
each event's outcome, rewards in the ledger once (retries, racing events, budgets),
holdouts, state kept across batches, and what it costs a batch in statements."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import event as sa_event
from sqlalchemy import insert, select

from patron import hooks

from patron.engagement import repository
from patron.engagement.batch import held_out
from patron.engagement.tables import engagement_awards, engagement_budgets
from patron.ledger.tables import ledger_entries
from patron.members.schemas import StatusChange
from patron.members.service import set_status
from patron.segments.tables import member_tags
from tests.concurrency import at_once
from tests.conftest import T0
from tests.engagement.factories import Shop, challenge, streak

UTC = timezone.utc
NOW = datetime(2026, 5, 31, 20, tzinfo=UTC)
MAY = datetime(2026, 5, 4, 10, tzinfo=UTC)
BADGE = {"id": "regular", "name": "Regular", "on": ["purchase"],
         "when": "member.purchase_count >= 2", "reward": {"points": 100}}


def shop(database, clock, **sections) -> Shop:
    """A program whose sections start in March (the clock's start), the clock then moved to
    the end of May."""
    clock.set(T0)
    made = Shop(database, clock, earn_rules=[{"id": "base", "name": "1 per $1",
                                              "on": "purchase",
                                              "points": {"per_currency_unit": 1}}], **sections)
    clock.set(NOW)
    return made


def awards(database, program_id: int) -> list[tuple]:
    a = engagement_awards.c
    return [tuple(r) for r in database.read(lambda conn: conn.execute(
        select(a.member_id, a.kind, a.item_id, a.award_key, a.points, a.coupon_code.isnot(None))
        .where(a.program_id == program_id).order_by(a.id)).all())]


def entries(database, member_id: int) -> list[tuple]:
    e = ledger_entries.c
    return [tuple(r) for r in database.read(lambda conn: conn.execute(
        select(e.points, e.reason, e.kind).where(e.member_id == member_id).order_by(e.id))
        .all())]


def test_each_event_says_what_it_moved_and_rewards_reach_the_ledger(database, clock):
    s = shop(database, clock, badges=[BADGE], challenges=[challenge(
        reward={"points": 200, "coupon": "five-off"})],
        streaks=[streak(milestones=[{"periods": 2, "reward": {"points": 40}}])])
    member = s.member()
    first, second = (s.send(s.event_in(member, MAY + timedelta(weeks=w)))[0] for w in (0, 1))
    assert [p.text for p in first.progress] == [
        "May visits: 1 of 3 visits (until 31 May 2026)", "Weekly coffee: 1 week, a streak begins"]
    assert first.points == 10
    assert [(p.kind, p.status, p.text) for p in second.progress] == [
        ("badge", "earned", "Badge earned: Regular, +100 Beans"),
        ("challenge", "progress", "May visits: 2 of 3 visits (until 31 May 2026)"),
        ("streak", "milestone", "Weekly coffee: 2 weeks in a row, +40 Beans")]
    assert second.points == 10 + 100 + 40
    assert [(a.kind, a.rule_id, a.points, a.status) for a in second.awards[1:]] == [
        ("badge", "regular", 100, "posted"), ("streak", "weekly", 40, "posted")]
    third = s.send(s.event_in(member, MAY + timedelta(weeks=1, days=1)))[0]
    assert [p.text for p in third.progress] == [
        "May visits: done, 3 of 3 visits, +200 Beans and $5 off"]
    assert [e for e in entries(database, member) if e[0] != 10] == [
        (100, "Badge earned: Regular, +100 Beans", "earn"),
        (40, "Weekly coffee: 2 weeks in a row, +40 Beans", "earn"),
        (200, "May visits: done, 3 of 3 visits, +200 Beans and $5 off", "earn")]
    assert awards(database, s.program.id) == [
        (member, "badge", "regular", "earned", 100, False),
        (member, "streak", "weekly", "1:2", 40, False),
        (member, "challenge", "may-visits", "done", 200, True)]
    coupons = database.read(lambda conn: conn.execute(select(engagement_awards.c.coupon_code)
                                                       .where(engagement_awards.c.member_id
                                                              == member,
                                                              engagement_awards.c.kind
                                                              == "challenge")).scalar_one())
    assert coupons


def test_a_retried_event_or_one_sent_twice_in_a_batch_gives_nothing_twice(database, clock):
    s = shop(database, clock, badges=[BADGE])
    member = s.member()
    s.send(s.event_in(member, MAY))
    retried = s.event_in(member, MAY + timedelta(hours=1), event_id=f"retry-{s.program.id}")
    first = s.send(retried)[0]
    again, twice = s.send(retried, retried)
    assert (first.status, again.status, twice.status) == ("processed", "duplicate", "duplicate")
    assert again.progress == first.progress and again.points == first.points == 110
    assert awards(database, s.program.id) == [(member, "badge", "regular", "earned", 100,
                                               False)]
    assert [r for r in entries(database, member) if r[0] == 100] == [
        (100, "Badge earned: Regular, +100 Beans", "earn")]


def test_racing_events_of_one_member_earn_the_badge_once(database, clock):
    s = shop(database, clock, badges=[BADGE])
    members = [s.member() for _ in range(4)]
    for member in members:
        s.send(s.event_in(member, MAY))

    def send(item):
        member, n = item
        return s.send(s.event_in(member, MAY + timedelta(hours=n)))

    outcomes = at_once([(m, n) for m in members for n in (1, 2)], send)
    assert sorted(o.points for o in outcomes) == [10] * 4 + [110] * 4
    assert sorted(awards(database, s.program.id)) == sorted(
        (m, "badge", "regular", "earned", 100, False) for m in members)


def test_the_same_event_raced_from_two_clients_gives_once(database, clock):
    s = shop(database, clock, challenges=[challenge(
        goal={"measure": "count", "target": 1, "unit": "visits"})])
    member = s.member()
    event = s.event_in(member, MAY, event_id=f"raced-{s.program.id}")
    outcomes = at_once([event, event], lambda e: s.send(e))
    assert sorted(o.status for o in outcomes) == ["duplicate", "processed"]
    assert {o.points for o in outcomes} == {210}
    assert awards(database, s.program.id) == [(member, "challenge", "may-visits", "done", 200,
                                               False)]


def test_racing_completions_never_overspend_a_challenge_budget(database, clock):
    # 200 Beans at 0.5 ¢ cost 100 ¢: a budget of 250 ¢ pays two completions whole
    s = shop(database, clock, challenges=[challenge(
        goal={"measure": "count", "target": 1, "unit": "visits"}, budget={"money": 250})])
    members = [s.member() for _ in range(6)]
    outcomes = at_once(members, lambda m: s.send(s.event_in(m, MAY)))
    assert sorted(o.points for o in outcomes) == [10] * 4 + [210] * 2
    refused = [o for o in outcomes if o.points == 10]
    assert all(o.notes[0].code == "challenge_budget_exhausted" for o in refused)
    assert all(o.progress[0].text == "May visits: done, 1 of 1 visits (its rewards have run "
                                     "out)" for o in refused)
    b = engagement_budgets.c
    assert database.read(lambda conn: conn.execute(select(b.points, b.money).where(
        b.program_id == s.program.id)).one()) == (400, 200)


def test_a_holdout_member_never_takes_part(database, clock):
    s = shop(database, clock, challenges=[challenge(holdout="0.5")])
    members = [s.member() for _ in range(12)]
    out = [m for m in members if held_out(s.program.id, "may-visits", m, 0.5)]
    kept = [m for m in members if m not in out]
    assert out and kept
    assert s.send(s.event_in(out[0], MAY))[0].progress == []
    assert [p.text for p in s.send(s.event_in(kept[0], MAY))[0].progress] == [
        "May visits: 1 of 3 visits (until 31 May 2026)"]


def test_a_streak_keeps_across_batches_with_grace_and_starts_again_past_it(database, clock):
    s = shop(database, clock, streaks=[streak(grace={"missed": 1, "per": 2})])
    member = s.member()
    start = datetime(2026, 3, 9, 10, tzinfo=UTC)  # a Monday after the program's version
    texts = [[p.text for p in s.send(s.event_in(member, start + timedelta(weeks=w)))[0]
              .progress] for w in (0, 1, 3, 5)]
    assert texts == [["Weekly coffee: 1 week, a streak begins"],
                     ["Weekly coffee: 2 weeks in a row"],
                     ["Weekly coffee: 3 weeks in a row (1 missed week forgiven)"],
                     ["Weekly coffee: a new streak, 1 week"]]
    state = database.read(lambda conn: repository.member_states(conn, s.program.id, member))
    kept = state[("streak", "weekly", "")]
    assert (kept.value, kept.best, kept.run, kept.forgiven) == (1, 3, 2, 0)


def test_a_blocked_members_events_move_nothing(database, clock):
    s = shop(database, clock, badges=[{**BADGE, "when": "member.purchase_count >= 1"}])
    member = s.member()
    database.transact(lambda conn: set_status(conn, s.program, member, StatusChange(
        status="blocked", reason="dispute"), actor="test", now=clock.now()))
    outcome = s.send(s.event_in(member, MAY))[0]
    assert (outcome.points, outcome.progress) == (0, [])
    assert awards(database, s.program.id) == []


def _statements(database, work) -> list[str]:
    sent: list[str] = []

    def record(conn, cursor, statement, *args):
        sent.append(" ".join(statement.split()))

    sa_event.listen(database.engine, "before_cursor_execute", record)
    try:
        work()
    finally:
        sa_event.remove(database.engine, "before_cursor_execute", record)
    return sent


def _engagement(sent: list[str]) -> list[str]:
    return [s for s in sent if "member_engagement" in s or "engagement_" in s]


def test_a_batch_costs_no_statement_without_engagement_and_three_with_it(database, clock):
    """Progress read, progress written, and what the purchases gave (for their returns)."""
    plain = shop(database, clock)
    member = plain.member()
    assert _engagement(_statements(database, lambda: plain.send(
        plain.event_in(member, MAY)))) == []
    s = shop(database, clock, badges=[{**BADGE, "when": "member.purchase_count >= 9"}],
             challenges=[challenge(goal={"measure": "count", "target": 9, "unit": "visits"})],
             streaks=[streak()])
    member = s.member()
    s.send(s.event_in(member, MAY))
    sent = _engagement(_statements(database, lambda: s.send(
        s.event_in(member, MAY + timedelta(weeks=1)), s.event_in(member,
                                                                 MAY + timedelta(weeks=2)))))
    assert [statement.split()[0] for statement in sent] == ["SELECT", "INSERT", "INSERT"], sent
    assert "ON CONFLICT" in sent[1]


def test_a_badge_on_member_tags_reads_them_though_no_earn_rule_does(database, clock):
    s = shop(database, clock, badges=[{"id": "vip", "name": "VIP", "on": ["purchase"],
                                       "when": "'vip' in member.tags"}])
    tagged, plain = s.member(), s.member()
    database.transact(lambda conn: conn.execute(insert(member_tags).values(
        program_id=s.program.id, member_id=tagged, tag="vip", source="manual",
        added_by="test", added_at=clock.now())))
    outcomes = s.send(s.event_in(tagged, MAY), s.event_in(plain, MAY))
    assert [[p.text for p in o.progress] for o in outcomes] == [["Badge earned: VIP"], []]


def test_achievements_are_announced_to_subscribers(database, clock):
    s = shop(database, clock, badges=[BADGE], challenges=[challenge(
        goal={"measure": "count", "target": 2, "unit": "visits"})])
    member = s.member()
    heard: list[hooks.EngagementAchieved] = []

    def listen(conn, happened: hooks.EngagementAchieved) -> None:
        heard.append(happened)

    hooks.subscribe(hooks.EngagementAchieved, listen)
    try:
        s.send(s.event_in(member, MAY))
        assert heard == []
        s.send(s.event_in(member, MAY + timedelta(hours=1)))
    finally:
        hooks.unsubscribe(hooks.EngagementAchieved, listen)
    [happened] = heard
    assert [(a.member_id, a.kind, a.item_id, a.key, a.points) for a in
            happened.achievements] == [(member, "badge", "regular", "earned", 100),
                                       (member, "challenge", "may-visits", "done", 200)]
    assert happened.achievements[1].text == "May visits: done, 2 of 2 visits, +200 Beans"


def test_ids_as_long_as_the_document_allows_are_stored(database, clock):
    long = "l" * 64
    s = shop(database, clock, badges=[{"id": "b" * 64, "name": "B", "on": ["purchase"],
                                       "levels": [{"id": long, "name": "L",
                                                   "when": "member.purchase_count >= 1",
                                                   "reward": {"points": 1}}]}])
    member = s.member()
    assert s.send(s.event_in(member, MAY))[0].points == 11
    assert awards(database, s.program.id) == [(member, "badge", "b" * 64, long, 1, False)]
