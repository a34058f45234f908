"""Queries behind recommendations: members' histories, models and their rows.

The history is summarised by the database, one row per member and item: orders
that held a category or a product, standing (not cancelled) redemptions of a
reward. Members merged into another are left out (their orders moved to the
survivor with the merge).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, literal, select, update

from patron.db.engine import chunks, insert_rows, one_of
from patron.events.tables import order_lines, orders
from patron.members.tables import members
from patron.recommendations.tables import (recommendation_models, recommendation_segments,
                                           recommendations)
from patron.rewards.tables import redemptions, reward_stock

READY = "ready"
TRAINING = "training"


def history_rows(conn: Connection, program_id: int, until: datetime | None
                 ) -> list[tuple[int, str, str, int]]:
    """``(member_id, kind, key, count)`` of every member's purchases and redemptions
    before ``until`` (all of them without it)."""
    kept = and_(members.c.id == orders.c.member_id, members.c.merged_into.is_(None))
    lines = (select(orders.c.member_id, order_lines.c.category, order_lines.c.sku,
                    orders.c.id.label("order_pk"))
             .select_from(order_lines.join(orders, orders.c.id == order_lines.c.order_pk)
                          .join(members, kept))
             .where(orders.c.program_id == program_id))
    if until is not None:
        lines = lines.where(orders.c.occurred_at < until)
    bought = lines.subquery()
    found: list[tuple[int, str, str, int]] = []
    for kind, column in (("category", bought.c.category), ("product", bought.c.sku)):
        found += _plain_rows(conn, select(bought.c.member_id, literal(kind), column,
                                          func.count(func.distinct(bought.c.order_pk)))
                             .where(column.is_not(None)).group_by(bought.c.member_id, column))
    redeemed = (select(redemptions.c.member_id, literal("reward"), redemptions.c.reward_id,
                       func.count())
                .select_from(redemptions.join(members, and_(
                    members.c.id == redemptions.c.member_id, members.c.merged_into.is_(None))))
                .where(redemptions.c.program_id == program_id,
                       redemptions.c.status == "active")
                .group_by(redemptions.c.member_id, redemptions.c.reward_id))
    if until is not None:
        redeemed = redeemed.where(redemptions.c.created_at < until)
    found += _plain_rows(conn, redeemed)
    return found


def _plain_rows(conn: Connection, query: Any) -> list[Any]:
    """The driver's own tuples: these columns need no conversion, and millions of
    SQLAlchemy rows cost more than the query."""
    return conn.execute(query).cursor.fetchall()  # type: ignore[attr-defined]


def active_member_ids(conn: Connection, program_id: int) -> set[int]:
    """Members who may redeem: active (not blocked, closed, merged or a household's pool)."""
    return set(conn.execute(select(members.c.id).where(
        members.c.program_id == program_id, members.c.status == "active")).scalars())


# --------------------------------------------------------------------------- models

def start_model(conn: Connection, values: dict[str, Any]) -> int:
    """A new model in ``training`` state, after clearing what an unfinished training
    of the program left behind."""
    program_id = values["program_id"]
    unfinished = select(recommendation_models.c.id).where(
        recommendation_models.c.program_id == program_id,
        recommendation_models.c.status == TRAINING).scalar_subquery()
    conn.execute(delete(recommendations).where(recommendations.c.model_id.in_(unfinished)))
    conn.execute(delete(recommendation_models).where(
        recommendation_models.c.program_id == program_id,
        recommendation_models.c.status == TRAINING))
    return conn.execute(recommendation_models.insert().values(status=TRAINING, **values)
                        .returning(recommendation_models.c.id)).scalar_one()


def insert_recommendations(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 50_000):
        insert_rows(conn, recommendations, rows[start:start + 50_000])


def make_ready(conn: Connection, program_id: int, model_id: int) -> None:
    """The model becomes the program's one ready model; the one before goes, rows and all."""
    older = select(recommendation_models.c.id).where(
        recommendation_models.c.program_id == program_id,
        recommendation_models.c.id != model_id).scalar_subquery()
    conn.execute(delete(recommendations).where(recommendations.c.model_id.in_(older)))
    conn.execute(delete(recommendation_models).where(
        recommendation_models.c.program_id == program_id,
        recommendation_models.c.id != model_id))
    conn.execute(update(recommendation_models).where(recommendation_models.c.id == model_id)
                 .values(status=READY))


def ready_model(conn: Connection, program_id: int, *, with_blob: bool = False) -> Any:
    columns = [c for c in recommendation_models.c if with_blob or c.name != "model"]
    return conn.execute(select(*columns).where(
        recommendation_models.c.program_id == program_id,
        recommendation_models.c.status == READY)).first()


# --------------------------------------------------------------------------- serving

_ROW_COLUMNS = (recommendations.c.kind, recommendations.c.item, recommendations.c.rank,
                recommendations.c.score, recommendations.c.source, recommendations.c.reason,
                reward_stock.c.stock, reward_stock.c.redeemed, reward_stock.c.remaining)
_STOCK = and_(recommendations.c.kind == "reward",
              reward_stock.c.program_id == recommendations.c.program_id,
              reward_stock.c.reward_id == recommendations.c.item)


def member_rows(conn: Connection, program_id: int, member_id: int) -> list[Any]:
    """In one statement: the member's status (no row at all: no such member), the ready
    model (its id, version and training time; None before the first training) and the
    member's stored items with their reward's stock row, by kind and rank."""
    model = recommendation_models.alias("model")
    query = (select(members.c.status.label("member_status"), model.c.id.label("model_id"),
                    model.c.program_version, model.c.trained_at, model.c.algorithm,
                    *_ROW_COLUMNS)
             .select_from(members.outerjoin(model, and_(
                 model.c.program_id == members.c.program_id, model.c.status == READY))
                 .outerjoin(recommendations, and_(recommendations.c.model_id == model.c.id,
                                                  recommendations.c.member_id == members.c.id))
                 .outerjoin(reward_stock, _STOCK))
             .where(members.c.program_id == program_id, members.c.id == member_id)
             .order_by(recommendations.c.kind, recommendations.c.rank))
    return list(conn.execute(query))


_KINDS = {"category": "categories", "product": "products", "reward": "rewards"}


def recommended_lists(conn: Connection, program_id: int, member_ids: Collection[int]
                      ) -> dict[int, dict[str, tuple[str, ...]]]:
    """Some members' own lists of the ready model, as conditions read them
    (``member.recommended``): one statement for a batch."""
    model = select(recommendation_models.c.id).where(
        recommendation_models.c.program_id == program_id,
        recommendation_models.c.status == READY).scalar_subquery()
    r = recommendations.c
    found: dict[int, dict[str, list[str]]] = {}
    for chunk in chunks(sorted(set(member_ids))):
        for row in conn.execute(select(r.member_id, r.kind, r.item).where(
                r.model_id == model, one_of(conn, r.member_id, chunk))
                .order_by(r.member_id, r.kind, r.rank)):
            found.setdefault(row.member_id, {}).setdefault(_KINDS[row.kind], []).append(row.item)
    return {m: {k: tuple(v) for k, v in lists.items()} for m, lists in found.items()}


def popular_rows(conn: Connection, program_id: int, model_id: int) -> list[Any]:
    """The program's popular items under the model, for a member it has no list for."""
    return list(conn.execute(
        select(*_ROW_COLUMNS).select_from(recommendations.outerjoin(reward_stock, _STOCK))
        .where(recommendations.c.model_id == model_id, recommendations.c.member_id.is_(None))
        .order_by(recommendations.c.kind, recommendations.c.rank)))


def stored_rewards(conn: Connection, member_id: int) -> list[str]:
    """The rewards on the member's stored lists (any model)."""
    return list(conn.execute(select(recommendations.c.item).distinct().where(
        recommendations.c.member_id == member_id,
        recommendations.c.kind == "reward")).scalars())


def drop_rewards(conn: Connection, member_id: int, reward_ids: Sequence[str]) -> None:
    if reward_ids:
        conn.execute(delete(recommendations).where(
            recommendations.c.member_id == member_id, recommendations.c.kind == "reward",
            recommendations.c.item.in_(list(reward_ids))))


def likely_members(conn: Connection, program_id: int, kind: str, item: str, top: int
                   ) -> list[int]:
    """Active members whose list (of the ready model) has the item as the model's pick,
    strongest score first (ties by member id)."""
    model = select(recommendation_models.c.id).where(
        recommendation_models.c.program_id == program_id,
        recommendation_models.c.status == READY).scalar_subquery()
    return list(conn.execute(
        select(recommendations.c.member_id)
        .join(members, members.c.id == recommendations.c.member_id)
        .where(recommendations.c.program_id == program_id, recommendations.c.kind == kind,
               recommendations.c.item == item, recommendations.c.model_id == model,
               recommendations.c.source == "model", members.c.status == "active")
        .order_by(recommendations.c.score.desc(), recommendations.c.member_id)
        .limit(top)).scalars())


# --------------------------------------------------------------------------- segment recipes

def recipe(conn: Connection, program_id: int, key: str) -> Any:
    return conn.execute(select(recommendation_segments).where(
        recommendation_segments.c.program_id == program_id,
        recommendation_segments.c.segment_key == key)).first()


def recipes(conn: Connection, program_id: int) -> list[Any]:
    return list(conn.execute(select(recommendation_segments).where(
        recommendation_segments.c.program_id == program_id)
        .order_by(recommendation_segments.c.segment_key)))


def save_recipe(conn: Connection, values: dict[str, Any]) -> None:
    found = recipe(conn, values["program_id"], values["segment_key"])
    if found is None:
        conn.execute(recommendation_segments.insert().values(**values))
    else:
        conn.execute(update(recommendation_segments)
                     .where(recommendation_segments.c.id == found.id)
                     .values(kind=values["kind"], item=values["item"], top=values["top"]))
