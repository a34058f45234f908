"""A member's challenges and streaks read at a moment (``patron.engagement.domain``):
where they stand now, in the words the member reads."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from patron.engagement.domain import challenge_view, streak_view
from patron.program.engagement_engine import JOIN, State
from tests.engagement.factories import Member, challenge, document, event, streak

PARIS = ZoneInfo("Europe/Paris")
MAY = datetime(2026, 5, 4, 10, tzinfo=PARIS)  # a Monday


def _challenge(member: Member, now: datetime):
    return challenge_view(member.plan, member.plan.challenges["may-visits"], "Come by",
                          member.state, now)


def test_a_challenge_reads_as_upcoming_running_done_and_ended():
    member = Member(document(challenges=[challenge(ends="2026-06-30", every="month")]))
    upcoming = _challenge(member, MAY - timedelta(days=10))
    assert (upcoming.status, upcoming.period, upcoming.text) == (
        "upcoming", "2026-05", "May visits: starts 1 May 2026")
    member.send(event(MAY))
    member.send(event(MAY))
    running = _challenge(member, MAY + timedelta(days=1))
    assert (running.status, running.value, running.target, running.text) == (
        "running", 2, 3, "May visits: 2 of 3 visits this month")
    member.send(event(MAY))
    done = _challenge(member, MAY + timedelta(days=1))
    assert done.completed_at is not None
    assert done.text == "May visits: done, 3 of 3 visits this month"
    june = _challenge(member, datetime(2026, 6, 2, tzinfo=PARIS))  # a new goal
    assert (june.period, june.value, june.completed_at) == ("2026-06", 0, None)
    ended = _challenge(member, datetime(2026, 7, 2, tzinfo=PARIS))
    assert (ended.status, ended.period, ended.text) == (
        "ended", "2026-06", "May visits: ended at 0 of 3 visits")


def test_an_ended_challenge_the_member_never_took_part_in_is_not_shown():
    member = Member(document(challenges=[challenge()]))
    assert _challenge(member, datetime(2026, 6, 2, tzinfo=PARIS)) is None


def test_an_opt_in_challenge_invites_the_member_to_join_until_they_do():
    member = Member(document(challenges=[challenge(opt_in=True)]))
    before = _challenge(member, MAY)
    assert (before.joined, before.text) == (
        False, "May visits: 0 of 3 visits (until 31 May 2026); join to take part")
    member.state[(JOIN, "may-visits", "")] = State(JOIN, "may-visits", started_at=MAY)
    after = _challenge(member, MAY)
    assert (after.joined, after.joined_at, after.text) == (
        True, MAY, "May visits: 0 of 3 visits (until 31 May 2026)")


def _streak(member: Member, now: datetime):
    return streak_view(member.plan, member.plan.streaks["weekly"], None, member.state, now)


def test_a_streak_reads_as_done_this_week_then_due_then_over():
    member = Member(document(streaks=[streak(milestones=[
        {"periods": 4, "reward": {"points": 40}}])]))
    assert _streak(member, MAY).text == "Weekly coffee: no streak yet"
    member.send(event(MAY))
    member.send(event(MAY + timedelta(weeks=1)))
    done = _streak(member, MAY + timedelta(weeks=1, days=3))
    assert (done.length, done.this_period_done, done.alive) == (2, True, True)
    assert done.text == "Weekly coffee: 2 weeks in a row; this week counts already"
    assert (done.next_milestone.periods, done.next_milestone.remaining) == (4, 2)
    due = _streak(member, MAY + timedelta(weeks=2, days=1))
    assert (due.length, due.this_period_done, due.keep_by.isoformat()) == (
        2, False, "2026-05-24")
    assert due.text == "Weekly coffee: 2 weeks in a row; keep it going by Sunday 24 May"
    over = _streak(member, MAY + timedelta(weeks=3, days=1))
    assert (over.length, over.best, over.alive, over.keep_by) == (0, 2, False, None)
    assert over.text == "Weekly coffee: the streak ended; start a new one"


def test_grace_left_extends_the_last_day_to_keep_a_streak():
    member = Member(document(streaks=[streak(grace={"missed": 1, "per": 2})]))
    member.send(event(MAY))
    member.send(event(MAY + timedelta(weeks=1)))
    due = _streak(member, MAY + timedelta(weeks=2, days=1))
    assert (due.grace_left, due.keep_by.isoformat()) == (1, "2026-05-31")
    still = _streak(member, MAY + timedelta(weeks=3, days=1))  # a week missed: forgiven
    assert (still.alive, still.length) == (True, 2)
