"""What matching on enrolment adds to an enrolment, with 100k members already enrolled.

On each database (a new SQLite file, a new PostgreSQL database), a program with
the demo program's matching rules gets ``--members`` existing members loaded
straight into the table (names from a few hundred given and a thousand family
names, birthdates over 65 years, a few thousand postcodes, match keys written as
enrolment writes them). Then ``--enrolments`` new members are enrolled one per
transaction through ``patron.flows.enrolment.create_member`` with their profile
(given and family name, birthdate, address postcode: what ``POST /members`` runs,
without HTTP), alternately with the enrolment matcher subscribed (on) and not
(off), in blocks of 20 so both see the same machine load. One new member in ten
shares family name, birthdate and postcode with an existing member under another
given name: the ``family_birthdate_postcode`` suggest rule queues that pair. The
run checks that every such pair was queued (on) and none was (off).

Prints enrolment p50/p99 with matching on and off, and what matching adds, in
milliseconds of wall-clock time and of this process's CPU time (the ``cpu`` lines:
what the enrolment costs Patron itself, which a loaded machine does not inflate;
on PostgreSQL the server's own work is outside it).

    .venv/bin/python benchmarks/matching_enrolment.py
    .venv/bin/python benchmarks/matching_enrolment.py --members 100000 --enrolments 2000
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from patron import hooks
from patron.db import Database, create_database
from patron.db.migrate import upgrade
from patron.flows import enrolment, subscribers
from patron.ledger.repository import open_accounts
from patron.matching.normalise import blocking_keys
from patron.members.schemas import MemberCreate
from patron.members.tables import members, merge_candidates
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


def someone(rng: random.Random) -> dict[str, Any]:
    return dict(given_name=rng.choice(GIVEN), family_name=rng.choice(FAMILY),
                birthdate=FIRST_BIRTHDATE + timedelta(days=rng.randrange(BIRTHDATE_DAYS)),
                postcode=rng.choice(POSTCODES))


def load_members(db: Database, program: Program, count: int, rng: random.Random,
                 now: datetime) -> list[dict[str, Any]]:
    people = [someone(rng) for _ in range(count)]
    rows = []
    for person in people:
        family, code = blocking_keys(person["family_name"], person["postcode"])
        rows.append(dict(program_id=program.id, status="active", attributes={}, consents={},
                         created_at=now, updated_at=now, family_key=family, postcode_key=code,
                         **person))
    for start in range(0, count, 10_000):
        db.transact(lambda conn: _load(conn, program, rows[start:start + 10_000], now))
    return people


def _load(conn: Any, program: Program, rows: list[dict[str, Any]], now: datetime) -> None:
    """Members as enrolment leaves them: each with its points account (a merge moves it)."""
    ids = conn.execute(insert(members).returning(members.c.id), rows).scalars().all()
    open_accounts(conn, program.id, ids, now)


def newcomer(rng: random.Random, people: list[dict[str, Any]], n: int
             ) -> tuple[dict[str, Any], bool]:
    """A new person; every tenth the look-alike of an existing member."""
    if n % 10 == 0:
        twin = dict(rng.choice(people))
        twin["given_name"] = f"Zz{n}"
        return twin, True
    return someone(rng), False


def run(kind: str, pg_url: str, members_count: int, enrolments: int) -> tuple[str, list[str]]:
    problems: list[str] = []
    with scratch_database(kind, pg_url) as scratch:
        db = create_database(scratch.url)
        upgrade(db)
        now = datetime.now(UTC)
        document, _ = validate_file(DEMO)
        program = db.transact(lambda conn: create_program(
            conn, slug=f"bench-{uuid.uuid4().hex[:8]}", name="Bench",
            settings=ProgramSettings(), now=now, document=document))
        rng = random.Random(14)
        started = time.perf_counter()
        people = load_members(db, program, members_count, rng, now)
        loaded = time.perf_counter() - started
        timings: dict[bool, list[float]] = {True: [], False: []}
        cpu: dict[bool, list[float]] = {True: [], False: []}
        twins: dict[bool, list[int]] = {True: [], False: []}
        matcher = subscribers.enrolment_matcher
        for n in range(enrolments):
            on = (n // 20) % 2 == 0
            if on:
                hooks.subscribe(hooks.MembersEnrolled, matcher)
            else:
                hooks.unsubscribe(hooks.MembersEnrolled, matcher)
            person, twin = newcomer(rng, people, n)
            payload = MemberCreate.model_validate({
                "identities": [{"type": "email", "value": f"new{n}@example.com"}],
                "profile": {"given_name": person["given_name"],
                            "family_name": person["family_name"],
                            "birthdate": person["birthdate"],
                            "address": {"postcode": person["postcode"]}}})
            began, began_cpu = time.perf_counter(), time.thread_time()
            member = db.transact(lambda conn: enrolment.create_member(conn, program, payload, now))
            timings[on].append((time.perf_counter() - began) * 1000)
            cpu[on].append((time.thread_time() - began_cpu) * 1000)
            if twin:
                twins[on].append(member.id)
        hooks.subscribe(hooks.MembersEnrolled, matcher)
        queued = set(db.read(lambda conn: conn.execute(select(
            merge_candidates.c.member_a, merge_candidates.c.member_b).where(
            merge_candidates.c.program_id == program.id)).all()))
        in_pairs = {member for pair in queued for member in pair}
        if missed := [m for m in twins[True] if m not in in_pairs]:
            problems.append(f"{kind}: {len(missed)} look-alikes enrolled with matching on "
                            "were not queued")
        if wrongly := [m for m in twins[False] if m in in_pairs]:
            problems.append(f"{kind}: {len(wrongly)} look-alikes enrolled with matching off "
                            "were queued")
        db.dispose()

    def pct(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]

    lines = []
    for what, values in (("wall", timings), ("cpu", cpu)):
        on50, on99 = pct(values[True], 50), pct(values[True], 99)
        off50, off99 = pct(values[False], 50), pct(values[False], 99)
        lines.append(f"{kind:<10} {what:<4} {members_count:>8,} {loaded:>7.1f}s "
                     f"{len(values[True]):>6} {off50:>8.2f} {off99:>8.2f} {on50:>8.2f} "
                     f"{on99:>8.2f} {on50 - off50:>+9.2f} {on99 - off99:>+9.2f}")
    return "\n".join(lines), problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", default=pg_server_default())
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--enrolments", type=int, default=2000,
                        help="enrolments timed, half with matching on")
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    args = parser.parse_args(argv)
    print(f"{'database':<10} {'ms':<4} {'members':>8} {'load':>8} {'n/side':>6} {'off p50':>8} "
          f"{'off p99':>8} {'on p50':>8} {'on p99':>8} {'+p50 ms':>9} {'+p99 ms':>9}")
    problems: list[str] = []
    for kind in args.databases:
        line, found = run(kind, args.pg_url, args.members, args.enrolments)
        print(line, flush=True)
        problems += found
    print(f"load average: {' '.join(open('/proc/loadavg').read().split()[:3])} "
          f"({os.cpu_count()} CPUs)")
    for line in problems:
        print(f"check failed: {line}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
