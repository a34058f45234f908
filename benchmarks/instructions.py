"""Instructions Patron's own process runs per event, spend and redemption, counted by
valgrind's callgrind: the same count however busy the machine is, where CPU seconds on a
shared two-core machine vary by a third from one run to the next.

    .venv/bin/python benchmarks/instructions.py --db postgresql
    .venv/bin/python benchmarks/instructions.py --against /path/to/other/checkout/src

In process, one call per transaction: ``ingest()`` of single purchase events (the 20-rule
program of ``benchmarks/ingest.py``), ``spend_points`` and ``redemption.redeem`` (the
fixture of ``benchmarks/redemptions.py``). Only the calls are counted (callgrind's
instrumentation is switched on around them from outside, by ``callgrind_control``); the
database server's work is not, nor the HTTP layer. ``--against`` counts another checkout's
code (its ``src``) in the same run and prints the ratio. Needs ``valgrind`` (Debian's
package); runs about fifty times slower than natively.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from patron.db import create_database
from patron.db.migrate import upgrade
from patron.events.schemas import EventIn
from patron.flows import redemption
from patron.flows.ingest import ingest
from patron.ledger.service import spend_points

import ingest as ingest_bench
import redemptions as redemption_bench
from _common import pg_server_default, scratch_database

WORKLOADS = ("event", "spend", "redeem")
HERE = Path(__file__).resolve().parent
console = Console()


def _wait_for(path: Path, child: subprocess.Popen[bytes]) -> str:
    while not path.exists():
        if child.poll() is not None:
            raise RuntimeError(f"the measured process exited ({child.returncode})")
        time.sleep(0.2)
    return path.read_text()


def _measure(db: str, calls: int, src: str | None, workdir: Path) -> dict[str, float]:
    """Instructions per call of each workload, by running ``--child`` under callgrind."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, str(HERE)]))}
    out = workdir / f"callgrind.{uuid.uuid4().hex[:8]}"
    ready, done = workdir / "ready", workdir / "done"
    child = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
         sys.executable, __file__, "--child", "--db", db, "--calls", str(calls),
         "--workdir", str(workdir)], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    found: dict[str, float] = {}
    try:
        for workload in WORKLOADS:
            pid = _wait_for(ready, child)
            for command in ("-z", "-i on"):
                subprocess.run(["callgrind_control", *command.split(), pid], check=True,
                               capture_output=True)
            ready.unlink()
            _wait_for(done, child)
            subprocess.run(["callgrind_control", "-i", "off", pid], check=True,
                           capture_output=True)
            subprocess.run(["callgrind_control", "-d", workload, pid], check=True,
                           capture_output=True)
            done.unlink()
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
    for dump in sorted(workdir.glob(f"{out.name}.*")):
        text = dump.read_text(errors="replace")
        workload = next(line.rsplit(" ", 1)[1] for line in text.splitlines()
                        if line.startswith("desc: Trigger:"))
        total = next(int(line.split()[1]) for line in text.splitlines()
                     if line.startswith("totals:"))
        found[workload] = total / calls
    return found


def _child(db: str, calls: int, workdir: Path) -> None:
    """The measured process: sets up, then runs each workload between two signals."""
    ready, done = workdir / "ready", workdir / "done"
    with scratch_database(db, pg_server_default()) as target:
        database = create_database(target.url)
        upgrade(database)
        now = datetime.now(UTC)
        shop = ingest_bench.make_fixture(database, 500, now, ingest_bench.twenty_rule_program())
        purchases = ingest_bench.Purchases(shop, "identity", 1)
        events = [EventIn.model_validate(e) for e in purchases.many(calls + 20, now)]
        cost = redemption_bench.COST
        fixture = redemption_bench.make_fixture(database, 50, cost * (4 * calls // 50 + 8), now)
        members, program, run = fixture.members, fixture.program, uuid.uuid4().hex[:6]

        def event(job: int) -> None:
            database.transact(lambda conn: ingest(conn, shop.program, [events[job]],
                                                  now=datetime.now(UTC),
                                                  actor=ingest_bench.ACTOR))

        def spend(job: int) -> None:
            database.transact(lambda conn: spend_points(
                conn, program, members[job % len(members)], points=cost, reason="bench",
                key=f"{run}-s{job}", actor=redemption_bench.ACTOR, now=datetime.now(UTC)))

        def redeem(job: int) -> None:
            database.transact(lambda conn: redemption.redeem(
                conn, program, members[job % len(members)],
                reward_id=redemption_bench.REWARD["id"], key=f"{run}-r{job}",
                actor=redemption_bench.ACTOR, now=datetime.now(UTC)))

        work = {"event": event, "spend": spend, "redeem": redeem}
        for job in range(20):  # warm: statements compiled and prepared, caches filled
            for call in work.values():
                call(job)
        for workload in WORKLOADS:
            ready.write_text(str(os.getpid()))
            while ready.exists():
                time.sleep(0.1)
            for job in range(20, 20 + calls):
                work[workload](job)
            done.write_text(workload)
            while done.exists():
                time.sleep(0.1)
        database.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="postgresql", choices=("sqlite", "postgresql"))
    parser.add_argument("--calls", type=int, default=100, help="calls of each workload")
    parser.add_argument("--against", help="another checkout's src directory, counted too")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.db, args.calls, Path(args.workdir))
        return 0
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        console.print("valgrind is not installed (Debian: apt-get install valgrind)")
        return 1
    sides = {"this checkout": str(HERE.parent / "src")}
    if args.against:
        sides["--against"] = args.against
    counts = {}
    for name, src in sides.items():
        console.print(f"{args.db}: {name}, {args.calls} calls of each, under callgrind")
        with tempfile.TemporaryDirectory() as workdir:
            counts[name] = _measure(args.db, args.calls, src, Path(workdir))
    table = Table(title="Instructions per call, in process (callgrind)")
    table.add_column("workload")
    for name in sides:
        table.add_column(name, justify="right")
    if args.against:
        table.add_column("this / against", justify="right")
    for workload in WORKLOADS:
        cells = [f"{counts[name][workload] / 1e6:,.2f} M" for name in sides]
        if args.against:
            cells.append(f"{counts['this checkout'][workload] / counts['--against'][workload]:.3f}")
        table.add_row(workload, *cells)
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
