"""Badges, challenges and streaks, event by event, without a database: what each event
moves, what the member reads, and what is given (``patron.program.engagement_engine``)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from patron.program.engagement_engine import JOIN, State
from tests.engagement.factories import Budget, Member, challenge, document, event, streak

PARIS = ZoneInfo("Europe/Paris")
MAY = datetime(2026, 5, 4, 10, tzinfo=PARIS)  # a Monday
BADGE = {"id": "regular", "name": "Regular", "on": ["purchase"],
         "when": "member.purchase_count >= 3", "reward": {"points": 100}}


def test_a_badge_is_earned_at_the_event_its_condition_first_holds_and_only_once():
    member = Member(document(badges=[BADGE]))
    assert [member.send(event(MAY + timedelta(days=d))).moved for d in (0, 1)] == [[], []]
    third = member.send(event(MAY + timedelta(days=2)))
    assert [m.text for m in third.moved] == ["Badge earned: Regular, +100 Beans"]
    assert [(g.kind, g.item_id, g.key, g.points) for g in third.grants] == [
        ("badge", "regular", "earned", 100)]
    fourth = member.send(event(MAY + timedelta(days=3)))
    assert fourth.moved == [] and fourth.grants == []


def test_badge_levels_are_each_earned_once_and_a_badge_without_on_at_any_event():
    levels = {"id": "fan", "name": "Fan", "on": ["purchase", "social_share"], "levels": [
        {"id": "bronze", "name": "Bronze", "when": "member.purchase_count >= 1",
         "reward": {"points": 10}},
        {"id": "silver", "name": "Silver", "when": "member.purchase_count >= 2",
         "reward": {"coupon": "five-off"}}]}
    sharer = {"id": "sharer", "name": "Sharer", "when": "member.social_share_count >= 1"}
    member = Member(document(badges=[levels, sharer]))
    assert member.texts(event(MAY)) == ["Badge earned: Fan (Bronze), +10 Beans"]
    assert member.texts(event(MAY, "social_share", network="x")) == ["Badge earned: Sharer"]
    second = member.send(event(MAY))
    assert [m.text for m in second.moved] == ["Badge earned: Fan (Silver), $5 off"]
    assert [(g.key, g.points, g.coupon) for g in second.grants] == [("silver", 0, "five-off")]
    assert member.texts(event(MAY)) == []


def test_a_challenge_counts_each_qualifying_event_and_completes_once():
    member = Member(document(challenges=[challenge()]))
    assert member.texts(event(MAY)) == ["May visits: 1 of 3 visits (until 31 May 2026)"]
    assert member.texts(event(MAY)) == ["May visits: 2 of 3 visits (until 31 May 2026)"]
    done = member.send(event(MAY))
    assert [(m.status, m.value, m.target, m.text) for m in done.moved] == [
        ("completed", 3, 3, "May visits: done, 3 of 3 visits, +200 Beans")]
    assert [(g.kind, g.key, g.points) for g in done.grants] == [("challenge", "done", 200)]
    assert member.send(event(MAY)).moved == []  # a completed goal counts nothing more


def test_a_challenge_window_is_whole_local_days_in_the_program_timezone():
    member = Member(document(challenges=[challenge()]))
    last_minute = datetime(2026, 5, 31, 23, 59, tzinfo=PARIS)   # 21:59 UTC
    too_late = datetime(2026, 6, 1, 0, 30, tzinfo=PARIS)        # still 31 May in UTC
    too_early = datetime(2026, 4, 30, 23, 30, tzinfo=PARIS)
    assert member.texts(event(too_early)) == []
    assert member.texts(event(too_late)) == []
    assert member.texts(event(last_minute)) == [
        "May visits: 1 of 3 visits (until 31 May 2026)"]


def test_a_monthly_goal_starts_again_each_month():
    member = Member(document(challenges=[challenge(
        ends="2026-06-30", every="month", goal={"measure": "count", "target": 2,
                                                "unit": "visits"})]))
    assert member.texts(event(MAY)) == ["May visits: 1 of 2 visits this month"]
    assert member.send(event(MAY)).grants[0].key == "2026-05"
    june = member.send(event(datetime(2026, 6, 1, 0, 30, tzinfo=PARIS)))
    assert [m.text for m in june.moved] == ["May visits: 1 of 2 visits this month"]
    assert member.send(event(datetime(2026, 6, 9, tzinfo=PARIS))).grants[0].key == "2026-06"


def test_distinct_goals_count_new_values_of_a_field_or_of_purchase_lines():
    stores = Member(document(challenges=[challenge(goal={
        "measure": "distinct", "field": "event.data.store_id", "target": 2,
        "unit": "stores"})]))
    one = ["May visits: 1 of 2 stores (until 31 May 2026)"]
    assert stores.texts(event(MAY, store_id="a")) == one
    assert stores.texts(event(MAY, store_id="a")) == one  # the same store again
    assert stores.texts(event(MAY)) == one  # no store named
    assert stores.send(event(MAY, store_id="b")).moved[0].status == "completed"
    categories = Member(document(challenges=[challenge(goal={
        "measure": "distinct", "field": "line.category", "target": 3})]))
    lines = [{"sku": "A", "category": "drinks", "amount": 500},
             {"sku": "B", "category": "food", "amount": 500}]
    assert categories.texts(event(MAY, lines=lines)) == [
        "May visits: 2 of 3 different category values (until 31 May 2026)"]


def test_sum_goals_add_a_whole_number_field_and_show_money_as_money():
    eco = Member(document(challenges=[challenge(on=["eco_action"], goal={
        "measure": "sum", "field": "event.data.quantity", "target": 5, "unit": "eco actions"},
        reward={"points": 50})]))
    assert eco.texts(event(MAY, "eco_action", action="cup", quantity=2)) == [
        "May visits: 2 of 5 eco actions (until 31 May 2026)"]
    assert eco.send(event(MAY, "eco_action", action="cup", quantity=4)).grants[0].points == 50
    spend = Member(document(challenges=[challenge(goal={
        "measure": "sum", "field": "event.data.total", "target": 2500})]))
    assert spend.texts(event(MAY, total=1000)) == [
        "May visits: $10.00 of $25.00 spent (until 31 May 2026)"]


def test_only_events_meeting_the_condition_count():
    member = Member(document(challenges=[challenge(when="event.channel == 'pos'")]))
    assert member.texts(event(MAY, channel="web")) == []
    assert member.texts(event(MAY, channel="pos")) == [
        "May visits: 1 of 3 visits (until 31 May 2026)"]


def test_an_opt_in_challenge_counts_only_events_after_the_member_joined():
    member = Member(document(challenges=[challenge(opt_in=True)]))
    assert member.texts(event(MAY)) == []
    joined = MAY + timedelta(days=2)
    member.state[(JOIN, "may-visits", "")] = State(JOIN, "may-visits", started_at=joined)
    assert member.texts(event(joined - timedelta(minutes=1))) == []
    assert member.texts(event(joined)) == ["May visits: 1 of 3 visits (until 31 May 2026)"]


def test_a_held_out_member_does_not_take_part():
    member = Member(document(challenges=[challenge()]), held_out=frozenset({"may-visits"}))
    assert member.send(event(MAY)).moved == []
    assert member.state == {}


def test_a_spent_budget_completes_the_goal_without_a_reward_and_says_so():
    doc = document(challenges=[challenge(
        goal={"measure": "count", "target": 1, "unit": "visits"},
        reward={"points": 200, "coupon": "five-off"}, budget={"money": 1300})])
    budget = Budget()
    first, second, third = (Member(doc, budget=budget) for _ in range(3))
    assert [g.points for g in first.send(event(MAY)).grants] == [200]
    assert budget.used == {"may-visits": (200, 600)}  # 200 Beans at 0.5 ¢ and a $5 coupon
    assert [g.points for g in second.send(event(MAY)).grants] == [200]
    refused = third.send(event(MAY))
    assert refused.grants == []
    assert [(n.code, n.message) for n in refused.notes] == [(
        "challenge_budget_exhausted", "May visits: its rewards have run out, nothing given")]
    assert refused.moved[0].text == "May visits: done, 1 of 1 visits (its rewards have run out)"
    assert budget.used == {"may-visits": (400, 1200)}


# --- streaks -------------------------------------------------------------------------------

MILESTONES = [{"periods": 4, "reward": {"points": 40}},
              {"periods": 8, "reward": {"points": 100, "coupon": "pct"}}]


def weeks(member: Member, *offsets: int, kind: str = "purchase") -> list[list[str]]:
    """Events on Wednesday of the given weeks after MAY's week."""
    return [member.texts(event(MAY + timedelta(weeks=w, days=2), kind)) for w in offsets]


def test_a_streak_counts_consecutive_weeks_once_each_and_rewards_its_milestones():
    member = Member(document(streaks=[streak(milestones=MILESTONES)]))
    assert weeks(member, 0, 0, 1, 2) == [["Weekly coffee: 1 week, a streak begins"], [],
                                         ["Weekly coffee: 2 weeks in a row"],
                                         ["Weekly coffee: 3 weeks in a row"]]
    fourth = member.send(event(MAY + timedelta(weeks=3), "social_share"))
    assert [(m.status, m.text) for m in fourth.moved] == [
        ("milestone", "Weekly coffee: 4 weeks in a row, +40 Beans")]
    assert [(g.key, g.points) for g in fourth.grants] == [("1:4", 40)]
    assert member.texts(event(MAY + timedelta(weeks=1))) == []  # an older week: nothing


def test_grace_forgives_missed_weeks_as_the_streak_earns_it_and_a_break_starts_again():
    member = Member(document(streaks=[streak(grace={"missed": 1, "per": 4},
                                             milestones=MILESTONES)]))
    weeks(member, 0, 1, 2, 3)
    assert weeks(member, 5) == [["Weekly coffee: 5 weeks in a row (1 missed week forgiven)"]]
    assert weeks(member, 7) == [["Weekly coffee: a new streak, 1 week"]]  # no grace left
    progress = member.state[("streak", "weekly", "")]
    assert (progress.value, progress.best, progress.run) == (1, 5, 2)
    again = [member.send(event(MAY + timedelta(weeks=w, days=2))) for w in (8, 9, 10)]
    assert [(g.key, g.points) for g in again[-1].grants] == [("2:4", 40)]  # a new streak


def test_without_grace_one_missed_day_breaks_a_daily_streak():
    member = Member(document(streaks=[streak(period="day")]))
    texts = [member.texts(event(MAY + timedelta(days=d))) for d in (0, 1, 3)]
    assert texts == [["Weekly coffee: 1 day, a streak begins"],
                     ["Weekly coffee: 2 days in a row"],
                     ["Weekly coffee: a new streak, 1 day"]]


def test_weeks_are_the_program_timezones_monday_to_sunday():
    member = Member(document(streaks=[streak()]))
    sunday_night = datetime(2026, 5, 10, 23, 30, tzinfo=PARIS)  # 21:30 UTC, Sunday
    monday_early = datetime(2026, 5, 11, 0, 30, tzinfo=PARIS)   # 22:30 UTC, still Sunday
    assert monday_early.astimezone(timezone.utc).weekday() == 6
    assert member.texts(event(sunday_night)) == ["Weekly coffee: 1 week, a streak begins"]
    assert member.texts(event(monday_early)) == ["Weekly coffee: 2 weeks in a row"]


def test_a_condition_that_cannot_be_read_counts_nothing_and_breaks_nothing():
    member = Member(document(streaks=[streak(
        when="has(member.profile.attributes.vip) && member.profile.attributes.vip")]))
    moved = member.send(event(MAY))
    assert moved.moved == [] and moved.notes == []
    assert ("streak", "weekly", "") not in member.state
