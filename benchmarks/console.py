"""Console speed: every console page on the demo data, and the dashboard and the analytics
reports on 1M purchases; SQLite and PostgreSQL.

Demo mode (the default): a new database seeded as ``patron demo`` seeds it (1,000 members,
six months of purchases through ingest, the campaign, a few spends and redemptions), plus
a household and a batch of coupon codes so their pages show something; Patron is served
as the README says (``patron serve``, one worker), the demo admin signs in through the
login form, and every console page is requested ``--repeat`` times, round after round
(one round first to warm up, not counted). Goal (issue 16): p95 < 300 ms a page.

Scale mode (``--scale``): the program of ``benchmarks/analytics.py`` (1M purchases of
50,000 members written by its bulk loader, kept and reused between runs), served the
same way; the dashboard and each analytics report page are requested ``--repeat`` times.
The server's scheduled sweeps and features job are off (``PATRON_*_INTERVAL_SECONDS=0``)
while pages are timed.
Goal (issues 16 and 13): the dashboard < 2 s, every report < 2 s, CLV < 10 s.

Beside the figures, the same run's raw baselines: an HTTP round trip to ``/healthz`` on
the same server (the floor of any page), and a plain aggregate over the same rows
through the driver (orders counted and summed, ledger entries summed by kind, for the
program), timed the same number of times. The load average is printed with the table.

    .venv/bin/python benchmarks/console.py                          # demo data, both databases
    .venv/bin/python benchmarks/console.py --db sqlite --repeat 10
    .venv/bin/python benchmarks/console.py --scale --db sqlite --repeat 3
    .venv/bin/python benchmarks/console.py --db sqlite --before a558118
    .venv/bin/python benchmarks/console.py --db sqlite --py-spy /tmp/console.svg
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import analytics  # noqa: E402 - benchmarks/analytics.py: the 1M-purchase program
from _common import (patron_server, percentile, pg_server_default,  # noqa: E402
                     scratch_database)
from patron.analytics.query import REPORTS  # noqa: E402
from patron.auth.service import Role  # noqa: E402
from patron.auth.staff import set_staff  # noqa: E402
from patron.coupons.schemas import BatchCreate  # noqa: E402
from patron.coupons.service import create_batch  # noqa: E402
from patron.db import Database, create_database  # noqa: E402
from patron.db.migrate import upgrade  # noqa: E402
from patron.demo.seed import SLUG, seed  # noqa: E402
from patron.events.tables import orders  # noqa: E402
from patron.ledger.tables import ledger_entries  # noqa: E402
from patron.program.service import Program, get_program_by_slug  # noqa: E402
from patron.program.versions import get_version  # noqa: E402

out = Console(width=180)
EMAIL = "admin@demo-coffee.example"
PASSWORD = "console-benchmark-password"
PAGE_GOAL_MS = 300
QUIET = ("PATRON_JOBS_INTERVAL_SECONDS", "PATRON_FEATURES_INTERVAL_SECONDS")
"""The server's scheduled sweeps and features job are off while pages are timed: the
features job runs at start (50,000 members' features at scale) and would take the cores."""
FIRST: dict[tuple[str, str], float] = {}
"""Each call's warm-up time (the first request to the page), shown apart."""
SCALE_GOAL_MS = {"dashboard": 2000, **{name: 10_000 if name == "clv" else 2000
                                       for name in REPORTS}}


# --------------------------------------------------------------------------- data

def seed_demo(db: Database, members: int) -> Program:
    """The demo program as ``patron demo`` seeds it (its household included) and a batch
    of 100 codes of the demo's coupon type."""
    now = datetime.now(UTC)
    started = time.perf_counter()
    result = seed(db, now, members=members)
    out.print(f"[dim]  seeded {result.members} members, {result.events} purchases in "
              f"{time.perf_counter() - started:.0f} s[/dim]")
    program = result.program

    def extras(conn: Any) -> None:
        kind = get_version(conn, program).document.coupons[0].id
        create_batch(conn, program, BatchCreate(coupon_type=kind, count=100, name="Bench"),
                     now=now, actor="bench")
    db.transact(extras)
    return program


def add_admin(db: Database, program: Program) -> None:
    db.transact(lambda conn: set_staff(conn, program_id=program.id, email=EMAIL,
                                       password=PASSWORD, role=Role.ADMIN, name="Bench admin",
                                       now=datetime.now(UTC)))


def demo_pages(db: Database, program: Program) -> list[str]:
    """Every console page (GET), with ids of rows the demo holds."""
    def ids(conn: Any) -> SimpleNamespace:
        one = lambda sql: conn.execute(text(sql), {"p": program.id}).scalar()  # noqa: E731
        return SimpleNamespace(
            member=one("SELECT member_id FROM ledger_entries WHERE program_id = :p "
                       "GROUP BY member_id ORDER BY count(*) DESC, member_id LIMIT 1"),
            entry=one("SELECT max(id) FROM ledger_entries WHERE program_id = :p"),
            household=one("SELECT min(id) FROM households WHERE program_id = :p"),
            batch=one("SELECT min(id) FROM coupon_batches WHERE program_id = :p"),
            version=one("SELECT max(version) FROM program_versions WHERE program_id = :p"),
            campaign=get_version(conn, program).document.campaigns[0].id,
            email=one("SELECT value FROM identities WHERE program_id = :p AND type = 'email' "
                      "ORDER BY id LIMIT 1"))
    found = db.read(ids)
    return ["/console/", "/console/members", f"/console/members?q={found.email}",
            "/console/members?q=Ben", f"/console/members/{found.member}",
            f"/console/members/{found.member}/ledger?before={found.entry}",
            "/console/program", "/console/program/versions",
            f"/console/program/versions/{found.version}", "/console/rewards",
            "/console/coupons", f"/console/coupons/batches/{found.batch}",
            f"/console/coupons/batches/{found.batch}/codes.csv",
            "/console/households", f"/console/households/{found.household}",
            "/console/merge-candidates", "/console/campaigns",
            f"/console/campaigns/{found.campaign}", "/console/analytics",
            *(f"/console/analytics/{name}" for name in REPORTS),
            "/console/analytics/rfm.csv"]


def scale_program(kind: str, args: argparse.Namespace) -> tuple[str, Database, Program]:
    """The 1M-purchase program of benchmarks/analytics.py, loaded (or reused) by it."""
    loading = argparse.Namespace(events=args.events, members=args.scale_members,
                                 loader="bulk", fresh=False, db=kind)
    [(_, url)] = analytics.targets_of(loading)
    db, program = analytics.prepare(kind, url, loading)
    return url, db, program


# --------------------------------------------------------------------------- timing

def sign_in(client: httpx.Client) -> None:
    form = client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, "no sign-in token on the login form"
    done = client.post("/console/login", data={"email": EMAIL, "password": PASSWORD,
                                               "csrf_token": token.group(1)})
    assert done.status_code == 303 and "login" not in done.headers["location"], \
        "the benchmark admin could not sign in"


Call = tuple[Callable[[], Any], int | None]
"""What to time, and the server process whose CPU time it uses (None: not a server's)."""


def time_calls(calls: dict[tuple[str, str], Call], repeat: int
               ) -> tuple[dict[tuple[str, str], list[float]], dict[tuple[str, str], list[float]]]:
    """Each call ``repeat`` times, one round of all after another (a warm-up round first,
    kept apart in FIRST), so a change of load on the machine falls on every call alike
    (and on both servers alike, their calls side by side): ms per call, and the server's
    CPU ms of each call (its every thread, DuckDB's and the analytics worker's too), so
    that a slow request shows whether the server worked longer or waited (for the cores
    of a loaded machine, or for the database)."""
    timings: dict[tuple[str, str], list[float]] = {key: [] for key in calls}
    cpu: dict[tuple[str, str], list[float]] = {key: [] for key in calls}
    for round_ in range(repeat + 1):
        for key, (call, pid) in calls.items():
            used = cpu_ms(pid) if pid else 0.0
            started = time.perf_counter()
            call()
            ms = (time.perf_counter() - started) * 1000
            if round_:
                timings[key].append(ms)
                cpu[key].append((cpu_ms(pid) - used) if pid else 0.0)
            else:
                FIRST[key] = ms
    return timings, cpu


def cpu_ms(pid: int) -> float:
    """User + system CPU time so far of a process and of the processes it started (the
    analytics worker, which builds SQLite's reports), in ms (``/proc/PID/stat``)."""
    total = 0.0
    for one in (pid, *children(pid)):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")
    return total


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def server_pid(base_url: str) -> int:
    """The process serving ``base_url`` (``patron serve`` with one worker serves in its own
    process)."""
    port = base_url.rsplit(":", 1)[1]
    found = subprocess.run(["pgrep", "-n", "-f", "--", f"--port {port}"], capture_output=True,
                           text=True, check=True).stdout.split()
    return int(found[0])


def page_call(client: httpx.Client, path: str) -> Callable[[], Any]:
    def call() -> None:
        answer = client.get(path)
        if answer.status_code != 200:
            raise RuntimeError(f"{path} answered {answer.status_code}: {answer.text[:300]}")
    return call


def raw_aggregate(db: Database, program: Program) -> Callable[[], Any]:
    """The same rows, summed by the database: orders' count and total, ledger by kind."""
    def call() -> None:
        with db.engine.connect() as conn:
            conn.execute(select(text("count(*)"), text("sum(total)")).select_from(orders)
                         .where(orders.c.program_id == program.id)).all()
            conn.execute(select(ledger_entries.c.kind, text("sum(points)"))
                         .where(ledger_entries.c.program_id == program.id)
                         .group_by(ledger_entries.c.kind)).all()
            conn.rollback()
    return call


@contextlib.contextmanager
def profiled(pid: int, svg: str | None) -> Iterator[None]:
    """py-spy recording the server process (every thread, idle waits included)."""
    if not svg:
        yield
        return
    spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--idle",
                            "--threads", "--pid", str(pid), "-o", svg, "--format",
                            "raw" if svg.endswith(".txt") else "flamegraph"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    try:
        yield
    finally:
        spy.send_signal(2)
        spy.wait(60)
        out.print(f"[dim]py-spy profile of the server: {svg}[/dim]")


def measure(kind: str, url: str, db: Database, program: Program, pages: dict[str, str],
            args: argparse.Namespace) -> dict[str, Any]:
    """Every page from a signed-in client of each server: this code's ("now") and, with
    ``--before``, the earlier revision's on the same database ("before")."""
    here = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    codes = {"now": here, **({"before": args.before_env} if args.before else {})}
    with contextlib.ExitStack() as stack:
        calls: dict[tuple[str, str], Call] = {}
        clients: dict[str, tuple[httpx.Client, int]] = {}
        for code, env in codes.items():
            base = stack.enter_context(patron_server(url, env=env))
            client = stack.enter_context(httpx.Client(base_url=base, timeout=600))
            sign_in(client)
            clients[code] = (client, server_pid(base))
        for label, path in pages.items():
            for code, (client, pid) in clients.items():
                calls[(label, code)] = (page_call(client, path), pid)
        client, pid = clients["now"]
        calls[("baseline: GET /healthz", "now")] = (page_call(client, "/healthz"), pid)
        calls[("baseline: raw aggregate over the same rows", "now")] = (
            raw_aggregate(db, program), None)
        load_before = os.getloadavg()
        with profiled(pid, args.py_spy):
            timings, cpu = time_calls(calls, args.repeat)
        load_after = os.getloadavg()
    return {"db": kind, "timings": timings, "cpu": cpu, "load": (load_before, load_after),
            "codes": list(codes)}


# --------------------------------------------------------------------------- output

def _cells(result: dict[str, Any], key: tuple[str, str], goal: float | None) -> list[str]:
    ms = result["timings"].get(key)
    if not ms:
        return ["", "", "", ""]
    p95 = percentile(ms, 0.95) or 0.0
    mark = " [red]over[/red]" if goal and p95 > goal else ""
    used = result["cpu"][key]
    if key[0].startswith("baseline: raw"):
        return [f"{percentile(ms, 0.5):.1f}", f"{p95:.1f}{mark}", "", ""]
    slowest = max(range(len(ms)), key=ms.__getitem__)
    return [f"{percentile(ms, 0.5):.1f}", f"{p95:.1f}{mark}",
            f"{sum(used) / len(used):.0f} / {percentile(used, 0.95):.0f}",
            f"{ms[slowest]:.0f} ({used[slowest]:.0f})"]


def show(result: dict[str, Any], goals: dict[str, float], title: str, before: str | None
         ) -> None:
    columns = ["p50 ms", "p95 ms", "server CPU ms mean / p95", "slowest ms (its CPU)"]
    heads = ["page", *columns, "first ms"]
    if before:
        heads += [f"{c} ({before})" for c in columns]
    table = Table(*heads, "goal ms", title=title, title_justify="left")
    for label in dict.fromkeys(label for label, _ in result["timings"]):
        goal = goals.get(label)
        cells = [label, *_cells(result, (label, "now"), goal),
                 f"{FIRST.get((label, 'now'), 0):.1f}"]
        if before:
            cells += _cells(result, (label, "before"), goal)
        table.add_row(*cells, f"{goal:.0f}" if goal else "")
    start, end = result["load"]
    table.caption = ("load average " + ", ".join(f"{x:.2f}" for x in start) + " at the start, "
                     + ", ".join(f"{x:.2f}" for x in end) + f" at the end ({os.cpu_count()} "
                     "CPUs); one warm-up round not counted (first ms: its time); server CPU: "
                     "per request, every thread of the server process and of the "
                     "analytics worker it started; slowest: the slowest request's wall ms "
                     "and its server CPU ms (CPU far below the wall: it waited)")
    out.print(table)


def summary(result: dict[str, Any]) -> dict[str, Any]:
    return {"db": result["db"], "load": result["load"], "pages": [
        {"page": label, "code": code, "p50_ms": round(percentile(ms, 0.5), 1),
         "p95_ms": round(percentile(ms, 0.95), 1), "server_cpu_ms": round(
             sum(result["cpu"][(label, code)]) / len(ms), 1),
         "server_cpu_ms_each": [round(c, 1) for c in result["cpu"][(label, code)]],
         "ms_each": [round(m, 1) for m in ms], "first_ms": round(FIRST.get((label, code), 0), 1)}
        for (label, code), ms in result["timings"].items()]}


def run_demo(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    with scratch_database(kind, args.pg_url) as scratch:
        db = create_database(scratch.url)
        upgrade(db)
        program = seed_demo(db, args.members)
        add_admin(db, program)
        pages = {path: path for path in demo_pages(db, program)}
        if args.pages:
            pages = {p: p for p in pages if any(re.search(w, p) for w in args.pages)}
        result = measure(kind, scratch.url, db, program, pages, args)
        db.dispose()
    show(result, {label: PAGE_GOAL_MS for label in pages},
         f"{kind}: console pages on the demo data ({args.members:,} members), "
         f"{args.repeat} requests each", args.before)
    return result


def run_scale(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    url, db, program = scale_program(kind, args)
    add_admin(db, program)
    pages = {"dashboard": "/console/",
             **{name: f"/console/analytics/{name}" for name in REPORTS}}
    if args.pages:
        pages = {k: v for k, v in pages.items() if any(re.search(w, k) for w in args.pages)}
    result = measure(kind, url, db, program, pages, args)
    db.dispose()
    show(result, SCALE_GOAL_MS, f"{kind}: dashboard and report pages on {args.events:,} "
                                f"purchases of {args.scale_members:,} members, "
                                f"{args.repeat} requests each", args.before)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", default=pg_server_default())
    parser.add_argument("--repeat", type=int, default=20, help="Timed requests per page")
    parser.add_argument("--members", type=int, default=1000, help="Demo members")
    parser.add_argument("--scale", action="store_true",
                        help="The dashboard and reports on benchmarks/analytics.py's program")
    parser.add_argument("--events", type=int, default=1_000_000, help="Scale: purchases")
    parser.add_argument("--scale-members", type=int, default=50_000, help="Scale: members")
    parser.add_argument("--pages", nargs="*", metavar="REGEX",
                        help="Only the pages (or scale labels) matching one of these")
    parser.add_argument("--py-spy", metavar="FILE",
                        help="Record the server with py-spy while timing (.svg flame graph, "
                             ".txt collapsed stacks)")
    parser.add_argument("--json", action="store_true", help="Also print the figures as JSON")
    parser.add_argument("--before", metavar="REV",
                        help="Also serve the code of this revision (git archive of its src) on "
                             "the same database, its requests alternating with this code's")
    parser.add_argument("--no-cache", action="store_true",
                        help="Keep no report between requests (PATRON_REPORT_CACHE_ENTRIES=0): "
                             "every request builds its reports, as after every commit")
    args = parser.parse_args()
    for setting in QUIET:
        os.environ.setdefault(setting, "0")
    if args.no_cache:
        os.environ["PATRON_REPORT_CACHE_ENTRIES"] = "0"
    kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    run = run_scale if args.scale else run_demo
    with tempfile.TemporaryDirectory(prefix="patron-console-before-") as tmp:
        if args.before:
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before, "src"],
                                     check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
            args.before_env = {**os.environ, "PYTHONPATH": str(Path(tmp) / "src")}
        results = [run(kind, args) for kind in kinds]
    if args.json:
        print(json.dumps([summary(r) for r in results], indent=2))


if __name__ == "__main__":
    main()
