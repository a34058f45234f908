"""Listening to happenings (``patron.hooks``) for the length of one test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection

from patron import hooks


@contextmanager
def heard(kind: type, react: Callable[[Connection, Any], None] | None = None
          ) -> Iterator[list[Any]]:
    """Subscribe to ``kind`` inside the block; yields the happenings heard, in order.

    ``react(conn, happened)`` runs too, in the emitting transaction (to read what
    that transaction wrote, or to refuse it by raising).
    """
    got: list[Any] = []

    def listen(conn: Connection, happened: Any) -> None:
        got.append(happened)
        if react is not None:
            react(conn, happened)

    hooks.subscribe(kind, listen)
    try:
        yield got
    finally:
        hooks.unsubscribe(kind, listen)
