"""Coupons: generating codes and checking them at checkout, beside raw driver work.

Every figure is measured in the same run as its baseline, on a new scratch database:

- **Generation** (SQLite and PostgreSQL): ``service.create_batch`` of ``--codes``
  codes in one transaction (random codes from ``secrets``, the batch row, the bulk
  insert: COPY on PostgreSQL, executemany on SQLite), beside the raw baseline that
  writes the same rows (codes drawn beforehand, outside the timer) through the DB-API
  driver in one transaction. Drawing the codes alone (pure Python) is shown too.
- **Validation** (PostgreSQL unless ``--db``): one code per request against an order,
  ``checkout.validate`` in-process in its own read transaction, and
  ``POST /api/v1/coupons/validate`` to a real uvicorn process (API key, JSON,
  program lookup included), beside the raw baseline: a plain indexed ``SELECT`` of
  the same code in its own transaction, with as many connections as clients. Two
  floors show what any read costs here: ``Database.read`` of ``SELECT 1`` in-process
  and ``GET /healthz`` over HTTP (no raw column).
- **Redemption** (same databases): ``checkout.redeem`` of distinct single-use codes,
  in-process, beside the raw baseline: lock the code's row, guarded ``UPDATE … uses <
  uses_per_code``, insert the redemption, commit.

Counts are checked afterwards (codes written, uses taken), so the comparison is
checked, not assumed.

    .venv/bin/python benchmarks/coupons.py                    # ~2 min
    .venv/bin/python benchmarks/coupons.py --codes 20000 --validate-db both --json
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import time
import uuid
from dataclasses import dataclass
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select, text

from patron.auth.service import Role, create_key
from patron.coupons import checkout, domain, service
from patron.coupons.schemas import BatchCreate, RedeemRequest, ValidateRequest
from patron.coupons.tables import coupon_redemptions, coupons
from patron.db import Database, create_database
from patron.db.migrate import upgrade
from patron.program.domain import ProgramSettings
from patron.program.service import Program, create_program
from patron.program.document import ProgramDocument

from _common import Rate, Scratch, err, now_utc, patron_server, pg_server_default
from _common import run_clients as timed_clients
from _common import scratch_database

COUPON_TYPES = [
    {"id": "five_off", "name": "5 off orders of 20+", "discount": {"amount": 500},
     "min_spend": 2000, "combinable": True, "prefix": "SPRING"},
]
ORDER = {"subtotal": 5_000, "shipping": 0, "currency": "USD"}
ACTOR = "bench"


@dataclass
class Row:
    database: str
    workload: str
    patron: Rate
    raw: Rate | None

    @property
    def ratio(self) -> float | None:
        if self.raw is None or not self.raw.per_second:
            return None
        return self.patron.per_second / self.raw.per_second


def run_clients(clients: int, count: int, seconds: float, send: Callable[[Any, int], bool],
                open_client: Callable[[], Any], close_client: Callable[[Any], None]) -> Rate:
    return timed_clients(clients, count, seconds, send, open_client, close_client)


# --------------------------------------------------------------------------- databases

def begin(conn: Any) -> None:
    if isinstance(conn, sqlite3.Connection):
        conn.execute("BEGIN IMMEDIATE")


def sql(conn: Any, statement: str) -> str:
    return statement.replace("%s", "?") if isinstance(conn, sqlite3.Connection) else statement


def stamp(conn: Any, value: datetime) -> Any:
    """What the driver stores: SQLite keeps naive UTC text, as SQLAlchemy does."""
    if isinstance(conn, sqlite3.Connection):
        return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat(" ", "microseconds")
    return value


def make_program(db: Database) -> tuple[Program, str]:
    document = ProgramDocument.model_validate({
        "name": "Coupon bench", "settings": {"currency": "USD"}, "coupons": COUPON_TYPES})
    slug = f"bench-{uuid.uuid4().hex[:10]}"

    def work(conn: Any) -> tuple[Program, str]:
        program = create_program(conn, slug=slug, name="Coupon bench",
                                 settings=ProgramSettings(), now=now_utc(), document=document)
        key = create_key(conn, program_id=program.id, role=Role.INTEGRATION, name=ACTOR,
                         now=now_utc())
        return program, key.key
    return db.transact(work)


# --------------------------------------------------------------------------- generation

def patron_generate(db: Database, program: Program, count: int) -> tuple[Rate, int]:
    payload = BatchCreate(coupon_type="five_off", count=count, name="bench")
    began = time.perf_counter()
    batch = db.transact(lambda conn: service.create_batch(conn, program, payload,
                                                          now=now_utc(), actor=ACTOR))
    return Rate(count, time.perf_counter() - began), batch.id


RAW_COLUMNS = ("program_id", "code", "coupon_type", "program_version", "batch_id",
               "uses_per_code", "uses", "state", "issued_at")


def raw_generate(target: Scratch, program: Program, count: int) -> tuple[Rate, int]:
    """The same rows as ``create_batch`` writes, codes drawn beforehand."""
    codes = domain.new_codes(count, 10, "SPRING")
    conn = target.connect()
    try:
        began = time.perf_counter()
        begin(conn)
        now = stamp(conn, now_utc())
        batch_id = conn.execute(sql(conn, (
            "INSERT INTO coupon_batches (program_id, coupon_type, program_version, name,"
            " count, created_at, actor) VALUES (%s, 'five_off', %s, 'raw', %s, %s, %s)"
            " RETURNING id")), (program.id, program.version, count, now, ACTOR)).fetchone()[0]
        rows = [(program.id, code, "five_off", program.version, batch_id, 1, 0, "active", now)
                for code in codes]
        if isinstance(conn, sqlite3.Connection):
            conn.executemany(f"INSERT INTO coupons ({', '.join(RAW_COLUMNS)}) VALUES "
                             f"({', '.join('?' * len(RAW_COLUMNS))})", rows)
        else:
            with conn.cursor() as cur:
                with cur.copy(f"COPY coupons ({', '.join(RAW_COLUMNS)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        conn.commit()
        return Rate(count, time.perf_counter() - began), batch_id
    finally:
        conn.close()


def drawing(count: int, repeat: int = 3) -> Rate:
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        domain.new_codes(count, 10, "SPRING")
        best = min(best, time.perf_counter() - began)
    return Rate(count, best)


def batch_codes(db: Database, batch_id: int) -> list[str]:
    return db.read(lambda conn: list(conn.execute(
        select(coupons.c.code).where(coupons.c.batch_id == batch_id).order_by(coupons.c.id))
        .scalars()))


def check_batch(db: Database, batch_id: int, count: int) -> list[str]:
    found = db.read(lambda conn: conn.execute(
        select(func.count(), func.count(func.distinct(coupons.c.code)))
        .where(coupons.c.batch_id == batch_id)).one())
    return [] if tuple(found) == (count, count) else [
        f"batch {batch_id}: {tuple(found)} codes/distinct for {count}"]


# --------------------------------------------------------------------------- validation

def patron_validate(db: Database, program: Program, codes: list[str], *, clients: int,
                    seconds: float) -> Rate:
    payloads = [ValidateRequest.model_validate({"code": domain.display(c, "SPRING"),
                                                "order": ORDER}) for c in codes]

    def send(_: Any, job: int) -> bool:
        result = db.read(lambda conn: checkout.validate(conn, program, payloads[job],
                                                        now_utc()))
        return result.codes[0].valid and result.total_discount == 500

    return run_clients(clients, len(codes), seconds, send, lambda: None, lambda _: None)


def http_validate(base: str, key: str, codes: list[str], *, clients: int,
                  seconds: float) -> Rate:
    bodies = [json.dumps({"code": domain.display(c, "SPRING"), "order": ORDER}).encode()
              for c in codes]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def send(client: httpx.Client, job: int) -> bool:
        response = client.post("/api/v1/coupons/validate", content=bodies[job])
        return response.status_code == 200 and response.json()["total_discount"] == 500

    return run_clients(clients, len(codes), seconds, send,
                       lambda: httpx.Client(base_url=base, headers=headers, timeout=60),
                       lambda client: client.close())


def read_floor(db: Database, count: int, *, clients: int, seconds: float) -> Rate:
    """What any read transaction costs here: ``Database.read`` of ``SELECT 1``."""
    def send(_: Any, job: int) -> bool:
        return db.read(lambda conn: conn.execute(text("SELECT 1")).scalar()) == 1

    return run_clients(clients, count, seconds, send, lambda: None, lambda _: None)


def http_floor(base: str, count: int, *, clients: int, seconds: float) -> Rate:
    """What any request costs here: ``GET /healthz`` runs one ``SELECT 1``."""
    def send(client: httpx.Client, job: int) -> bool:
        return client.get("/healthz").status_code == 200

    return run_clients(clients, count, seconds, send,
                       lambda: httpx.Client(base_url=base, timeout=60),
                       lambda client: client.close())


RAW_SELECT = ("SELECT id, coupon_type, program_version, member_id, uses, uses_per_code, state,"
              " expires_at FROM coupons WHERE program_id = %s AND code = %s")


def raw_validate(target: Scratch, program: Program, codes: list[str], *, clients: int,
                 seconds: float) -> Rate:
    def send(conn: Any, job: int) -> bool:
        if isinstance(conn, sqlite3.Connection):
            conn.execute("BEGIN")
        row = conn.execute(sql(conn, RAW_SELECT), (program.id, codes[job])).fetchone()
        conn.commit()
        return row is not None

    return run_clients(clients, len(codes), seconds, send, target.connect, lambda c: c.close())


# --------------------------------------------------------------------------- redemption

def patron_redeem(db: Database, program: Program, codes: list[str], *, clients: int,
                  seconds: float) -> Rate:
    prefix = uuid.uuid4().hex[:8]

    def send(_: Any, job: int) -> bool:
        payload = RedeemRequest.model_validate({"order_id": f"{prefix}-{job}", "order": ORDER})
        redemption, created = db.transact(lambda conn: checkout.redeem(
            conn, program, codes[job], payload, now=now_utc(), actor=ACTOR))
        return created and redemption.discount == 500

    return run_clients(clients, len(codes), seconds, send, lambda: None, lambda _: None)


def raw_redeem(target: Scratch, program: Program, codes: list[str], *, clients: int,
               seconds: float) -> Rate:
    prefix = uuid.uuid4().hex[:8]

    def send(conn: Any, job: int) -> bool:
        begin(conn)
        lock = "" if isinstance(conn, sqlite3.Connection) else " FOR UPDATE"
        coupon_id = conn.execute(sql(conn, "SELECT id FROM coupons WHERE program_id = %s AND"
                                           " code = %s" + lock),
                                 (program.id, codes[job])).fetchone()[0]
        taken = conn.execute(sql(conn, "UPDATE coupons SET uses = uses + 1 WHERE id = %s AND"
                                       " state = 'active' AND uses < uses_per_code"),
                             (coupon_id,)).rowcount
        conn.execute(sql(conn, "INSERT INTO coupon_redemptions (program_id, coupon_id, order_id,"
                               " kind, currency, subtotal, shipping, discount, actor,"
                               " recorded_at) VALUES (%s, %s, %s, 'redeemed', 'USD', %s, 0,"
                               " 500, %s, %s)"),
                     (program.id, coupon_id, f"{prefix}-{job}", ORDER["subtotal"], ACTOR,
                      stamp(conn, now_utc())))
        conn.commit()
        return taken == 1

    return run_clients(clients, len(codes), seconds, send, target.connect, lambda c: c.close())


def check_uses(db: Database, codes: list[str], expected: int, label: str) -> list[str]:
    uses = db.read(lambda conn: conn.execute(
        select(func.coalesce(func.sum(coupons.c.uses), 0)).where(coupons.c.code.in_(codes)))
        .scalar_one())
    redemptions = db.read(lambda conn: conn.execute(
        select(func.count()).select_from(coupon_redemptions.join(coupons))
        .where(coupons.c.code.in_(codes))).scalar_one())
    if uses == redemptions == expected:
        return []
    return [f"{label}: {uses} uses and {redemptions} redemptions for {expected} redeemed"]


# --------------------------------------------------------------------------- the run

def bench_database(target: Scratch, args: argparse.Namespace) -> tuple[list[Row], list[str]]:
    db = create_database(target.url)
    upgrade(db)
    program, key = make_program(db)
    rows: list[Row] = []
    err.print(f"[bold]{target.name}[/bold]: generating {args.codes:,} codes")
    patron_generate(db, program, 1_000)  # warm-up: caches, connections
    raw_rate, raw_batch = raw_generate(target, program, args.codes)
    patron_rate, batch = patron_generate(db, program, args.codes)
    problems = check_batch(db, batch, args.codes) + check_batch(db, raw_batch, args.codes)
    rows.append(Row(target.name, f"generate {args.codes:,} codes", patron_rate, raw_rate))
    if target.name not in args.checkout_dbs:
        db.dispose()
        return rows, problems
    codes = batch_codes(db, batch)
    random.Random(args.seed).shuffle(codes)
    sample = codes[:args.validations]
    for clients in args.clients:
        err.print(f"[bold]{target.name}[/bold]: validations, {clients} client(s)")
        raw = raw_validate(target, program, sample, clients=clients, seconds=args.seconds)
        rows.append(Row(target.name, f"validate in-process, {clients} thread(s)",
                        patron_validate(db, program, sample, clients=clients,
                                        seconds=args.seconds), raw))
        rows.append(Row(target.name, f"  floor: db.read(SELECT 1), {clients} thread(s)",
                        read_floor(db, len(sample), clients=clients, seconds=args.seconds),
                        None))
    if not args.no_http:
        with patron_server(target.url) as base:
            http_validate(base, key, sample[:200], clients=args.http_clients, seconds=5)
            rate = http_validate(base, key, sample, clients=args.http_clients,
                                 seconds=args.seconds)
            floor = http_floor(base, len(sample), clients=args.http_clients,
                               seconds=args.seconds)
        raw = raw_validate(target, program, sample, clients=args.http_clients,
                           seconds=args.seconds)
        rows.append(Row(target.name, f"validate over HTTP, {args.http_clients} clients", rate,
                        raw))
        rows.append(Row(target.name, f"  floor: GET /healthz, {args.http_clients} clients",
                        floor, None))
    spare = codes[args.validations:]
    half = min(args.redemptions, len(spare) // 2)
    mine, theirs = spare[:half], spare[half:2 * half]
    err.print(f"[bold]{target.name}[/bold]: redemptions, {args.redeem_clients} client(s)")
    raw = raw_redeem(target, program, theirs, clients=args.redeem_clients,
                     seconds=args.seconds)
    patron = patron_redeem(db, program, mine, clients=args.redeem_clients,
                           seconds=args.seconds)
    problems += check_uses(db, mine, patron.done, "Patron redeem")
    problems += check_uses(db, theirs, raw.done, "raw redeem")
    rows.append(Row(target.name, f"redeem single-use codes, {args.redeem_clients} threads",
                    patron, raw))
    db.dispose()
    return rows, problems


def render(rows: list[Row], draw: Rate) -> Table:
    table = Table(title="Patron coupons vs the same work through the driver",
                  caption=f"drawing {draw.done:,} codes alone (Python, secrets): "
                          f"{draw.seconds * 1000:,.0f} ms")
    for name in ("database", "workload", "Patron /s", "Patron s", "p99 ms", "raw /s", "raw s",
                 "raw p99", "Patron/raw"):
        table.add_column(name, justify="left" if name in ("database", "workload") else "right")
    for row in rows:
        raw = row.raw
        p99, raw_p99 = row.patron.percentile(0.99), raw.percentile(0.99) if raw else None
        table.add_row(row.database, row.workload, f"{row.patron.per_second:,.0f}",
                      f"{row.patron.seconds:.2f}", "" if p99 is None else f"{p99:.1f}",
                      f"{raw.per_second:,.0f}" if raw else "", f"{raw.seconds:.2f}" if raw else "",
                      "" if raw_p99 is None else f"{raw_p99:.1f}",
                      "" if row.ratio is None else f"{row.ratio:.2f}")
    return table


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both",
                        help="where to measure generation")
    parser.add_argument("--validate-db", choices=("sqlite", "postgresql", "both"),
                        default="postgresql", help="where to measure validation/redemption")
    parser.add_argument("--pg-url", default=pg_server_default())
    parser.add_argument("--codes", type=int, default=100_000, help="codes per batch")
    parser.add_argument("--validations", type=int, default=20_000,
                        help="at most this many validations per run")
    parser.add_argument("--redemptions", type=int, default=5_000,
                        help="at most this many redemptions per run")
    parser.add_argument("--seconds", type=float, default=8, help="and for at most this long")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4],
                        help="in-process validation threads (one run each)")
    parser.add_argument("--http-clients", type=int, default=4)
    parser.add_argument("--redeem-clients", type=int, default=4)
    parser.add_argument("--no-http", action="store_true", help="skip the uvicorn run")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    both = ("sqlite", "postgresql")
    args.checkout_dbs = both if args.validate_db == "both" else (args.validate_db,)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    kinds = tuple(k for k in ("sqlite", "postgresql") if k in kinds or k in args.checkout_dbs)
    rows: list[Row] = []
    problems: list[str] = []
    draw = drawing(args.codes)
    for kind in kinds:
        with scratch_database(kind, args.pg_url) as target:
            found, trouble = bench_database(target, args)
            rows += found
            problems += trouble
    if args.json:
        print(json.dumps({"settings": {k: v for k, v in vars(args).items()},
                          "drawing_codes_seconds": round(draw.seconds, 4),
                          "results": [{"database": r.database, "workload": r.workload,
                                       "patron": r.patron.summary("ops", quantiles=(0.99,)),
                                       "raw": r.raw.summary("ops", quantiles=(0.99,)) if r.raw else None,
                                       "ratio": None if r.ratio is None else round(r.ratio, 3)}
                                      for r in rows], "problems": problems}, indent=2))
    else:
        console = Console(width=max(Console().width, 124))
        console.print(render(rows, draw))
        for line in problems:
            console.print(f"[red]check failed[/red] {line}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
