"""Exclusive rules at validation: which compete, and what they silence.

An exclusive rule that awards stops the later rules of its own pass (see the
stacking order in ``engine``). Two that can apply at one priority have no defined
winner, an error; one that stops base earning is allowed (a promotion in place of
the regular rate) but rarely meant, so it is a warning naming what it silences.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from patron.program.comparisons import required_values
from patron.program.compiled import instant
from patron.program.document import EarnRule, Settings

Found = tuple[str, str, str]


def exclusive_problems(rules: Sequence[tuple[int, EarnRule]], settings: Settings
                       ) -> list[Found]:
    return _conflicts(rules, settings) + _silenced(rules, settings)


def _pass(rule: EarnRule) -> str:
    """Points, multipliers and gifts each run apart: one never stops another's rules."""
    return ("gift" if rule.points.gift is not None
            else "multiplier" if rule.is_multiplier else "points")


def _conflicts(rules: Sequence[tuple[int, EarnRule]], settings: Settings) -> list[Found]:
    """Two exclusive rules that can both apply at one priority have no defined winner."""
    groups: dict[tuple[str, str, int], list[tuple[int, EarnRule]]] = defaultdict(list)
    for i, rule in rules:
        if rule.exclusive and rule.active:
            groups[(rule.on, _pass(rule), rule.priority)].append((i, rule))
    found: list[Found] = []
    for (on, _, priority), members in groups.items():
        for k, (j, later) in enumerate(members):
            for i, earlier in members[:k]:
                if _overlap(earlier, later, settings):
                    found.append((f"earn_rules[{j}].exclusive", f"earn_rules[{i}] "
                                  f"({earlier.id!r}) is also exclusive at priority {priority} "
                                  f"on {on} events; give one a different priority so the "
                                  "winner is defined", "error"))
                    break
    return found


def _silenced(rules: Sequence[tuple[int, EarnRule]], settings: Settings) -> list[Found]:
    """An exclusive points rule that stops later regular earn rules when it applies.

    Only rules that can apply together count: same event type, overlapping dates and
    lines, and conditions that do not require different values of one field
    (``event.channel == 'app'`` against ``event.channel == 'web'``).
    """
    ordered = sorted((rule.priority, i, rule) for i, rule in rules if rule.active)
    found: list[Found] = []
    for k, (_, i, bonus) in enumerate(ordered):
        if not bonus.exclusive or _pass(bonus) != "points":
            continue
        stopped = [f"earn_rules[{j}] ({base.id!r})" for _, j, base in ordered[k + 1:]
                   if _silences(bonus, base, settings)]
        if stopped:
            where = "on the lines it awards on" if bonus.per_line else f"on {bonus.on} events"
            found.append((f"earn_rules[{i}].exclusive", "base earning is silenced when this "
                          f"rule applies: it stops {', '.join(stopped)} {where}; drop "
                          "exclusive for a bonus on top, or make it a multiplier", "warning"))
    return found


def _silences(bonus: EarnRule, base: EarnRule, settings: Settings) -> bool:
    if base.exclusive or base.on != bonus.on or _pass(base) != "points":
        return False
    if bonus.per_line and not base.per_line and base.points.fixed is not None:
        return False  # an order-level fixed award does not depend on the lines claimed
    return (_overlap(bonus, base, settings) and _lines_overlap(bonus, base)
            and _may_hold_together(bonus, base))


def _overlap(a: EarnRule, b: EarnRule, settings: Settings) -> bool:
    zone = settings.zone
    a_start, a_end = instant(a.valid_from, zone, end=False), instant(a.valid_until, zone, end=True)
    b_start, b_end = instant(b.valid_from, zone, end=False), instant(b.valid_until, zone, end=True)
    if a_start is not None and b_end is not None and a_start >= b_end:
        return False
    return not (b_start is not None and a_end is not None and b_start >= a_end)


def _lines_overlap(a: EarnRule, b: EarnRule) -> bool:
    """Line filters that may select one line; a category and a SKU list might."""
    if a.lines is None or b.lines is None:
        return True
    a_categories, b_categories = set(a.lines.categories), set(b.lines.categories)
    a_skus, b_skus = set(a.lines.skus), set(b.lines.skus)
    if a_categories & b_categories or a_skus & b_skus:
        return True
    return bool((a_categories and b_skus) or (a_skus and b_categories))


def _may_hold_together(a: EarnRule, b: EarnRule) -> bool:
    a_needs = required_values(a.when) if a.when else {}
    b_needs = required_values(b.when) if b.when else {}
    return all(b_needs[path] == value for path, value in a_needs.items() if path in b_needs)
