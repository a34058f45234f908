"""What matching on enrolment adds to an enrolment, with 100k members already enrolled.

On each database (a new SQLite file, a new PostgreSQL database), a program with
the demo program's matching rules gets ``--members`` existing members loaded
straight into the table (names from a few hundred given and a thousand family
names, birthdates over 65 years, a few thousand postcodes, match keys written as
enrolment writes them), each with its points account and an email, and the tables
analysed as autovacuum would leave them. Then ``--enrolments`` new
members are enrolled one per transaction through ``patron.flows.enrolment.create_member``
with an email and their profile (given and family name, birthdate, address postcode:
what ``POST /members`` runs, without HTTP), alternately with the enrolment matcher
subscribed (on) and not (off), in blocks of 20 so both see the same machine load.
They are timed after ``--warmup`` untimed enrolments with matching on (150: fifteen
merges), as a server's connections run them: psycopg prepares a statement on its sixth
run and PostgreSQL tries five custom plans before it keeps one, which costs the first
dozen merges on a connection about 3 ms more each (``--warmup 0`` times those too).

Three paths a user hits, timed apart:

- ``new``: a new person (who usually shares a postcode, and sometimes a birthdate,
  with existing members that no rule matches): eight enrolments in ten;
- ``queued``: a look-alike of an existing member under another given name (same family
  name, birthdate and postcode): the ``family_birthdate_postcode`` suggest rule queues
  the pair; one in ten;
- ``merged``: the same given and family name and birthdate as an existing member: the
  ``name_and_birthdate`` auto-merge rule merges the new record into the existing one
  (``patron.flows.merging``: on PostgreSQL it locks both accounts, then moves the
  new record's rows, its identities, and records the merge and the new record's
  status in one statement, ``patron.flows.merging_plain``; on SQLite it asks which
  kinds of rows, points and money the new record holds and moves those); one in ten.

The run checks that every queued look-alike was queued and every merged one merged
(on), and none was (off). Prints each path's p50/p99 with matching on beside the same
path with matching off (the baseline: the same enrolment without matching), and what
matching adds, in milliseconds of wall-clock time and of this process's CPU time (the
``cpu`` lines: what the enrolment costs Patron itself, which a loaded machine does not
inflate; on PostgreSQL the server's own work is outside it), with the SQL statements
each enrolment sent (median) and the load average. ``--profile N`` also prints the
cProfile of the matching-on enrolments (top N entries), of one path's alone with
``--profile-path``.

    .venv/bin/python benchmarks/matching_enrolment.py
    .venv/bin/python benchmarks/matching_enrolment.py --members 100000 --enrolments 2000
    .venv/bin/python benchmarks/matching_enrolment.py --members 20000 --profile 30
    .venv/bin/python benchmarks/matching_enrolment.py --profile 40 --profile-path merged
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import re
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert, select

from patron import hooks
from patron.db import Database, create_database
from patron.db.migrate import upgrade
from patron.flows import enrolment, subscribers
from patron.ledger.repository import open_accounts
from patron.matching.normalise import blocking_keys
from patron.members.schemas import MemberCreate
from patron.members.tables import identities, members, merge_candidates
from patron.program.domain import ProgramSettings
from patron.program.service import Program, create_program
from patron.program.validate import validate_file

from _common import pg_server_default, scratch_database

DEMO = Path(__file__).resolve().parents[1] / "src/patron/program/examples/demo_coffee.yaml"
GIVEN = [f"{a}{b}" for a in ("Al", "Be", "Ca", "Da", "El", "Fi", "Ga", "Ha", "Io", "Jo",
                             "Ka", "Le", "Ma", "Ni", "Ol", "Pa", "Ra", "Sa", "Ta", "Vi")
         for b in ("n", "ra", "lia", "x", "mo", "na", "o", "ek", "us", "ine", "ta", "der")]
FAMILY = [f"{a}{b}{c}" for a in ("Ber", "Cas", "Dun", "Fal", "Gra", "Hol", "Kin", "Lan",
                                 "Mor", "Nor")
          for b in ("a", "e", "i", "o", "u", "ay", "ow", "en", "ar", "el")
          for c in ("son", "berg", "ton", "ley", "man", "ford", "wick", "dale", "sen", "er")]
FIRST_BIRTHDATE, BIRTHDATE_DAYS = date(1940, 1, 1), 65 * 365
POSTCODES = [f"{n:05d}" for n in range(10_000, 14_000)]
PATHS = ("new", "queued", "merged")


def someone(rng: random.Random) -> dict[str, Any]:
    return dict(given_name=rng.choice(GIVEN), family_name=rng.choice(FAMILY),
                birthdate=FIRST_BIRTHDATE + timedelta(days=rng.randrange(BIRTHDATE_DAYS)),
                postcode=rng.choice(POSTCODES))


def load_members(db: Database, program: Program, count: int, rng: random.Random,
                 now: datetime) -> list[tuple[int, dict[str, Any]]]:
    """The existing members, each with its id."""
    people = [someone(rng) for _ in range(count)]
    rows = []
    for person in people:
        family, code = blocking_keys(person["family_name"], person["postcode"])
        rows.append(dict(program_id=program.id, status="active", attributes={}, consents={},
                         created_at=now, updated_at=now, family_key=family, postcode_key=code,
                         **person))
    ids: list[int] = []
    for start in range(0, count, 10_000):
        ids += db.transact(lambda conn: _load(conn, program, rows[start:start + 10_000], now))
    return list(zip(ids, people, strict=True))


def _load(conn: Any, program: Program, rows: list[dict[str, Any]], now: datetime
          ) -> list[int]:
    """Members as enrolment leaves them: each with its points account (a merge moves it)
    and an email (without one, ``identities`` holds only the run's own enrolments, and
    PostgreSQL reads such a small table whole)."""
    ids = conn.execute(insert(members).returning(members.c.id, sort_by_parameter_order=True),
                       rows).scalars().all()
    open_accounts(conn, program.id, ids, now)
    conn.execute(insert(identities), [
        dict(program_id=program.id, member_id=member_id, type="email",
             value=f"known{member_id}@example.com", channel="web", created_at=now)
        for member_id in ids])
    return list(ids)


def newcomer(rng: random.Random, people: list[tuple[int, dict[str, Any]]], n: int
             ) -> tuple[str, dict[str, Any], int | None]:
    """The path, the new person, and the existing member it looks like (if any)."""
    if n % 10 == 3:
        twin_id, twin = rng.choice(people)
        return "queued", dict(twin, given_name=f"Zz{n}"), twin_id
    if n % 10 == 7:
        twin_id, twin = rng.choice(people)
        return "merged", dict(twin, postcode=rng.choice(POSTCODES)), twin_id
    return "new", someone(rng), None


class Statements:
    """Counts the statements an engine sends."""

    def __init__(self, engine: Any) -> None:
        self.count = 0

        def counted(*_: Any) -> None:
            self.count += 1
        event.listen(engine, "before_cursor_execute", counted)


class Run:
    """Each path's timings, CPU times and statement counts, matching on and off."""

    def __init__(self) -> None:
        self.wall: dict[tuple[str, bool], list[float]] = {}
        self.cpu: dict[tuple[str, bool], list[float]] = {}
        self.statements: dict[tuple[str, bool], list[int]] = {}

    def add(self, path: str, on: bool, wall: float, cpu: float, statements: int) -> None:
        self.wall.setdefault((path, on), []).append(wall)
        self.cpu.setdefault((path, on), []).append(cpu)
        self.statements.setdefault((path, on), []).append(statements)


def _payload(n: int, person: dict[str, Any]) -> MemberCreate:
    return MemberCreate.model_validate({
        "identities": [{"type": "email", "value": f"new{n}@example.com"}],
        "profile": {"given_name": person["given_name"], "family_name": person["family_name"],
                    "birthdate": person["birthdate"],
                    "address": {"postcode": person["postcode"]}}})


def enrol_all(db: Database, program: Program, people: list[tuple[int, dict[str, Any]]],
              enrolments: int, rng: random.Random, now: datetime, profiler: Any,
              warmup: int = 0, profile_path: str | None = None) -> tuple[Run, list[str]]:
    run, problems = Run(), []
    counter = Statements(db.engine)
    matcher = subscribers.enrolment_matcher
    expected: list[tuple[str, bool, int, int]] = []
    hooks.subscribe(hooks.MembersEnrolled, matcher)
    for n in range(enrolments, enrolments + warmup):  # untimed: the connection prepares
        path, person, twin = newcomer(rng, people, n)
        payload = _payload(n, person)
        db.transact(lambda conn: enrolment.create_member(conn, program, payload, now))
    for n in range(enrolments):
        on = (n // 20) % 2 == 0
        if on:
            hooks.subscribe(hooks.MembersEnrolled, matcher)
        else:
            hooks.unsubscribe(hooks.MembersEnrolled, matcher)
        path, person, twin = newcomer(rng, people, n)
        payload = _payload(n, person)
        before = counter.count
        profiled = on and profiler is not None and profile_path in (None, path)
        if profiled:
            profiler.enable()
        began, began_cpu = time.perf_counter(), time.thread_time()
        member = db.transact(lambda conn: enrolment.create_member(conn, program, payload, now))
        wall, cpu = (time.perf_counter() - began) * 1000, (time.thread_time() - began_cpu) * 1000
        if profiled:
            profiler.disable()
        run.add(path, on, wall, cpu, counter.count - before)
        if twin is not None:
            expected.append((path, on, twin, member.id))
    hooks.subscribe(hooks.MembersEnrolled, matcher)
    queued = set(db.read(lambda conn: conn.execute(select(
        merge_candidates.c.member_a, merge_candidates.c.member_b).where(
        merge_candidates.c.program_id == program.id)).all()))
    wrong = {(path, on) for path, on, twin, member in expected
             if (path == "queued" and ((twin, member) in queued) != on)
             or (path == "merged" and (member == twin) != on)}
    problems += [f"{path} look-alikes enrolled with matching {'on' if on else 'off'} were "
                 f"{'not ' if on else ''}{path}" for path, on in sorted(wrong)]
    return run, problems


def run(kind: str, pg_url: str, members_count: int, enrolments: int, profile: int,
        warmup: int = 0, profile_path: str | None = None) -> tuple[list[str], list[str], str]:
    with scratch_database(kind, pg_url) as scratch:
        db = create_database(scratch.url)
        upgrade(db)
        now = datetime.now(UTC)
        document, _ = validate_file(DEMO)
        program = db.transact(lambda conn: create_program(
            conn, slug=f"bench-{uuid.uuid4().hex[:8]}", name="Bench",
            settings=ProgramSettings(), now=now, document=document))
        rng = random.Random(14)
        people = load_members(db, program, members_count, rng, now)
        if kind == "postgresql":  # the statistics autovacuum would have a minute after the
            # load (an import leaves them so: ``Database.refresh_statistics``)
            db.transact(lambda conn: conn.exec_driver_sql("ANALYZE members, identities, "
                                                          "accounts"))
        profiler = cProfile.Profile() if profile else None
        timed, problems = enrol_all(db, program, people, enrolments, rng, now, profiler,
                                    warmup, profile_path)
        db.dispose()
    lines = [line for path in PATHS for line in path_lines(kind, path, timed)]
    return lines, [f"{kind}: {p}" for p in problems], (
        profile_text(profiler, profile) if profiler is not None else "")


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def path_lines(kind: str, path: str, timed: Run) -> list[str]:
    lines = []
    for what, values in (("wall", timed.wall), ("cpu", timed.cpu)):
        on, off = values.get((path, True)), values.get((path, False))
        if not on or not off or len(on) < 2 or len(off) < 2:
            continue
        on50, on99, off50, off99 = pct(on, 50), pct(on, 99), pct(off, 50), pct(off, 99)
        count_on = statistics.median(timed.statements[path, True])
        count_off = statistics.median(timed.statements[path, False])
        lines.append(f"{kind:<10} {path:<6} {what:<4} {len(on):>5} {off50:>8.2f} {off99:>8.2f} "
                     f"{on50:>8.2f} {on99:>8.2f} {on50 - off50:>+8.2f} {on99 - off99:>+8.2f} "
                     f"{count_off:>5g} {count_on:>5g}")
    return lines


def profile_text(profiler: Any, top: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    text = re.sub(r"/\S*/site-packages/", "", out.getvalue().strip())
    return re.sub(r"/\S*/(src|benchmarks)/", "", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", default=pg_server_default())
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--enrolments", type=int, default=2000,
                        help="enrolments timed, half with matching on")
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--warmup", type=int, default=150,
                        help="untimed enrolments with matching on before the timed ones (one "
                             "in ten merged): psycopg prepares a statement on its sixth run, "
                             "PostgreSQL settles on its plan by the twelfth; 0 times them too")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="print the top N entries of a cProfile of the matching-on "
                             "enrolments (timings then include the profiler's overhead)")
    parser.add_argument("--profile-path", choices=PATHS,
                        help="profile only this path's enrolments")
    args = parser.parse_args(argv)
    print(f"members {args.members:,}; ms per enrolment; n = enrolments with matching on; "
          "statements: median per enrolment, off / on; timed after "
          f"{args.warmup} untimed enrolments")
    print(f"{'database':<10} {'path':<6} {'ms':<4} {'n':>5} {'off p50':>8} {'off p99':>8} "
          f"{'on p50':>8} {'on p99':>8} {'+p50':>8} {'+p99':>8} {'stm':>5} {'on':>5}")
    problems: list[str] = []
    profiles: list[str] = []
    for kind in args.databases:
        lines, found, profiled = run(kind, args.pg_url, args.members, args.enrolments,
                                     args.profile, args.warmup, args.profile_path)
        print("\n".join(lines), flush=True)
        problems += found
        if profiled:
            profiles.append(f"--- cProfile, {kind}, matching on, "
                            f"{args.profile_path or 'every path'}\n{profiled}")
    print(f"load average: {' '.join(open('/proc/loadavg').read().split()[:3])} "
          f"({os.cpu_count()} CPUs)")
    for text in profiles:
        print(text)
    for line in problems:
        print(f"check failed: {line}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
