"""What each kind of notification says, in which language, and on which consent.

``KINDS`` is the registry: each kind names the consent purpose it needs on the
channel it goes by. Points earned, points expiring, a reward ready to redeem and a
reward redeemed are about the member's own account (purpose ``service``); a tier
change is promotional in tone (purpose ``marketing``). Templates live in ``templates/LANG/KIND.subject.txt``
and ``KIND.body.txt``; a language without templates falls back to the default
(``PATRON_NOTIFY_DEFAULT_LANGUAGE``), then to English. Numbers and dates are
formatted with babel for the member's language.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from babel.dates import format_date
from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES = Path(__file__).parent / "templates"
LANGUAGES = tuple(sorted(path.name for path in TEMPLATES.iterdir() if path.is_dir()))
FALLBACK = "en"


@dataclass(frozen=True)
class Kind:
    name: str
    purpose: str
    """The consent purpose the message needs on its channel."""


KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    if kind.name in KINDS:
        raise ValueError(f"a notification kind named {kind.name!r} exists already")
    KINDS[kind.name] = kind
    return kind


POINTS_EARNED = register(Kind("points_earned", "service"))
POINTS_EXPIRING = register(Kind("points_expiring", "service"))
TIER_CHANGED = register(Kind("tier_changed", "marketing"))
REWARD_READY = register(Kind("reward_ready", "service"))
REWARD_REDEEMED = register(Kind("reward_redeemed", "service"))

_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=False,
                   undefined=StrictUndefined, keep_trailing_newline=False)


def language_of(attributes: dict[str, Any] | None, default: str) -> str:
    """The member's language (``language`` or ``locale`` in their attributes, ``fr-CA``
    counting as ``fr``) if templates exist for it, else ``default``, else English."""
    wanted = (attributes or {}).get("language") or (attributes or {}).get("locale")
    for candidate in (wanted, default):
        if isinstance(candidate, str) and candidate:
            short = candidate.replace("_", "-").split("-")[0].lower()
            if short in LANGUAGES:
                return short
    return FALLBACK


def points(value: int, language: str) -> str:
    return format_decimal(value, locale=language)


def day(value: date, language: str) -> str:
    return format_date(value, format="long", locale=language)


def render(kind: str, language: str, context: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) of a ``kind`` message in ``language``."""
    subject = _env.get_template(f"{language}/{kind}.subject.txt").render(context)
    body = _env.get_template(f"{language}/{kind}.body.txt").render(context)
    return " ".join(subject.strip().splitlines()), body.strip() + "\n"
