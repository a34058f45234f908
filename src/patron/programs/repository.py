from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from patron.programs.tables import programs


def insert_program(conn: Connection, *, slug: str, name: str, settings: dict[str, Any],
                   now: datetime) -> int:
    return conn.execute(insert(programs).values(slug=slug, name=name, settings=settings,
                                                created_at=now).returning(programs.c.id)).scalar_one()


def program_by_slug(conn: Connection, slug: str) -> Any:
    return conn.execute(select(programs).where(programs.c.slug == slug)).first()


def program_by_id(conn: Connection, program_id: int) -> Any:
    return conn.execute(select(programs).where(programs.c.id == program_id)).first()
