"""Connecting shops to a program, and finding the connection a webhook names."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron.errors import Conflict, InvalidInput, NotFound
from patron.shops import repository
from patron.shops.domain import ConnectedShop, Platform, normalise_shop
from patron.shops.platforms import platform as platform_named
from patron.shops.schemas import ShopConnection, ShopConnectionCreate, ShopConnectionCreated

WEBHOOK_PATH = "/api/v1/shops/{platform}/{id}"


class ShopConnectionNotFound(NotFound):
    code = "shop_connection_not_found"
    title = "Shop connection not found"


class ShopAlreadyConnected(Conflict):
    code = "shop_already_connected"
    title = "Shop already connected"


class ShopSecretRequired(InvalidInput):
    code = "shop_secret_required"
    title = "The shop's signing secret is required"


def _out(row: Any) -> ShopConnection:
    return ShopConnection(id=row.id, platform=row.platform, shop=row.shop, channel=row.channel,
                          store_id=row.store_id or row.shop, created_at=row.created_at,
                          webhook_path=WEBHOOK_PATH.format(platform=row.platform, id=row.id),
                          topics=sorted(platform_named(row.platform).topics))


def connect(conn: Connection, program_id: int, payload: ShopConnectionCreate,
            now: datetime) -> ShopConnectionCreated:
    """Connect a shop; a shop connected before and removed is connected again (same id,
    the new secret). 409 ``shop_already_connected`` while it is connected."""
    chosen = platform_named(payload.platform)
    shop = normalise_shop(payload.shop)
    if payload.secret is None and chosen.secret_from_shop:
        raise ShopSecretRequired(f"{chosen.title} issues the secret its webhooks are signed "
                                 "with: give it as secret", field="secret")
    secret = payload.secret or secrets.token_urlsafe(32)
    values = dict(secret=secret, channel=payload.channel, store_id=payload.store_id)
    found = repository.connection_of_shop(conn, program_id, chosen.name, shop)
    if found is not None and found.removed_at is None:
        raise ShopAlreadyConnected(f"{chosen.title} shop {shop} is connected already "
                                   f"(connection {found.id}); remove it to connect it again",
                                   connection_id=found.id)
    if found is not None:
        repository.reconnect(conn, found.id, {**values, "created_at": now})
        connection_id = found.id
    else:
        connection_id = repository.insert_connection(conn, dict(
            program_id=program_id, platform=chosen.name, shop=shop, created_at=now, **values))
    made = _out(repository.connection_row(conn, connection_id))
    return ShopConnectionCreated(**made.model_dump(),
                                 secret=None if payload.secret else secret)


def list_connections(conn: Connection, program_id: int) -> list[ShopConnection]:
    return [_out(row) for row in repository.active_connections(conn, program_id)]


def remove(conn: Connection, program_id: int, connection_id: int, now: datetime) -> None:
    """Stop taking the shop's webhooks (they answer 404 from now on); removing a removed
    connection again changes nothing."""
    row = repository.connection_row(conn, connection_id)
    if row is None or row.program_id != program_id:
        raise ShopConnectionNotFound(f"no shop connection {connection_id} in this program",
                                     connection_id=connection_id)
    repository.remove_connection(conn, connection_id, now)


@dataclass(frozen=True)
class Receiving:
    """A connection a webhook names, with what verifying and recording it need."""

    platform: Platform
    shop: ConnectedShop
    secret: str
    program_id: int


def receiving(conn: Connection, platform_name: str, connection_id: int | None) -> Receiving:
    """The connection at a webhook path: 404 ``shop_connection_not_found`` for an id that
    names none, a removed one, or one of another platform."""
    row = repository.connection_row(conn, connection_id) if connection_id else None
    if row is None or row.removed_at is not None or row.platform != platform_name:
        raise ShopConnectionNotFound(f"no {platform_name[:40]} shop connection at this "
                                     "path (removed, or never made)")
    return Receiving(platform_named(row.platform),
                     ConnectedShop(row.id, row.platform, row.shop, row.channel,
                                   row.store_id or row.shop),
                     row.secret, row.program_id)
