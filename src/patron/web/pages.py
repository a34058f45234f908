"""Rendering a console page: the templates, their filters, and what every page is given."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")


def number(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def money(minor: int, currency: str, exponent: int) -> str:
    """Integer minor units as an amount: ``money(123456, "EUR", 2)`` → ``1,234.56 EUR``."""
    amount = Decimal(minor).scaleb(-exponent)
    return f"{amount:,.{exponent}f} {currency}"


def when(value: datetime | None) -> str:
    return "–" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def signed(value: int) -> str:
    return f"{value:+,}"


TEMPLATES.env.filters.update(number=number, money=money, when=when, signed=signed)


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """The page, with who is signed in (if anyone) and their CSRF token."""
    session = getattr(request.state, "staff", None)
    context.setdefault("staff", session)
    context.setdefault("csrf", session.csrf_token if session else None)
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status)
