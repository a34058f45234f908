"""Earning storage: awards, limit and budget counters, returned lines."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (BigInteger, Connection, String, bindparam, func, literal, null, select,
                        union_all)
from sqlalchemy.dialects import postgresql, sqlite

from patron.db.engine import (DIALECTS, chunks, insert_rows, one_of, one_of_param,
                              one_of_rows, probe_each)
from patron.earning.tables import (awards, order_refunds, order_returns, rule_budgets,
                                   rule_usage)
from patron.events.tables import events, order_lines, orders
from patron.ledger.holdings import Holding, locked_holdings
from patron.members.tables import members
from patron.program.service import Program
from patron.wallet.tables import cashback_awards



def _upsert(conn: Connection, table: Any) -> Any:
    return (postgresql.insert(table) if conn.dialect.name == "postgresql"
            else sqlite.insert(table))


def lock_accounts(conn: Connection, program: Program,
                  member_ids: Iterable[int]) -> dict[int, Holding]:
    """Lock the members' accounts in id order, then their households' pools: limits,
    counts and returns read under it. Returns where each member's points are held, which
    the batch's earns write to (read once, as it was locked).

    SQLite needs no lock: ``BEGIN IMMEDIATE`` already serialises writers.
    """
    return locked_holdings(conn, program, member_ids)


def _member_rows(dialect: str, few: int = 0) -> Any:
    # each member looked up by its key (``probe_each``): with the members table not
    # analysed yet (an import's), PostgreSQL compared every member with every id
    return probe_each(dialect, select(
        members.c.id, members.c.status, members.c.birthdate, members.c.region,
        members.c.join_channel, members.c.attributes), members.c.id, "ids", few,
        scope=members.c.program_id == bindparam("program_id"))


def _event_counts(dialect: str, few: int = 0) -> Any:
    return (select(events.c.member_id, events.c.type, func.count())
            .where(one_of_param(dialect, events.c.member_id, "ids", few))
            .group_by(events.c.member_id, events.c.type))


_MEMBER_ROWS = {dialect: _member_rows(dialect) for dialect in DIALECTS}
_ONE_MEMBERS_ROW = {1: _member_rows("postgresql", 1)}
_EVENT_COUNTS = {dialect: _event_counts(dialect) for dialect in DIALECTS}
_ONE_MEMBERS_COUNTS = {1: _event_counts("postgresql", 1)}
"""A single event's member goes through statements of its own (``one_of_rows``): with
the array form PostgreSQL planned the counts anew on every run."""


def member_rows(conn: Connection, program_id: int, member_ids: Iterable[int]) -> list[Any]:
    """What rules read of the members (profile), with their ``status``: an ingest reads
    both at once (who may earn, and what conditions see)."""
    return list(one_of_rows(conn, _MEMBER_ROWS[conn.dialect.name], _ONE_MEMBERS_ROW, "ids",
                            list(set(member_ids)), program_id=program_id))


def event_counts(conn: Connection, program_id: int, member_ids: Iterable[int]
                 ) -> dict[int, dict[str, int]]:
    """How many events of each type each member has had."""
    counts: dict[int, dict[str, int]] = {}
    for member_id, kind, n in one_of_rows(conn, _EVENT_COUNTS[conn.dialect.name],
                                          _ONE_MEMBERS_COUNTS, "ids", list(set(member_ids))):
        counts.setdefault(member_id, {})[kind] = n
    return counts


def _usage_query(dialect: str) -> Any:
    return select(rule_usage.c.member_id, rule_usage.c.rule_id, rule_usage.c.period,
                  rule_usage.c.points, rule_usage.c.awards).where(
        one_of_param(dialect, rule_usage.c.member_id, "ids"),
        rule_usage.c.rule_id.in_(bindparam("rules", expanding=True)),
        rule_usage.c.period.in_(bindparam("periods", expanding=True)))


_BUDGETS = (select(null().cast(BigInteger).label("member_id"), rule_budgets.c.rule_id,
                   null().cast(String).label("period"), rule_budgets.c.used.label("points"),
                   literal(0, BigInteger).label("awards"))
            .where(rule_budgets.c.program_id == bindparam("program_id"),
                   rule_budgets.c.rule_id.in_(bindparam("budgeted", expanding=True))))
_USAGE = {dialect: _usage_query(dialect) for dialect in DIALECTS}
_USAGE_AND_BUDGETS = {dialect: union_all(_usage_query(dialect), _BUDGETS)
                      for dialect in DIALECTS}
"""Built once: a statement run per event costs more Python to build than to run."""


def usage_and_budgets(conn: Connection, program_id: int, member_ids: Iterable[int],
                      rule_ids: Iterable[str], periods: Iterable[str],
                      budgeted: Iterable[str]
                      ) -> tuple[dict[tuple[int, str, str], list[int]], dict[str, int]]:
    """``(member, rule, period) -> [points, awards]`` of ``rule_ids`` in the periods asked,
    and ``budgets_used`` of the ``budgeted`` rules: read together, one statement for up to
    500 members."""
    rules, wanted, budget_rules = list(set(rule_ids)), list(set(periods)), sorted(set(budgeted))
    found: dict[tuple[int, str, str], list[int]] = {}
    budgets = dict.fromkeys(budget_rules, 0)
    dialect = conn.dialect.name
    values = {"program_id": program_id, "rules": rules, "periods": wanted,
              "budgeted": budget_rules}
    queries = [(_USAGE_AND_BUDGETS[dialect] if budget_rules and not index else _USAGE[dialect],
                chunk) for index, chunk in enumerate(chunks(set(member_ids)) if rules and wanted
                                                      else ())]
    if budget_rules and not queries:
        queries = [(_BUDGETS, [])]
    for query, chunk in queries:
        for row in conn.execute(query, {**values, "ids": chunk}):
            if row.member_id is None:
                budgets[row.rule_id] = row.points
            else:
                found[(row.member_id, row.rule_id, row.period)] = [row.points, row.awards]
    return found, budgets


def add_usage(conn: Connection, program_id: int,
              increments: Mapping[tuple[int, str, str], Sequence[int]]) -> None:
    if not increments:
        return
    statement = _upsert(conn, rule_usage)
    statement = statement.on_conflict_do_update(
        index_elements=["member_id", "rule_id", "period"],
        set_={"points": rule_usage.c.points + statement.excluded.points,
              "awards": rule_usage.c.awards + statement.excluded.awards})
    conn.execute(statement, [
        dict(program_id=program_id, member_id=m, rule_id=r, period=p, points=v[0], awards=v[1])
        for (m, r, p), v in sorted(increments.items())])


def budgets_used(conn: Connection, program_id: int, rule_ids: Iterable[str]) -> dict[str, int]:
    """Points each budgeted rule has given so far (0 for one that gave none), read
    without a lock: ``add_budget`` tells whether it changed meanwhile."""
    rules = sorted(set(rule_ids))
    if not rules:
        return {}
    found = dict(conn.execute(select(rule_budgets.c.rule_id, rule_budgets.c.used).where(
        rule_budgets.c.program_id == program_id, rule_budgets.c.rule_id.in_(rules))).all())
    return {rule: found.get(rule, 0) for rule in rules}


def add_budget(conn: Connection, program_id: int,
               increments: Mapping[str, int]) -> dict[str, int]:
    """Add to what rules gave; returns each one's total after it. The rows stay locked
    until commit (taken in rule order, so two writers never wait in a circle)."""
    totals: dict[str, int] = {}
    for rule_id, points in sorted(increments.items()):
        statement = _upsert(conn, rule_budgets).values(program_id=program_id, rule_id=rule_id,
                                                       used=points)
        statement = statement.on_conflict_do_update(
            index_elements=["program_id", "rule_id"],
            set_={"used": rule_budgets.c.used + statement.excluded.used})
        totals[rule_id] = conn.execute(statement.returning(rule_budgets.c.used)).scalar_one()
    return totals


def insert_awards(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    insert_rows(conn, awards, rows)


def insert_cashback_awards(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    insert_rows(conn, cashback_awards, rows)


def cashback_of_event(conn: Connection, event_pk: int) -> list[Any]:
    return list(conn.execute(select(cashback_awards).where(cashback_awards.c.event_id == event_pk)
                             .order_by(cashback_awards.c.id)))


def order_for_return(conn: Connection, program_id: int, order_id: str) -> Any:
    """The order, locked: two returns of one order wait for each other."""
    query = select(orders).where(orders.c.program_id == program_id,
                                 orders.c.order_id == order_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).first()


def lines_of(conn: Connection, order_pk: int) -> list[Any]:
    return list(conn.execute(select(order_lines).where(order_lines.c.order_pk == order_pk)
                             .order_by(order_lines.c.line_no)))


def returned_quantities(conn: Connection, order_pk: int) -> dict[int, int]:
    return {index: int(n) for index, n in conn.execute(
        select(order_returns.c.line_index, func.sum(order_returns.c.quantity))
        .where(order_returns.c.order_pk == order_pk).group_by(order_returns.c.line_index))}


def refunded_amount(conn: Connection, order_pk: int) -> int:
    """The money refunded on the order so far by refunds that named no lines."""
    return int(conn.execute(select(func.coalesce(func.sum(order_refunds.c.amount), 0))
                            .where(order_refunds.c.order_pk == order_pk)).scalar_one())


def insert_refund(conn: Connection, row: dict[str, Any]) -> None:
    insert_rows(conn, order_refunds, [row])


def awards_of_event(conn: Connection, event_pk: int) -> list[Any]:
    return list(conn.execute(select(awards).where(awards.c.event_id == event_pk)
                             .order_by(awards.c.id)))


def insert_returns(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    insert_rows(conn, order_returns, rows)
