"""Recommendations, offline: do they predict what members buy next, and how fast are they?

A generated shop with known preferences: ``--tastes`` taste profiles, each
favouring a handful of the ``--categories`` categories (plus a share of every
member's buying that follows the shop-wide best sellers), each category with its
SKUs (a few sell most). Every member mixes one or two profiles (Dirichlet), buys
orders of 1-4 lines through the year from that mix, and the orders are loaded
into a fresh Patron database straight through the driver.

Time-ordered split: Patron trains (``jobs.train_program``, the same path as
``patron recommendations train``) on the orders before the day by which
``--train-share`` of them were placed, and each member's stored top 10
categories and top 10 products are scored against what the member bought from
that day on: precision@10 (share of the 10 bought later) and recall@10 (share of
what was bought later that is among the 10), over members who bought in both
periods. Beside each algorithm, in the same run:

- **popularity**: the 10 categories (products) most members bought before the
  split, the same list for everyone, the answer without a model;
- **true tastes** (categories): the 10 categories each member's own mix favours,
  the best any model of this data could hope for;
- **raw fit**: ``implicit`` alone on the same matrix in memory (fit and a top-10
  per member in NumPy), beside Patron's whole training (read, fit, rewards
  eligibility, ranking, reasons, rows written).

Then ``GET /members/{id}/recommendations`` served by ``patron serve`` (one worker)
is timed for ``--requests`` random members one after another, beside a plain
member endpoint of the same server (``GET /members/{id}/tags``: the cost of HTTP,
the key check and the audit context alone), the same read in process, and the
endpoint's ``SELECT`` sent straight through the driver.

    .venv/bin/python benchmarks/recommendations.py                 # 20,000 members, SQLite
    .venv/bin/python benchmarks/recommendations.py --members 50000 --db postgresql
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (Scratch, patron_server, percentile, pg_server_default,  # noqa: E402
                     scratch_database)
from patron.auth.service import Role, create_key  # noqa: E402
from patron.db import create_database  # noqa: E402
from patron.db.migrate import upgrade  # noqa: E402
from patron.program.domain import ProgramSettings  # noqa: E402
from patron.program.service import create_program, get_program  # noqa: E402
from patron.recommendations import jobs, model, service  # noqa: E402
from patron.recommendations.model import Parameters  # noqa: E402
from patron.recommendations.tables import recommendations  # noqa: E402

console = Console(width=120)
NOW = datetime(2026, 3, 1, tzinfo=UTC)
TOP = 10


# --------------------------------------------------------------------------- the shop

def generate(args: argparse.Namespace) -> dict[str, Any]:
    """Members' tastes and their orders: (member, day, [(category, sku), ...])."""
    rng = np.random.default_rng(args.seed)
    c, k = args.categories, args.tastes
    best_sellers = 1.0 / np.arange(1, c + 1) ** 0.8
    best_sellers /= best_sellers.sum()
    profiles = np.zeros((k, c))
    for profile in profiles:
        favourites = rng.choice(c, args.favourites, replace=False)
        profile[favourites] = rng.gamma(1.0, 1.0, args.favourites)
        profile /= profile.sum()
    mix = rng.dirichlet(np.full(k, 0.3), size=args.members)
    tastes = (1 - args.best_seller_share) * (mix @ profiles) + args.best_seller_share * best_sellers
    sku_share = rng.dirichlet(np.full(args.skus, 0.6), size=c)
    orders_per_member = 1 + rng.poisson(rng.gamma(1.5, args.orders / 1.5, args.members))
    orders: list[tuple[int, float, list[tuple[int, int]]]] = []
    for member in range(args.members):
        n = orders_per_member[member]
        days = rng.uniform(0, 365, n)
        lines = rng.integers(1, 5, n)
        cats = rng.choice(c, int(lines.sum()), p=tastes[member])
        at = 0
        for day, count in zip(days, lines):
            chosen = cats[at:at + count]
            at += count
            orders.append((member + 1, float(day), [
                (int(cat), int(rng.choice(args.skus, p=sku_share[cat]))) for cat in chosen]))
    return {"tastes": tastes, "orders": orders}


def category_name(n: int) -> str:
    return f"cat-{n:03d}"


def sku_name(category: int, n: int) -> str:
    return f"sku-{category:03d}-{n:02d}"


COLUMNS = {
    "members": "id, program_id, status, attributes, consents, created_at, updated_at",
    "events": "id, program_id, external_id, type, member_id, occurred_at, received_at, data, "
              "outcome",
    "orders": "id, program_id, order_id, member_id, event_id, channel, currency, total, "
              "occurred_at",
    "order_lines": "id, order_pk, line_no, sku, category, quantity, amount",
}


def rows_of(shop: dict[str, Any], members: int, program_id: int,
            start: datetime) -> dict[str, list[tuple[Any, ...]]]:
    rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in COLUMNS}
    for member in range(1, members + 1):
        rows["members"].append((member, program_id, "active", "{}", "{}", start, start))
    line_id = 0
    for order_id, (member, day, lines) in enumerate(shop["orders"], start=1):
        at = start + timedelta(days=day)
        rows["events"].append((order_id, program_id, f"e{order_id}", "purchase", member, at,
                               at, "{}", "{}"))
        rows["orders"].append((order_id, program_id, f"o{order_id}", member, order_id, "web",
                               "USD", 1000 * len(lines), at))
        for line_no, (cat, sku) in enumerate(lines):
            line_id += 1
            rows["order_lines"].append((line_id, order_id, line_no, sku_name(cat, sku),
                                        category_name(cat), 1, 1000))
    return rows


def load(scratch: Scratch, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    conn = scratch.connect()
    if scratch.name == "sqlite":
        conn.execute("BEGIN")
        for table, items in rows.items():
            marks = ", ".join("?" * len(items[0]))
            conn.executemany(f"INSERT INTO {table} ({COLUMNS[table]}) VALUES ({marks})",
                             [tuple(v.replace(tzinfo=None).isoformat(sep=" ")
                                    if isinstance(v, datetime) else v for v in row)
                              for row in items])
        conn.execute("COMMIT")
    else:
        with conn.cursor() as cur:
            for table, items in rows.items():
                with cur.copy(f"COPY {table} ({COLUMNS[table]}) FROM STDIN") as copy:
                    for row in items:
                        copy.write_row(row)
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT max(id) FROM {table}))")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    conn.close()


# --------------------------------------------------------------------------- scoring

def split(shop: dict[str, Any], train_share: float) -> tuple[float, dict[int, set[str]],
                                                             dict[int, set[str]]]:
    """The split day, and what each member bought from it on (categories, products)."""
    days = sorted(day for _, day, _ in shop["orders"])
    cut = days[int(len(days) * train_share)]
    before = {member for member, day, _ in shop["orders"] if day < cut}
    later_cats: dict[int, set[str]] = {}
    later_skus: dict[int, set[str]] = {}
    for member, day, lines in shop["orders"]:
        if day >= cut and member in before:
            later_cats.setdefault(member, set()).update(category_name(c) for c, _ in lines)
            later_skus.setdefault(member, set()).update(sku_name(c, s) for c, s in lines)
    return cut, later_cats, later_skus


def precision_recall(lists: dict[int, list[str]], truth: dict[int, set[str]]
                     ) -> tuple[float, float]:
    p = r = 0.0
    for member, bought in truth.items():
        hits = len(set(lists.get(member, [])[:TOP]) & bought)
        p += hits / TOP
        r += hits / len(bought)
    return p / len(truth), r / len(truth)


def popular_lists(shop: dict[str, Any], cut: float) -> tuple[list[str], list[str]]:
    cats: dict[str, set[int]] = {}
    skus: dict[str, set[int]] = {}
    for member, day, lines in shop["orders"]:
        if day < cut:
            for c, s in lines:
                cats.setdefault(category_name(c), set()).add(member)
                skus.setdefault(sku_name(c, s), set()).add(member)
    top = lambda found: [k for k, _ in sorted(found.items(),  # noqa: E731
                                              key=lambda kv: (-len(kv[1]), kv[0]))[:TOP]]
    return top(cats), top(skus)


def stored_lists(db: Any, program_id: int, kind: str) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    rows = db.read(lambda conn: conn.execute(
        select(recommendations.c.member_id, recommendations.c.item)
        .where(recommendations.c.program_id == program_id, recommendations.c.kind == kind,
               recommendations.c.member_id.is_not(None))
        .order_by(recommendations.c.member_id, recommendations.c.rank)).all())
    for member, item in rows:
        found.setdefault(member, []).append(item)
    return found


def raw_fit(shop: dict[str, Any], cut: float, parameters: Parameters) -> float:
    """``implicit`` alone: the same matrix built in memory, fitted, a top 10 per member."""
    cells: dict[tuple[int, str], int] = {}
    for member, day, lines in shop["orders"]:
        if day < cut:
            for item in {category_name(c) for c, _ in lines} | {sku_name(c, s)
                                                              for c, s in lines}:
                cells[(member, item)] = cells.get((member, item), 0) + 1
    began = time.perf_counter()
    history = model.History.from_rows([(m, "category" if i.startswith("cat") else "product",
                                        i, n) for (m, i), n in cells.items()])
    fitted = model.fit(history, parameters)
    with threadpool_limits(limits=parameters.threads):
        rows = np.arange(len(history.member_ids))
        for start in range(0, len(rows), 2000):
            scores = fitted.scores(rows[start:start + 2000])
            np.argpartition(-scores, TOP, axis=1)[:, :TOP]
    return time.perf_counter() - began


# --------------------------------------------------------------------------- serving

RAW_SELECT = """
SELECT m.status, rm.id, rm.program_version, rm.trained_at, rm.algorithm, r.kind, r.item,
       r.rank, r.score, r.source, r.reason, s.stock, s.redeemed, s.remaining
FROM members m
LEFT JOIN recommendation_models rm ON rm.program_id = m.program_id AND rm.status = 'ready'
LEFT JOIN recommendations r ON r.model_id = rm.id AND r.member_id = m.id
LEFT JOIN reward_stock s ON r.kind = 'reward' AND s.program_id = r.program_id
                        AND s.reward_id = r.item
WHERE m.program_id = {mark} AND m.id = {mark} ORDER BY r.kind, r.rank
"""


def serve(scratch: Scratch, db: Any, program_id: int, members: list[int]) -> dict[str, list[float]]:
    """Milliseconds per member: over HTTP (``patron serve``), the same read in process
    (``service.member_recommendations``), and the raw ``SELECT`` through the driver."""
    key = db.transact(lambda conn: create_key(conn, program_id=program_id, role=Role.ANALYST,
                                              name="bench", now=datetime.now(UTC))).key
    times: dict[str, list[float]] = {"http": [], "http: GET /members/{id}/tags": [],
                                     "service": [], "raw SQL": []}
    with patron_server(scratch.url) as base, httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        for member in members[:20]:  # warm up
            client.get(f"/api/v1/members/{member}/recommendations")
        for member in members:
            for name, path in (("http", "recommendations"),
                               ("http: GET /members/{id}/tags", "tags")):
                began = time.perf_counter()
                answer = client.get(f"/api/v1/members/{member}/{path}")
                times[name].append((time.perf_counter() - began) * 1000)
                assert answer.status_code == 200, answer.text
    program = db.read(lambda conn: get_program(conn, program_id))
    for member in members:
        began = time.perf_counter()
        db.read(lambda conn, m=member: service.member_recommendations(conn, program, m, NOW,
                                                                      TOP))
        times["service"].append((time.perf_counter() - began) * 1000)
    conn = scratch.connect()
    statement = RAW_SELECT.format(mark="?" if scratch.name == "sqlite" else "%s")
    for member in members:
        began = time.perf_counter()
        cursor = conn.cursor()
        cursor.execute(statement, (program_id, member))
        cursor.fetchall()
        times["raw SQL"].append((time.perf_counter() - began) * 1000)
        if scratch.name != "sqlite":
            conn.rollback()
    conn.close()
    return times


# --------------------------------------------------------------------------- the run

def run(args: argparse.Namespace) -> dict[str, Any]:
    shop = generate(args)
    cut, later_cats, later_skus = split(shop, args.train_share)
    start = NOW - timedelta(days=365)
    until = start + timedelta(days=cut)
    popular_cats, popular_skus = popular_lists(shop, cut)
    tastes = shop["tastes"]
    true_tastes = {m: [category_name(int(c)) for c in np.argsort(-tastes[m - 1])[:TOP]]
                   for m in later_cats}
    result: dict[str, Any] = {
        "members": args.members, "orders": len(shop["orders"]),
        "lines": sum(len(lines) for _, _, lines in shop["orders"]),
        "evaluated_members": len(later_cats), "categories": args.categories,
        "products": args.categories * args.skus, "rows": {}, "train_s": {}, "raw_fit_s": {},
        "categories_at_10": {"popularity": precision_recall(
            {m: popular_cats for m in later_cats}, later_cats),
            "true tastes": precision_recall(true_tastes, later_cats)},
        "products_at_10": {"popularity": precision_recall(
            {m: popular_skus for m in later_skus}, later_skus)}}
    with scratch_database(args.db, args.pg_url) as scratch:
        db = create_database(scratch.url)
        upgrade(db)
        program = db.transact(lambda conn: create_program(
            conn, slug="bench", name="Bench", settings=ProgramSettings(), now=start))
        began = time.perf_counter()
        load(scratch, rows_of(shop, args.members, program.id, start))
        console.print(f"[dim]{args.db}: loaded {args.members:,} members, "
                      f"{result['orders']:,} orders in {time.perf_counter() - began:.1f} s[/dim]")
        for algorithm in args.algorithms:  # the last one stays trained, for serving
            parameters = Parameters(algorithm=algorithm, seed=args.seed)
            profiler = cProfile.Profile() if args.profile else None
            cpu = time.process_time()
            if profiler:
                profiler.enable()
            done = jobs.train_program(db, program.id, NOW, parameters, until=until)
            if profiler:
                profiler.disable()
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
            result.setdefault("train_cpu_s", {})[algorithm] = time.process_time() - cpu
            result["train_s"][algorithm] = done.seconds
            result["rows"][algorithm] = done.rows
            result["raw_fit_s"][algorithm] = raw_fit(shop, cut, parameters)
            result["categories_at_10"][algorithm] = precision_recall(
                stored_lists(db, program.id, "category"), later_cats)
            result["products_at_10"][algorithm] = precision_recall(
                stored_lists(db, program.id, "product"), later_skus)
            console.print(f"[dim]{algorithm}: trained in {done.seconds:.1f} s[/dim]")
        sample = random.Random(args.seed).sample(range(1, args.members + 1),
                                                 min(args.requests, args.members))
        result["latency_ms"] = serve(scratch, db, program.id, sample)
        db.dispose()
    return result


def report(result: dict[str, Any], args: argparse.Namespace) -> None:
    console.print(f"[bold]{result['members']:,} members, {result['orders']:,} orders "
                  f"({result['lines']:,} lines), {result['categories']} categories, "
                  f"{result['products']:,} products; trained on the first "
                  f"{args.train_share:.0%} of orders, scored on "
                  f"{result['evaluated_members']:,} members who bought after[/bold]")
    table = Table("list", "precision@10", "recall@10", "vs popularity (precision)",
                  title="what members bought next")
    for kind in ("categories_at_10", "products_at_10"):
        base = result[kind]["popularity"][0]
        for name, (p, r) in result[kind].items():
            table.add_row(f"{kind.split('_')[0]}: {name}", f"{p:.4f}", f"{r:.4f}",
                          f"{p / base:.2f}x" if base else "-")
    console.print(table)
    timing = Table("algorithm", "Patron train s", "its CPU s", "raw implicit fit + top 10 s",
                   "rows stored", title="training")
    for algorithm, seconds in result["train_s"].items():
        timing.add_row(algorithm, f"{seconds:.2f}", f"{result['train_cpu_s'][algorithm]:.2f}",
                       f"{result['raw_fit_s'][algorithm]:.2f}", f"{result['rows'][algorithm]:,}")
    timing.caption = f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    console.print(timing)
    serving = Table("read", "p50 ms", "p99 ms", "requests",
                    title=f"GET /members/{{id}}/recommendations ({args.db}, "
                          f"{args.algorithms[-1]})")
    for name, values in result["latency_ms"].items():
        serving.add_row(name, f"{percentile(values, 0.5):.2f}", f"{percentile(values, 0.99):.2f}",
                        f"{len(values):,}")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    serving.caption = f"load average {load} ({os.cpu_count()} CPUs)"
    console.print(serving)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--categories", type=int, default=60)
    parser.add_argument("--skus", type=int, default=10, help="SKUs per category")
    parser.add_argument("--tastes", type=int, default=10, help="Taste profiles")
    parser.add_argument("--favourites", type=int, default=6,
                        help="Categories each taste profile favours")
    parser.add_argument("--best-seller-share", type=float, default=0.2,
                        help="Share of buying that follows the shop-wide best sellers")
    parser.add_argument("--orders", type=float, default=8, help="Mean orders per member")
    parser.add_argument("--train-share", type=float, default=0.75)
    parser.add_argument("--algorithms", nargs="+", default=["als", "bm25", "cosine"],
                        choices=sorted(model.ALGORITHMS))
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default=pg_server_default())
    parser.add_argument("--profile", action="store_true",
                        help="Print cProfile's top entries of each training")
    parser.add_argument("--json", action="store_true", help="Print the results as JSON too")
    args = parser.parse_args()
    result = run(args)
    report(result, args)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "latency_ms"}, indent=2))


if __name__ == "__main__":
    main()
