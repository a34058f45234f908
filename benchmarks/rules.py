"""Earn rules: what evaluating a program costs, beside the foundation's flat earn rate.

Evaluation (always run), in-process over one synthetic stream (purchases with 1-3
lines, reviews, check-ins, sign-ups, eco actions, shares, returns; see
``tests/program/benchmark.py``, which the simulator's speed test shares):

- the baseline: the foundation's flat rate (commit 0d5f28d), per purchase
  ``points_for_amount`` in Decimal plus the reason string with its babel-formatted
  total, exactly as ``events/domain.py`` did before the rule engine;
- ``evaluate()`` of the one-rule program ``create_program`` publishes by default
  (``base_spend``, 1 point per dollar) and of the 20-rule program;
- the ``Simulator`` replaying the raw events through the 20-rule program (it also
  parses timestamps, tracks counts, limits and budgets, and claws back returns).

Each event goes to ``evaluate()`` with its member as of just before it (counts,
profile, a gold tier for one member in ten) and no usage yet, so limits never
cap there; the simulator applies them. Each figure is the best of ``--repeat`` runs.

Ingest (``--ingest``): batch ``ingest()`` in-process with the one-rule and the
20-rule program, beside the raw batch writes of ``benchmarks/ingest.py``, on SQLite
and PostgreSQL. The foundation's flat-rate figures are shown for comparison.

    .venv/bin/python benchmarks/rules.py --events 200000
    .venv/bin/python benchmarks/rules.py --ingest --db postgresql --json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from babel.numbers import format_currency
from rich.console import Console
from rich.table import Table

from patron.ledger.domain import points_for_amount
from patron.program.domain import starter_document
from patron.program.compiled import compile_program
from patron.program.context import NO_USAGE, EventContext, MemberContext
from patron.program.document import ProgramDocument, Settings
from patron.program.engine import evaluate
from patron.program.simulate import Simulator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the shared workload
from tests.program.benchmark import events as event_stream  # noqa: E402
from tests.program.benchmark import profiles, twenty_rule_program  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
MEMBERS = 50_000
# Foundation (flat rate, before earn rules), batch of 1,000 in-process: Patron ev/s, raw ev/s.
FOUNDATION = {"sqlite": (2_060, 5_494), "postgresql": (1_901, 3_389)}
err = Console(stderr=True)


@dataclass
class Result:
    workload: str
    events: int
    seconds: float
    points: int
    database: str = ""
    reference: float | None = None  # what the ratio is taken against (ev/s)
    foundation: int | None = None

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def ratio(self) -> float | None:
        return self.per_second / self.reference if self.reference else None

    def summary(self) -> dict[str, Any]:
        ratio = self.ratio
        return {"database": self.database or None, "workload": self.workload,
                "events": self.events, "seconds": round(self.seconds, 3),
                "events_per_s": round(self.per_second, 1), "points": self.points,
                "ratio": None if ratio is None else round(ratio, 3),
                "foundation_events_per_s": self.foundation}


# --------------------------------------------------------------------------- evaluation

Case = tuple[EventContext, MemberContext]


def cases(raw_events: list[dict[str, Any]]) -> list[Case]:
    """The stream as ``evaluate()`` sees it: each event with its member just before it."""
    known = profiles(MEMBERS)
    counts: dict[str, dict[str, int]] = {}
    found: list[Case] = []
    for raw in raw_events:
        who = f"id:{raw['member']['id']}"
        seen = counts.setdefault(who, {})
        tier = "gold" if raw["member"]["id"] % 10 == 0 else None
        found.append((EventContext(raw["type"], datetime.fromisoformat(raw["occurred_at"]),
                                   raw["data"], raw["channel"], raw["id"]),
                      MemberContext(who, known[who], tier, dict(seen))))
        seen[raw["type"]] = seen.get(raw["type"], 0) + 1
    return found


def flat_rate(settings: Settings, rate: Decimal, order_id: str, total: int) -> tuple[int, str]:
    """The foundation's earn (``flat_rate_points`` and ``flat_rate_reason``)."""
    points = points_for_amount(total, settings.minor_exponent, rate, settings.rounding)
    if points <= 0:
        return 0, ""
    units = Decimal(total).scaleb(-settings.minor_exponent)
    money = format_currency(units, settings.currency, locale="en_US")
    return points, (f"{rate.normalize()} {settings.points_name} per {settings.currency} 1 "
                    f"on order {order_id} ({money}): +{points}")


def run_flat_rate(stream: list[Case]) -> int:
    settings, rate, points = Settings(), Decimal(1), 0
    for event, _ in stream:
        if event.type == "purchase":
            points += flat_rate(settings, rate, event.data["order_id"], event.data["total"])[0]
    return points


def run_evaluate(document: ProgramDocument) -> Callable[[list[Case]], int]:
    compiled = compile_program(document)

    def run(stream: list[Case]) -> int:
        points = 0
        for event, member in stream:
            points += evaluate(compiled, 1, event, member, NO_USAGE,
                               now=event.occurred_at).total_points
        return points
    return run


def best_of(repeat: int, workload: str, count: int, run: Callable[[], int]) -> Result:
    best, points = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        points = run()
        best = min(best, time.perf_counter() - start)
    return Result(workload, count, best, points)


def bench_evaluation(args: argparse.Namespace) -> tuple[list[Result], list[str]]:
    err.print(f"building {args.events:,} events")
    raw_events = list(event_stream(args.events, MEMBERS, args.seed))
    stream = cases(raw_events)
    one_rule = run_evaluate(starter_document("Benchmark", Settings(), Decimal(1)))
    twenty = twenty_rule_program()
    twenty_rules, known = run_evaluate(twenty), profiles(MEMBERS)
    gc.collect()
    gc.freeze()  # the prebuilt stream is not what is measured: keep the collector off it
    n, repeat = len(stream), args.repeat
    flat = best_of(repeat, "flat rate (foundation): Decimal points + reason", n,
                   lambda: run_flat_rate(stream))
    results = [flat,
               best_of(repeat, "evaluate(), 1-rule program (base_spend)", n,
                       lambda: one_rule(stream)),
               best_of(repeat, "evaluate(), 20-rule program", n, lambda: twenty_rules(stream)),
               best_of(repeat, "Simulator.run(), 20-rule program", n,
                       lambda: Simulator(twenty, profiles=known).run(raw_events).points_issued)]
    gc.unfreeze()
    for result in results:
        result.reference = flat.per_second
    problems = []
    if results[1].points != flat.points:
        problems.append(f"the 1-rule program issued {results[1].points:,} points, the flat rate "
                        f"{flat.points:,}")
    return results, problems


# --------------------------------------------------------------------------- ingest

def bench_ingest(args: argparse.Namespace) -> tuple[list[Result], list[str]]:
    # Imported here: ingest is being rewired, and the evaluation part must run regardless.
    import ingest as bench  # benchmarks/ingest.py

    from patron.db import create_database
    from patron.db.migrate import upgrade

    kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    results: list[Result] = []
    problems: list[str] = []
    batch = dict(batches=args.batches, size=args.batch_size)
    for kind in kinds:
        with bench.scratch_database(kind, args.pg_url) as target:
            db = create_database(target.url)
            upgrade(db)
            now = bench.now_utc()
            programs = {"warm-up": None, "raw": None, "one": None, "twenty": twenty_rule_program()}
            fixtures = {name: bench.make_fixture(db, args.members, now, document)
                        for name, document in programs.items()}
            streams = {name: bench.Purchases(fixtures[name], "id", args.seed)
                       for name in programs}
            err.print(f"[bold]{kind}[/bold]: raw batch baseline, then ingest()")
            raw = bench.raw_batches(target, fixtures["raw"], streams["raw"], **batch)
            bench.in_process_batches(db, fixtures["warm-up"], streams["warm-up"], batches=2,
                                     size=args.batch_size)
            one = bench.in_process_batches(db, fixtures["one"], streams["one"], **batch)
            twenty = bench.in_process_batches(db, fixtures["twenty"], streams["twenty"], **batch)
            counts = {name: bench.written(db, fixtures[name].program.id) for name in programs}
            db.dispose()
        problems += bench.check(f"{kind} raw", counts["raw"], raw.done)
        problems += bench.check(f"{kind} 1-rule ingest", counts["one"], one.done)
        problems += twenty_rule_check(f"{kind} 20-rule ingest", counts["twenty"], twenty.done)
        problems += [f"{kind}: {r.errors} events rejected" for r in (one, twenty) if r.errors]
        flat, raw_flat = FOUNDATION[kind]
        size = args.batch_size
        for name, rate, workload, foundation in (
                ("raw", raw, f"raw writes, batch of {size}", raw_flat),
                ("one", one, f"ingest(), batch of {size}, 1-rule program", flat),
                ("twenty", twenty, f"ingest(), batch of {size}, 20-rule program", flat)):
            results.append(Result(workload, rate.done, rate.seconds,
                                  counts[name]["lifetime_earned"], kind, raw.per_second,
                                  foundation))
    return results, problems


def twenty_rule_check(name: str, rows: dict[str, int], expected: int) -> list[str]:
    """Every purchase left its event and order; several rules may each leave an entry and lot."""
    problems = [f"{name}: {rows[table]} {table} for {expected} events"
                for table in ("events", "orders") if rows[table] != expected]
    if not expected <= rows["lots"] == rows["ledger_entries"]:
        problems.append(f"{name}: {rows['ledger_entries']} entries, {rows['lots']} lots")
    if rows["lot_points"] != rows["lifetime_earned"]:
        problems.append(f"{name}: lots hold {rows['lot_points']}, accounts earned "
                        f"{rows['lifetime_earned']}")
    return problems


# --------------------------------------------------------------------------- output

def render(title: str, results: list[Result], ratio_name: str, caption: str) -> Table:
    with_db = any(r.database for r in results)
    table = Table(title=title, caption=caption)
    names = (["database"] if with_db else []) + ["workload", "events", "seconds", "events/s",
                                                 ratio_name, "points"]
    names += ["foundation ev/s"] if with_db else []
    for name in names:
        table.add_column(name, justify="left" if name in ("database", "workload") else "right")
    for r in results:
        cells = [r.database] if with_db else []
        cells += [r.workload, f"{r.events:,}", f"{r.seconds:.3f}", f"{r.per_second:,.0f}",
                  "" if r.ratio is None else f"{r.ratio:.3f}", f"{r.points:,}"]
        cells += [f"{r.foundation:,}" if r.foundation else ""] if with_db else []
        table.add_row(*cells)
    return table


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="events to evaluate")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ingest", action="store_true",
                        help="also measure ingest() on SQLite and PostgreSQL")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", default=os.environ.get("PATRON_BENCH_PG_URL", DEFAULT_PG),
                        help="a PostgreSQL server to create the scratch database on")
    parser.add_argument("--members", type=int, default=5000, help="members per ingest program")
    parser.add_argument("--batches", type=int, default=20, help="ingest batches per run")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    evaluated, problems = bench_evaluation(args)
    ingested: list[Result] = []
    if args.ingest:
        ingested, trouble = bench_ingest(args)
        problems += trouble
    if args.json:
        print(json.dumps({"settings": vars(args),
                          "evaluation": [r.summary() for r in evaluated],
                          "ingest": [r.summary() for r in ingested],
                          "problems": problems}, indent=2))
        return 1 if problems else 0
    console = Console(width=max(Console().width, 124))  # a pipe would get 80 columns
    console.print(render("Earn-rule evaluation vs the foundation's flat rate (one process)",
                         evaluated, "vs flat rate",
                         f"best of {args.repeat}; events/s is wall clock on one core"))
    if ingested:
        console.print(render("ingest() with earn rules vs raw batch writes", ingested, "vs raw",
                             "raw: the flat-rate rows written through the driver; foundation: "
                             "the same, measured before earn rules; points: lifetime earned"))
    for line in problems:
        console.print(f"[red]check failed[/red] {line}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
