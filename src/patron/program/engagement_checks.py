"""Checks on badges, challenges and streaks that a schema cannot express.

Each item valid on its own is checked, so one broken badge does not hide the
problems of the others: its event types (known, and not a type recorded alone such
as a return), its conditions (as earn rules' are, against each of its types), the
coupon types its rewards give, a challenge's window and the field its goal reads,
and a streak's milestones. Problems carry the path into the document
(``challenges[0].goal.field: …``).
"""

from __future__ import annotations

from collections.abc import Sequence
from difflib import get_close_matches
from typing import Any

from pydantic import BaseModel, ValidationError

from patron.program.catalog import (BUILT_IN_EVENT_TYPES, LINE_FIELDS, PURCHASE,
                                    RECORDED_ALONE, event_fields)
from patron.program.cel import CelSyntaxError, compile_condition
from patron.program.compiled import instant
from patron.program.document import Settings
from patron.program.engagement import Badge, Challenge, EngagementReward, Streak
from patron.program.incentives import CouponType
from patron.program.semantics import Declared, check_condition

Found = tuple[str, str, str]
_ANY_TYPE = "profile_completed"
"""A badge checked at every event has its condition checked as for a type with no data."""


def engagement_problems(data: dict[str, Any], settings: Settings,
                        declared: Declared) -> list[Found]:
    """Every problem of the document's ``badges``, ``challenges`` and ``streaks``."""
    coupons = {c.id for _, c in _valid(CouponType, data.get("coupons"))}
    known = (set(BUILT_IN_EVENT_TYPES) | set(declared)) - RECORDED_ALONE
    checks = _Checks(declared, known, coupons)
    found: list[Found] = []
    for section, model, check in (("badges", Badge, checks.badge),
                                  ("challenges", Challenge, checks.challenge),
                                  ("streaks", Streak, checks.streak)):
        items = _valid(model, data.get(section))
        found += _duplicates(section, [(i, item.id) for i, item in items])
        for i, item in items:
            found += check(f"{section}[{i}]", item, settings)
    return found


class _Checks:
    def __init__(self, declared: Declared, known: set[str], coupons: set[str]) -> None:
        self.declared, self.known, self.coupons = declared, known, coupons

    def badge(self, at: str, badge: Badge, settings: Settings) -> list[Found]:
        found = self.types(at, badge.on or [])
        on = [t for t in badge.on or [] if t in self.known] if badge.on is not None else None
        if badge.levels:
            found += _duplicates(f"{at}.levels", [(k, level.id)
                                                  for k, level in enumerate(badge.levels)],
                                 "level id")
            for k, level in enumerate(badge.levels):
                found += self.condition(f"{at}.levels[{k}].when", level.when, on)
                found += self.reward(f"{at}.levels[{k}].reward", level.reward)
        else:
            found += self.condition(f"{at}.when", badge.when or "", on)
            found += self.reward(f"{at}.reward", badge.reward)
        return found

    def challenge(self, at: str, challenge: Challenge, settings: Settings) -> list[Found]:
        found = self.types(at, challenge.on)
        on = [t for t in challenge.on if t in self.known]
        if challenge.when:
            found += self.condition(f"{at}.when", challenge.when, on)
        found += self.reward(f"{at}.reward", challenge.reward)
        found += _window(at, challenge, settings)
        if challenge.goal.field is not None and on:
            found += self.goal_field(f"{at}.goal.field", challenge.goal.measure,
                                     challenge.goal.field, on)
        if challenge.budget is not None and challenge.reward is None:
            found.append((f"{at}.budget", "a budget limits rewards, and this challenge has "
                          "none", "warning"))
        return found

    def streak(self, at: str, streak: Streak, settings: Settings) -> list[Found]:
        found = self.types(at, streak.on)
        if streak.when:
            found += self.condition(f"{at}.when", streak.when,
                                    [t for t in streak.on if t in self.known])
        seen: dict[int, int] = {}
        for k, milestone in enumerate(streak.milestones):
            if milestone.periods in seen:
                found.append((f"{at}.milestones[{k}].periods", f"{milestone.periods} is "
                              f"already milestones[{seen[milestone.periods]}]", "error"))
            seen.setdefault(milestone.periods, k)
            found += self.reward(f"{at}.milestones[{k}].reward", milestone.reward)
        return found

    def types(self, at: str, types: Sequence[str]) -> list[Found]:
        found = []
        for j, event_type in enumerate(types):
            if event_type in RECORDED_ALONE:
                found.append((f"{at}.on[{j}]", f"{event_type} events earn nothing and count "
                              "towards nothing", "error"))
            elif event_type not in self.known:
                close = get_close_matches(event_type, sorted(self.known), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                found.append((f"{at}.on[{j}]", f"unknown event type {event_type!r}{hint} "
                              "(declare custom types under event_types)", "error"))
        if len(set(types)) != len(types):
            found.append((f"{at}.on", "an event type is listed twice", "error"))
        return found

    def condition(self, at: str, when: str, on: Sequence[str] | None) -> list[Found]:
        """Checked as an earn rule's, against each type; a badge checked at every event
        (``on`` absent) may not read event data, which differs from type to type."""
        if on is not None and not on:  # no known type to check it against: syntax only
            try:
                compile_condition(when)
            except CelSyntaxError as exc:
                return [(at, str(exc), "error")]
            return []
        if on is None:
            if "event.data" in when:
                return [(at, "a badge without 'on' is checked at every event, whose data "
                         "differ; list its event types in 'on' to read event.data", "error")]
            on = [_ANY_TYPE]
        found: list[Found] = []
        for event_type in on:
            for problem in check_condition(at, when, event_type, False, self.declared):
                if problem not in found:
                    found.append(problem)
        return found

    def reward(self, at: str, reward: EngagementReward | None) -> list[Found]:
        if reward is None or reward.coupon is None or reward.coupon in self.coupons:
            return []
        close = get_close_matches(reward.coupon, sorted(self.coupons), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else "; add it under coupons"
        return [(f"{at}.coupon", f"unknown coupon type {reward.coupon!r}{hint}", "error")]

    def goal_field(self, at: str, measure: str, path: str, on: Sequence[str]) -> list[Found]:
        """``event.data.<name>`` of every type in ``on``, ``event.channel``, or
        ``line.<name>`` of purchases; a sum needs a whole number."""
        wanted = ("int",) if measure == "sum" else ("string", "int")
        parts = path.split(".")
        if parts == ["event", "channel"]:
            return [] if measure == "distinct" else [(at, "event.channel is text; a sum "
                                                      "needs a whole-number field", "error")]
        if len(parts) == 2 and parts[0] == "line":
            if set(on) != {PURCHASE}:
                return [(at, "line fields are purchase lines': the challenge must be on "
                         "purchase only", "error")]
            return _typed(at, f"line.{parts[1]}", LINE_FIELDS.get(parts[1]), wanted,
                          LINE_FIELDS)
        if len(parts) == 3 and parts[:2] == ["event", "data"]:
            found: list[Found] = []
            for event_type in on:
                fields = event_fields(event_type, self.declared) or {}
                for problem in _typed(at, path, fields.get(parts[2]), wanted, fields,
                                      f" for {event_type} events"):
                    if problem not in found:
                        found.append(problem)
            return found
        return [(at, "give event.data.<name>, event.channel or line.<name>", "error")]


def _typed(at: str, path: str, kind: str | None, wanted: tuple[str, ...],
           fields: dict[str, Any], where: str = "") -> list[Found]:
    if kind is None:
        name = path.rsplit(".", 1)[-1]
        close = get_close_matches(name, list(fields), n=1)
        hint = f"; did you mean {path.rsplit('.', 1)[0]}.{close[0]}?" if close else ""
        return [(at, f"unknown field {path}{where}{hint}", "error")]
    if kind not in wanted:
        need = "a whole number (int)" if wanted == ("int",) else "text or a whole number"
        return [(at, f"{path} is {kind}{where}; the goal needs {need}", "error")]
    return []


def _window(at: str, challenge: Challenge, settings: Settings) -> list[Found]:
    zone = settings.zone
    starts = instant(challenge.starts, zone, end=False)
    ends = instant(challenge.ends, zone, end=True)
    if ends <= starts:
        return [(f"{at}.ends", "must be after starts", "error")]
    found: list[Found] = []
    opens = instant(settings.starts_on, zone, end=False)
    closes = instant(settings.ends_on, zone, end=True)
    if opens is not None and starts < opens:
        found.append((f"{at}.starts", f"before the program starts (settings.starts_on "
                      f"{settings.starts_on})", "error"))
    if closes is not None and ends > closes:
        found.append((f"{at}.ends", f"after the program ends (settings.ends_on "
                      f"{settings.ends_on})", "error"))
    return found


def _duplicates(section: str, ids: Sequence[tuple[int, str]], what: str = "id") -> list[Found]:
    first: dict[str, int] = {}
    found = []
    for i, item_id in ids:
        if item_id in first:
            found.append((f"{section}[{i}].id", f"duplicate {what} {item_id!r} (also "
                          f"{section}[{first[item_id]}])", "error"))
        first.setdefault(item_id, i)
    return found


def _valid(model: type[BaseModel], values: Any) -> list[tuple[int, Any]]:
    valid = []
    for i, value in enumerate(values if isinstance(values, list) else []):
        if not isinstance(value, dict):
            continue
        try:
            valid.append((i, model.model_validate(value)))
        except ValidationError:
            continue
    return valid
