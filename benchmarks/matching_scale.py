"""One ID matching at scale: ``--members`` generated members (default 1,000,000) with known
duplicates, matched by Patron's batch path on one machine.

The people are generated with a fixed seed: given and family names drawn with Zipf-like
frequencies from a few thousand syllable-built names, birthdates over 80 years, an address
(number, street, city, postcode, state), an email for 60% and a phone for 40%. ``--dupes``
(default 10%) of the records are second records of an earlier person, as another channel would
enter them: one or two typos (a letter in a name, a digit in the birthdate or postcode), a field
left out, names sometimes swapped, and never the same email or phone (identities are unique per
program, so a shared one would already be one member).

Writing the members into the scratch database (bulk: executemany on SQLite, COPY on
PostgreSQL) is timed apart. The figure that counts is **match**, printed per phase with wall
and CPU time (the process's, DuckDB's threads included, which stands when others load the
machine): **load** (members and identities read into Arrow), **keys** (match keys built in
DuckDB SQL), **train** (on a 200,000-member sample: u by random sampling, EM on at most 1M
blocked pairs per session), **predict** (pairs at ``--threshold``) and **write CSV**.
Precision and recall are counted on the known duplicates. ``--explain FILE`` writes DuckDB's
profile (EXPLAIN ANALYZE's tree) of the slowest statement of the predict step.

    .venv/bin/python benchmarks/matching_scale.py                    # 1M members
    .venv/bin/python benchmarks/matching_scale.py --members 100000
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import tempfile
import time
from datetime import date, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from splink import DuckDBAPI  # noqa: E402

from _common import now_utc, pg_server_default, scratch_database  # noqa: E402

from patron.db import create_database  # noqa: E402
from patron.db.engine import insert_rows, insert_rows_returning_ids  # noqa: E402
from patron.db.migrate import upgrade  # noqa: E402
from patron.matching import batch  # noqa: E402
from patron.members import repository  # noqa: E402
from patron.members.tables import identities, members  # noqa: E402
from patron.program.domain import ProgramSettings  # noqa: E402
from patron.program.service import create_program  # noqa: E402

SYLLABLES = ["an", "bel", "cor", "da", "el", "fin", "gar", "ha", "is", "jo", "ka", "lin", "mar",
             "nor", "o", "pe", "qui", "ra", "sa", "tor", "u", "vin", "wen", "xa", "yo", "zel"]
STATES = ["nsw", "vic", "qld", "wa", "sa", "tas", "act", "nt"]


def _names(rng: random.Random, count: int, parts: int) -> list[str]:
    seen: set[str] = set()
    while len(seen) < count:
        seen.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, parts))))
    return sorted(seen)


def _typo(rng: random.Random, text: str) -> str:
    if len(text) < 3:
        return text
    i = rng.randrange(len(text))
    kind = rng.random()
    if kind < 0.4:
        return text[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz") + text[i + 1:]
    if kind < 0.7:
        return text[:i] + text[i + 1:]
    j = min(i + 1, len(text) - 1)
    return text[:i] + text[j] + text[i] + text[j + 1:]


class People:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.given = _names(self.rng, 3000, 3)
        self.family = _names(self.rng, 20000, 4)
        self.streets = [f"{n} {kind}" for n in _names(self.rng, 4000, 3)
                        for kind in ("street", "road")]
        self.cities = _names(self.rng, 1500, 3)
        self.weights_given = list(accumulate(1 / (i + 1) ** 0.8 for i in range(len(self.given))))
        self.weights_family = list(accumulate(1 / (i + 1) ** 0.6
                                              for i in range(len(self.family))))

    def person(self, n: int) -> dict[str, Any]:
        rng = self.rng
        city = rng.randrange(len(self.cities))
        return {"given_name": rng.choices(self.given, cum_weights=self.weights_given)[0],
                "family_name": rng.choices(self.family, cum_weights=self.weights_family)[0],
                "birthdate": date(1940, 1, 1) + timedelta(days=rng.randrange(80 * 365)),
                "address_line1": f"{rng.randint(1, 400)} {rng.choice(self.streets)}",
                "city": self.cities[city], "postcode": str(2000 + city * 3 + rng.randrange(3)),
                "state": STATES[city % len(STATES)], "country": "AU",
                "email": f"p{n}@example.com" if rng.random() < 0.6 else None,
                "phone": f"+614{n:08d}" if rng.random() < 0.4 else None}

    def duplicate(self, original: dict[str, Any], n: int) -> dict[str, Any]:
        rng = self.rng
        dup = dict(original, email=f"d{n}@example.net" if rng.random() < 0.3 else None,
                   phone=None)
        for _ in range(rng.randint(1, 2)):
            field = rng.choice(["given_name", "family_name", "address_line1", "city",
                                "birthdate", "postcode", "drop"])
            if field == "birthdate" and dup["birthdate"] is not None:
                d = dup["birthdate"]  # day and month swapped, else one day off
                dup["birthdate"] = (date(d.year, d.day, d.month) if d.day <= 12 and d.day != d.month
                                    else d + timedelta(days=1))
            elif field == "drop":
                dup[rng.choice(["address_line1", "postcode", "birthdate", "city"])] = None
            elif dup[field]:
                dup[field] = _typo(rng, dup[field])
        if rng.random() < 0.03:
            dup["given_name"], dup["family_name"] = dup["family_name"], dup["given_name"]
        return dup


def generate(count: int, dupes: float, seed: int) -> tuple[list[dict[str, Any]], list[int]]:
    """Records, and for each the index of the earlier record it duplicates (or -1)."""
    people = People(seed)
    records: list[dict[str, Any]] = []
    of: list[int] = []
    for n in range(count):
        if n > 10 and people.rng.random() < dupes:
            original = people.rng.randrange(n)
            while of[original] != -1:
                original = of[original]
            records.append(people.duplicate(records[original], n))
            of.append(original)
        else:
            records.append(people.person(n))
            of.append(-1)
    return records, of


def write(url: str, records: list[dict[str, Any]]) -> tuple[int, list[int]]:
    database = create_database(url)
    upgrade(database)
    now = now_utc()

    def work(conn: Any) -> tuple[int, list[int]]:
        program = create_program(conn, slug="scale", name="Scale", settings=ProgramSettings(),
                                 now=now)
        # the columns a new member row sets (``repository.new_member_row``) that are not
        # null, and the profile: fewer columns, less for the driver to convert and send
        fixed = {k: v for k, v in repository.new_member_row(program.id, now).items()
                 if v is not None}
        profile = ("given_name", "family_name", "birthdate", "address_line1", "city",
                   "postcode", "state", "country")
        ids = insert_rows_returning_ids(
            conn, members, [{**fixed, **{k: r[k] for k in profile}} for r in records])
        found = [dict(program_id=program.id, member_id=i, type=t, value=r[t], channel="web",
                      created_at=now)
                 for i, r in zip(ids, records, strict=True) for t in ("email", "phone") if r[t]]
        insert_rows(conn, identities, found)
        return program.id, ids

    result = database.transact(work)
    database.dispose()
    return result


class Phases:
    """Wall and CPU time of each phase, printed as it ends; CPU is the process's, all its
    threads (DuckDB's too), so it stands when other work loads the machine."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def lap(self, phase: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.wall += wall - self._wall
        self.cpu += cpu - self._cpu
        print(f"  {phase:<10} {wall - self._wall:7.1f} s wall {cpu - self._cpu:7.1f} s CPU",
              flush=True)
        self._wall, self._cpu = wall, cpu


class SlowestQuery:
    """DuckDB's profile (EXPLAIN ANALYZE's tree) of the slowest statement Splink runs once
    ``on`` is set, written to ``path``."""

    def __init__(self, path: Path) -> None:
        self.path, self.on, self.seconds = path, False, 0.0
        self.scratch = path.with_name(path.name + ".last.txt")
        original = DuckDBAPI._execute_sql_against_backend

        def profiled(api: Any, sql: str) -> Any:
            if not self.on:
                return original(api, sql)
            api._con.execute("PRAGMA enable_profiling='query_tree'")
            api._con.execute(f"PRAGMA profiling_output='{self.scratch}'")
            began = time.perf_counter()
            try:
                return original(api, sql)
            finally:
                api._con.execute("PRAGMA disable_profiling")
                took = time.perf_counter() - began
                if took > self.seconds and self.scratch.exists():
                    self.seconds = took
                    self.scratch.replace(self.path)

        DuckDBAPI._execute_sql_against_backend = profiled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--dupes", type=float, default=0.1)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg-url", default=pg_server_default())
    parser.add_argument("--explain", type=Path,
                        help="write DuckDB's profile of the slowest predict statement here")
    args = parser.parse_args()
    explain = SlowestQuery(args.explain) if args.explain else None
    logging.getLogger("splink").setLevel(logging.ERROR)

    began = time.perf_counter()
    records, of = generate(args.members, args.dupes, args.seed)
    print(f"generated {len(records):,} records, {sum(o >= 0 for o in of):,} duplicates "
          f"({time.perf_counter() - began:.1f} s)")
    with scratch_database(args.db, args.pg_url) as scratch:
        began = time.perf_counter()
        program_id, ids = write(scratch.url, records)
        print(f"wrote members and identities ({args.db}) in {time.perf_counter() - began:.1f} s")
        database = create_database(scratch.url)
        clock = Phases()
        member_rows, identity_rows = database.read(
            lambda conn: batch.read_tables(conn, program_id))
        clock.lap("load")
        table = batch.key_table(member_rows, identity_rows)
        clock.lap("keys")

        def step(what: str) -> None:
            if what == "predicting":
                clock.lap("train")
                if explain:
                    explain.on = True

        run, _ = batch.run_match(table, None, threshold=args.threshold, em_max_pairs=1e6,
                                 step=step)
        clock.lap("predict")
        with tempfile.TemporaryDirectory() as folder:
            batch.write_csv(Path(folder) / "pairs.csv", run)
        clock.lap("write CSV")
        database.dispose()
    # a person entered three times is three true pairs, not two
    by_person: dict[int, list[int]] = {}
    for i, o in enumerate(of):
        by_person.setdefault(o if o >= 0 else i, []).append(ids[i])
    true = {tuple(sorted((a, b))) for group in by_person.values()
            for k, a in enumerate(group) for b in group[k + 1:]}
    found = {(p.member_a, p.member_b) for p in run.pairs}
    hits = len(found & true)
    precision, recall = hits / max(len(found), 1), hits / len(true)
    print(f"match: {clock.wall:.1f} s wall, {clock.cpu:.1f} s CPU for {run.members:,} members "
          f"(load, keys, train, predict, write CSV); {len(run.pairs):,} pairs at "
          f"p≥{args.threshold}; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"known duplicate pairs {len(true):,}: precision {precision:.4f}  recall {recall:.4f}  "
          f"F1 {2 * precision * recall / max(precision + recall, 1e-9):.4f}")


if __name__ == "__main__":
    main()
