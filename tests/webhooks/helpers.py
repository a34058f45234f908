"""Endpoints, members and points for the webhook tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from patron.db import Database
from patron.flows.enrolment import create_member
from patron.ledger.service import adjust_points
from patron.program.service import Program
from patron.webhooks import service
from patron.webhooks.schemas import EndpointCreate, EndpointCreated
from patron.webhooks.tables import webhook_attempts, webhook_messages
from tests.factories import member_create

NOWHERE = "http://127.0.0.1:9/hooks"
"""Nothing listens on port 9 (discard): a connection there is refused."""


def subscribe(db: Database, program: Program, clock: Any, url: str = NOWHERE,
              types: Sequence[str] = ("points.earned",), **fields: Any) -> EndpointCreated:
    payload = EndpointCreate(url=url, event_types=list(types), **fields)
    return db.transact(lambda conn: service.create_endpoint(conn, program, payload, clock.now()))


def new_member(db: Database, program: Program, clock: Any) -> int:
    return db.transact(lambda conn: create_member(conn, program, member_create(),
                                                  clock.now())).id


def earn(db: Database, program: Program, clock: Any, member_id: int, points: int,
         key: str) -> None:
    db.transact(lambda conn: adjust_points(conn, program, member_id, points=points,
                                           reason="goodwill", key=key, actor="test",
                                           now=clock.now()))


def messages(db: Database, program: Program) -> list[Any]:
    return list(db.read(lambda conn: conn.execute(
        select(webhook_messages).where(webhook_messages.c.program_id == program.id)
        .order_by(webhook_messages.c.id)).all()))


def bodies(db: Database, program: Program) -> list[dict[str, Any]]:
    return [json.loads(row.payload) for row in messages(db, program)]


def attempts(db: Database, message_id: int) -> list[Any]:
    return list(db.read(lambda conn: conn.execute(
        select(webhook_attempts).where(webhook_attempts.c.message_id == message_id)
        .order_by(webhook_attempts.c.id)).all()))
