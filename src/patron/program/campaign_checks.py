"""Checks on the document's campaigns that a schema cannot express.

A campaign's earn rules are earn rules like any other: ``validate`` checks them
with the document's own rules (so ids are unique across both, and a campaign
multiplier may name a top-level rule in ``of``), under synthetic indices that
``rule_paths`` maps back to ``campaigns[N].earn_rules[M]``. What is left here is
the campaign itself: its id, its window inside the program's run dates, its
rules' windows inside its own, and the coupon types and reward it gives.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from patron.program.compiled import instant
from patron.program.document import Campaign, EarnRule, ProgramDocument, Settings

Found = tuple[str, str, str]
OFFSET = 1_000_000
"""Campaign rules are checked at index ``OFFSET * (N + 1) + M``."""
_RULE_REF = re.compile(r"earn_rules\[(\d+)\]")


def campaign_rules(raw_campaigns: Any) -> list[tuple[int, Any]]:
    """Every campaign's earn rules as written, at their synthetic indices."""
    found = []
    for n, raw in enumerate(raw_campaigns if isinstance(raw_campaigns, list) else []):
        rules = raw.get("earn_rules") if isinstance(raw, dict) else None
        for m, rule in enumerate(rules if isinstance(rules, list) else []):
            found.append((OFFSET * (n + 1) + m, rule))
    return found


def rule_paths(text: str) -> str:
    """``earn_rules[2000001]`` → ``campaigns[1].earn_rules[1]``, in a path or a message."""
    def place(match: re.Match[str]) -> str:
        index = int(match.group(1))
        if index < OFFSET:
            return match.group(0)
        return f"campaigns[{index // OFFSET - 1}].earn_rules[{index % OFFSET}]"
    return _RULE_REF.sub(place, text)


def campaign_problems(document: ProgramDocument) -> list[Found]:
    found: list[Found] = []
    seen: dict[str, int] = {}
    coupon_ids = {c.id for c in document.coupons}
    rewards = {r.id: r for r in document.rewards}
    for n, campaign in enumerate(document.campaigns):
        at = f"campaigns[{n}]"
        if campaign.id in seen:
            found.append((f"{at}.id", f"duplicate campaign id {campaign.id!r} (also "
                          f"campaigns[{seen[campaign.id]}])", "error"))
        seen.setdefault(campaign.id, n)
        found += _window(at, campaign, document.settings)
        for m, rule in enumerate(campaign.earn_rules):
            found += _rule_window(f"{at}.earn_rules[{m}]", rule, campaign, document.settings)
        for k, coupon in enumerate(campaign.coupons):
            if coupon.type not in coupon_ids:
                found.append((f"{at}.coupons[{k}].type", f"unknown coupon type "
                              f"{coupon.type!r}; add it under coupons", "error"))
        reward = rewards.get(campaign.reward or "")
        if campaign.reward is not None and reward is None:
            found.append((f"{at}.reward", f"unknown reward {campaign.reward!r}; add it under "
                          "rewards", "error"))
        elif reward is not None and reward.type != "coupon":
            found.append((f"{at}.reward", f"{campaign.reward!r} is a {reward.type} reward; a "
                          "campaign gives coupon rewards (a gift needs a rule's event)", "error"))
    return found


def window(campaign: Campaign, settings: Settings) -> tuple[datetime, datetime]:
    """The campaign's window as instants: from ``starts`` until (excluding) ``ends``."""
    zone = settings.zone
    return instant(campaign.starts, zone, end=False), instant(campaign.ends, zone, end=True)


def _window(at: str, campaign: Campaign, settings: Settings) -> list[Found]:
    starts, ends = window(campaign, settings)
    if ends <= starts:
        return [(f"{at}.ends", "must be after starts", "error")]
    found: list[Found] = []
    opens = instant(settings.starts_on, settings.zone, end=False)
    closes = instant(settings.ends_on, settings.zone, end=True)
    if opens is not None and starts < opens:
        found.append((f"{at}.starts", f"before the program starts "
                      f"(settings.starts_on {settings.starts_on})", "error"))
    if closes is not None and ends > closes:
        found.append((f"{at}.ends", f"after the program ends "
                      f"(settings.ends_on {settings.ends_on})", "error"))
    return found


def _rule_window(at: str, rule: EarnRule, campaign: Campaign,
                 settings: Settings) -> list[Found]:
    starts, ends = window(campaign, settings)
    found: list[Found] = []
    since = instant(rule.valid_from, settings.zone, end=False)
    until = instant(rule.valid_until, settings.zone, end=True)
    if since is not None and not starts <= since < ends:
        found.append((f"{at}.valid_from", "outside the campaign's window", "error"))
    if until is not None and not starts < until <= ends:
        found.append((f"{at}.valid_until", "outside the campaign's window", "error"))
    return found


def remap(found: Sequence[Found]) -> list[Found]:
    return [(rule_paths(path), rule_paths(message), severity)
            for path, message, severity in found]
