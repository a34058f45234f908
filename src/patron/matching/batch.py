"""Batch matching: every member of a program against every other, through Splink on DuckDB.

``read_tables`` reads members and identities in two queries into Arrow tables and
``key_table`` builds their match keys in DuckDB SQL (``normalise``'s SQL forms; ``anyascii``
runs in Python once per distinct non-ASCII value), so a million members are keyed in seconds;
``read_records`` builds the same keys record by record in Python. ``match_program`` trains
(or loads) the model, predicts the pairs above a threshold and stores a newly trained model;
``apply_pairs`` merges the surest pairs and queues the rest for review. What merging and
queueing do is passed in (``merge``, ``suggest``), so this module stays below the flows that
move balances.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from anyascii import anyascii
from sqlalchemy import Connection, String, cast, insert, select

from patron.matching import model as splink_model
from patron.matching import normalise
from patron.matching.records import EXTERNAL_TYPES, MatchRecord
from patron.matching.scorer import MatchModel, load_model, model_from_json
from patron.members.tables import identities, match_models, members
from patron.program.document import Matching
from patron.program.versions import versions

ACTIVE_STATUSES = ("active", "blocked")
"""Members worth matching: not closed, not merged away, not a household's placeholder."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    auto_merge: float = 0.99
    """Pairs at or above this probability are merged without a person looking."""
    suggest: float = 0.9
    """Pairs at or above this (and below ``auto_merge``) go to the review queue."""


def thresholds(section: Matching) -> Thresholds:
    """The thresholds of the program document's ``matching`` section
    (``auto_merge_probability``, ``suggest_probability``)."""
    return Thresholds(auto_merge=section.auto_merge_probability,
                      suggest=section.suggest_probability)


def program_thresholds(conn: Connection, program: Any) -> Thresholds:
    """The thresholds of the program's current version."""
    return thresholds(versions.compiled(conn, program, program.version).document.matching)


@dataclass(frozen=True, slots=True)
class Pair:
    member_a: int
    member_b: int
    probability: float
    match_weight: float
    levels: dict[str, str]
    """Per field, the label of the comparison level the pair fell in."""


@dataclass(slots=True)
class MatchRun:
    records: list[MatchRecord]
    """The members compared; after a run over a key table, only the members in a pair."""
    pairs: list[Pair]
    model: MatchModel
    trained: bool
    external_ids: dict[int, tuple[str, ...]] = field(default_factory=dict)
    members: int = 0
    """How many members were compared."""

def read_records(conn: Connection, program_id: int) -> list[MatchRecord]:
    """Every matchable member of the program with its identities, in member id order."""
    member_rows = conn.execute(
        select(members.c.id, members.c.name, members.c.given_name, members.c.family_name,
               members.c.birthdate, members.c.gender, members.c.address_line1,
               members.c.address_line2, members.c.city, members.c.postcode, members.c.state,
               members.c.country)
        .where(members.c.program_id == program_id, members.c.merged_into.is_(None),
               members.c.status.in_(ACTIVE_STATUSES))
        .order_by(members.c.id)).mappings().all()
    by_member: dict[int, list[dict[str, Any]]] = {}
    for row in conn.execute(select(identities.c.member_id, identities.c.type,
                                   identities.c.value)
                            .where(identities.c.program_id == program_id)).mappings():
        by_member.setdefault(row["member_id"], []).append(row)
    return [MatchRecord.from_rows(row, by_member.get(row["id"], ())) for row in member_rows]


MEMBER_COLUMNS = ("id", "name", "given_name", "family_name", "birthdate", "gender",
                  "address_line1", "address_line2", "city", "postcode", "state", "country")
TRANSLITERATED = ("name", "given_name", "family_name", "gender", "address_line1",
                  "address_line2", "city", "postcode", "state")
"""Member columns whose keys are built from their ASCII form (not the country: an ISO code)."""


def _arrow_from_rows(rows: Sequence[Sequence[Any]], names: Sequence[str]) -> pa.Table:
    """Rows as an Arrow table of ``names``, built column by column: ``id`` and
    ``member_id`` as integers, everything else as text."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    return pa.table({name: pa.array(values, pa.int64() if name in ("id", "member_id")
                                    else pa.string())
                     for name, values in zip(names, columns, strict=True)})


def read_tables(conn: Connection, program_id: int) -> tuple[pa.Table, pa.Table]:
    """The program's matchable members (birthdates as ``YYYY-MM-DD`` text) and their
    identities, as Arrow tables."""
    chosen = [cast(members.c.birthdate, String).label("birthdate") if name == "birthdate"
              else members.c[name] for name in MEMBER_COLUMNS]
    member_rows = _arrow_from_rows(conn.execute(select(*chosen).where(
        members.c.program_id == program_id, members.c.merged_into.is_(None),
        members.c.status.in_(ACTIVE_STATUSES))).all(), MEMBER_COLUMNS)
    identity_rows = _arrow_from_rows(conn.execute(
        select(identities.c.member_id, identities.c.type, identities.c.value)
        .where(identities.c.program_id == program_id,
               identities.c.type.in_(("email", "phone") + EXTERNAL_TYPES))).all(),
        ("member_id", "type", "value"))
    return member_rows, identity_rows


def _transliterations(duck: duckdb.DuckDBPyConnection) -> pa.Table:
    """``anyascii`` of each distinct non-ASCII value in the transliterated columns: Python
    runs once per value that needs it, never per row."""
    values = " UNION ".join(f"SELECT {c} AS v FROM member_rows" for c in TRANSLITERATED)
    found = duck.execute(f"SELECT DISTINCT v FROM ({values}) "
                         f"WHERE regexp_matches(v, '{normalise.NON_ASCII}')").fetchall()
    return pa.table({"v": pa.array([v for (v,) in found], pa.string()),
                     "a": pa.array([anyascii(v) for (v,) in found], pa.string())})


def _ascii_members(duck: duckdb.DuckDBPyConnection, translit: pa.Table) -> str:
    """SQL of the members with the transliterated columns in ASCII."""
    if not len(translit):
        return "SELECT * FROM member_rows"
    duck.register("translit", translit)
    joins = " ".join(f"LEFT JOIN translit t_{c} ON t_{c}.v = m.{c}" for c in TRANSLITERATED)
    replaced = ", ".join(f"coalesce(t_{c}.a, m.{c}) AS {c}" for c in TRANSLITERATED)
    return f"SELECT m.* REPLACE ({replaced}) FROM member_rows m {joins}"


def _keys_sql(ascii_members: str) -> str:
    n = normalise
    given = n.text_key_sql("given")
    family = n.text_key_sql("family")
    identity_lists = ", ".join(
        f"list_sort(list_distinct(list(value) FILTER (WHERE type IN ({types})))) AS {name}"
        for name, types in (("emails", "'email'"), ("phones", "'phone'"),
                            ("external_ids", ", ".join(f"'{t}'" for t in EXTERNAL_TYPES))))
    return rf"""
    WITH m AS ({ascii_members}),
    named AS (
        SELECT *,
            CASE WHEN given_name IS NULL AND family_name IS NULL AND name IS NOT NULL
                 THEN nullif(regexp_extract(regexp_replace(name, '^\s+|\s+$', '', 'g'),
                                            '(?s)^(.*) [^ ]*$', 1), '')
                 ELSE given_name END AS given,
            CASE WHEN given_name IS NULL AND family_name IS NULL AND name IS NOT NULL
                 THEN regexp_extract(regexp_replace(name, '^\s+|\s+$', '', 'g'),
                                     '(?s)([^ ]*)$', 1)
                 ELSE family_name END AS family,
            {n.address_key_sql("address_line1", "address_line2")} AS address_key
        FROM m),
    ids AS (SELECT member_id, {identity_lists} FROM identity_rows GROUP BY member_id),
    keyed AS (
        SELECT id AS member_id, {given} AS given_name, {family} AS family_name,
            {n.birthdate_key_sql("birthdate")} AS birthdate,
            {n.gender_key_sql("gender")} AS gender,
            {n.street_number_sql("address_key")} AS street_number,
            {n.street_key_sql("address_key")} AS address,
            {n.postcode_key_sql("postcode")} AS postcode, {n.text_key_sql("city")} AS city,
            {n.text_key_sql("state")} AS state, {n.country_key_sql("country")} AS country,
            nullif(emails, []) AS emails, nullif(phones, []) AS phones,
            nullif(external_ids, []) AS external_ids
        FROM named LEFT JOIN ids ON ids.member_id = named.id)
    SELECT *, emails[1] AS email, phones[1] AS phone, external_ids[1] AS external_id,
        birthdate[1:4] AS birth_year
    FROM keyed ORDER BY member_id
    """


def key_table(member_rows: pa.Table, identity_rows: pa.Table) -> pa.Table:
    """The table Splink reads (``records.COLUMNS``), keyed in DuckDB exactly as
    ``MatchRecord.from_rows`` keys one member in Python."""
    duck = duckdb.connect()
    try:
        duck.register("member_rows", member_rows)
        duck.register("identity_rows", identity_rows)
        sql = _keys_sql(_ascii_members(duck, _transliterations(duck)))
        table = duck.execute(sql).to_arrow_table()
    finally:
        duck.close()
    return table.cast(splink_model.SCHEMA)


def level_labels(settings: Mapping[str, Any]) -> dict[str, dict[int, str]]:
    """Per comparison, Splink's gamma value → level label (null is -1, else is 0)."""
    out: dict[str, dict[int, str]] = {}
    for comparison in settings["comparisons"]:
        levels = [lv["label_for_charts"] for lv in comparison["comparison_levels"]
                  if not lv.get("is_null_level")]
        labels = {len(levels) - 1 - i: label for i, label in enumerate(levels)}
        labels[-1] = "null"
        out[comparison["output_column_name"]] = labels
    return out


def predict_pairs(linker: Any, settings: Mapping[str, Any], threshold: float) -> list[Pair]:
    labels = level_labels(settings)
    columns = list(labels)
    predicted = linker.inference.predict(threshold_match_probability=threshold)
    rel = predicted.as_duckdbpyrelation()
    rows = rel.select(", ".join(["member_id_l", "member_id_r", "match_probability",
                                 "match_weight"] + [f"gamma_{c}" for c in columns])).fetchall()
    pairs = []
    for row in rows:
        a, b = sorted((int(row[0]), int(row[1])))
        pairs.append(Pair(a, b, float(row[2]), float(row[3]),
                          {c: labels[c][row[4 + i]] for i, c in enumerate(columns)}))
    pairs.sort(key=lambda p: (-p.probability, p.member_a, p.member_b))
    return pairs


def store_model(conn: Connection, program_id: int, stored: str, pairs_scored: int,
                now: datetime) -> None:
    conn.execute(insert(match_models).values(program_id=program_id, settings=stored,
                                             pairs_scored=pairs_scored, created_at=now))


def run_match(records: list[MatchRecord] | pa.Table, stored: MatchModel | None, *,
              threshold: float, em_max_pairs: float | None = None,
              step: Callable[[str], None] = lambda _: None) -> tuple[MatchRun, str | None]:
    """Predict pairs among ``records`` (match records, or a ``key_table``) with ``stored``,
    or with a model trained on them when ``stored`` is ``None``; returns the run and the new
    model's JSON (``None`` if not trained). No database work, so a long run holds no
    transaction open."""
    table = records if isinstance(records, pa.Table) else splink_model.records_table(records)
    text = None
    if stored is None:
        step("training")
        linker, text = splink_model.train_for(table, em_max_pairs=em_max_pairs)
        stored = model_from_json(text)
    else:
        linker = splink_model.linker(table, stored.settings)
    step("predicting")
    pairs = predict_pairs(linker, stored.settings, threshold)
    if isinstance(records, pa.Table):
        records = records_in_pairs(table, pairs)
    return MatchRun(records=records, pairs=pairs, model=stored, trained=text is not None,
                    external_ids=external_ids_of(records), members=len(table)), text


def records_in_pairs(table: pa.Table, pairs: Sequence[Pair]) -> list[MatchRecord]:
    """The match records of the members that appear in a pair (for evidence and the CSV)."""
    wanted = pa.array(sorted({p.member_a for p in pairs} | {p.member_b for p in pairs}),
                      pa.int64())
    names = [f.name for f in fields(MatchRecord)]
    rows = table.select(names).filter(pc.is_in(table.column("member_id"), wanted))
    sets = ("emails", "phones", "external_ids")
    return [MatchRecord(**{k: tuple(v or ()) if k in sets else v for k, v in row.items()})
            for row in rows.to_pylist()]


def match_program(conn: Connection, program_id: int, *, threshold: float, now: datetime,
                  train: bool = False, em_max_pairs: float | None = None,
                  step: Callable[[str], None] = lambda _: None) -> MatchRun:
    """Predict the program's likely duplicate pairs; train first when asked or when the
    program has no model yet (the new model is stored: the latest wins)."""
    step("reading members")
    member_rows, identity_rows = read_tables(conn, program_id)
    step("building keys")
    table = key_table(member_rows, identity_rows)
    stored = None if train else load_model(conn, program_id)
    run, text = run_match(table, stored, threshold=threshold, em_max_pairs=em_max_pairs,
                          step=step)
    if text is not None:
        store_model(conn, program_id, text, len(run.pairs), now)
    return run

def external_ids_of(records: Iterable[MatchRecord]) -> dict[int, tuple[str, ...]]:
    """Per member, the ids other systems know it by: external ids and cards, then emails."""
    return {r.member_id: r.external_ids + r.emails for r in records}


CSV_FIXED = ["member_a", "member_b", "member_a_external_ids", "member_b_external_ids",
             "probability", "match_weight"]


def write_csv(path: Path, run: MatchRun) -> int:
    """The pairs as CSV: both members' ids and external ids (``;``-separated), the
    probability and one ``level_<field>`` column per compared field."""
    fields_ = [c["output_column_name"] for c in run.model.settings["comparisons"]]
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_FIXED + [f"level_{f}" for f in fields_])
        for p in run.pairs:
            writer.writerow([p.member_a, p.member_b,
                             ";".join(run.external_ids.get(p.member_a, ())),
                             ";".join(run.external_ids.get(p.member_b, ())),
                             f"{p.probability:.6f}", f"{p.match_weight:.4f}"]
                            + [p.levels.get(f, "") for f in fields_])
    return len(run.pairs)


@dataclass(frozen=True, slots=True)
class Applied:
    merged: list[tuple[int, int]]
    """(survivor, merged) in the order merged."""
    queued: list[tuple[int, int]]
    """Pairs newly put in the review queue."""
    skipped: int
    """Pairs below the suggest threshold, already one member through earlier merges, already
    known to the queue (pending, merged or rejected), or that the merge refused."""


Merge = Callable[..., Any]
"""``merge(conn, program, survivor_id, merged_id, *, reason, actor, source, now)``: the merge
id, or None when this pair cannot be merged (then it is skipped)."""
Suggest = Callable[..., Any]
"""``suggest(conn, program_id, a, b, *, probability, rule, evidence, now)``: the candidate
id, or None when the pair is known already."""

SOURCE = "match"
"""The ``merges.source`` of a merge made by a batch match."""


def apply_pairs(conn: Connection, program: Any, pairs: Sequence[Pair], *, merge: Merge,
                suggest: Suggest, now: datetime,
                evidence: Callable[[Pair], dict] | None = None,
                limits: Thresholds | None = None) -> Applied:
    """Merge pairs at or above the program's auto-merge threshold (surest first; the older
    member survives, and a member already merged away is followed to its survivor) and queue
    pairs at or above the suggest threshold for a person to decide. ``limits`` defaults to the
    program document's ``matching`` thresholds.

    Running it again on the same pairs changes nothing: merged members are followed to
    their survivor (the merge answers the existing merge), and a queued pair is known."""
    limits = limits or program_thresholds(conn, program)
    survivor_of: dict[int, int] = {}

    def resolve(member_id: int) -> int:
        while member_id in survivor_of:
            member_id = survivor_of[member_id]
        return member_id

    merged, queued, skipped = [], [], 0
    for pair in sorted(pairs, key=lambda p: (-p.probability, p.member_a, p.member_b)):
        a, b = sorted((resolve(pair.member_a), resolve(pair.member_b)))
        if a == b or pair.probability < limits.suggest:
            skipped += 1
        elif pair.probability >= limits.auto_merge:
            if merge(conn, program, a, b, reason=f"matching: probability {pair.probability:.4f}",
                     actor="matching", source=SOURCE, now=now) is None:
                skipped += 1
                continue
            survivor_of[b] = a
            merged.append((a, b))
        elif suggest(conn, program.id, a, b, probability=pair.probability, rule="splink",
                     evidence=evidence(pair) if evidence else {"levels": pair.levels},
                     now=now) is None:
            skipped += 1
        else:
            queued.append((a, b))
    return Applied(merged=merged, queued=queued, skipped=skipped)


def evidence_from(run: MatchRun) -> Callable[[Pair], dict]:
    """Evidence per field (the values compared, the level, its weight) from the scorer."""
    by_id = {r.member_id: r for r in run.records}
    return lambda pair: run.model.score(by_id[pair.member_a], by_id[pair.member_b]).evidence
