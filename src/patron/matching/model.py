"""The Splink model: which pairs are compared (blocking), how (comparisons) and training.

The comparisons are written as plain SQL conditions with a label from the grammar that
``patron.matching.scorer`` evaluates in Python, so one stored model scores a batch in DuckDB
and a single pair at enrolment without it. Names, city and family name carry term-frequency
adjustments: agreeing on a rare surname is stronger evidence than agreeing on "smith".

Training is unsupervised: u probabilities by random sampling of pairs (fixed seed, so the same
members give the same model), then m probabilities by expectation-maximisation in sessions
whose blocking rules leave each comparison free in at least one session.

Running the same model on Spark, for a brand that outgrows one machine: the settings stored in
``match_models`` are Splink's own JSON and every SQL condition here is portable (``levenshtein``,
``jaro_winkler_similarity`` and ``array_intersect`` exist in Spark SQL; Splink translates
``list_intersect`` through sqlglot). Export the match rows (``MatchRecord.as_row``) to Parquet,
then on the cluster::

    from pyspark.sql import SparkSession
    from splink import Linker, SparkAPI
    spark = SparkSession.builder.getOrCreate()
    db_api = SparkAPI(spark_session=spark)
    df = db_api.register(spark.read.parquet("members.parquet"))
    linker = Linker(df, json.loads(stored)["splink"])   # or train there with ``train`` below
    linker.inference.predict(threshold_match_probability=0.9).as_spark_dataframe()

and load the pairs back with ``patron members match``'s CSV columns.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from splink import DuckDBAPI, Linker, block_on
from splink.internals.exceptions import SplinkException

from patron.errors import InvalidInput
from patron.matching.records import COLUMNS, MatchRecord

SEED = 14
"""Seed of the random sampling that estimates u: one set of members, one model."""

TF_COLUMNS = ("given_name", "family_name", "city")

TRAIN_ROWS = 200_000
"""Past this many members the model is trained on a random sample of them (fixed seed): u,
m and the share of matching pairs are proportions, which a sample of 200,000 estimates as
well as a million, while EM over a million members' blocked pairs costs minutes."""


def level(column: str, label: str, *, tf: bool = False) -> dict[str, Any]:
    """One comparison level: the SQL Splink runs, labelled in the scorer's grammar."""
    left, right = f'"{column}_l"', f'"{column}_r"'
    if label == "null":
        sql = f"{left} IS NULL OR {right} IS NULL"
    elif label == "exact":
        sql = f"{left} = {right}"
    elif label == "share any":
        sql = f"len(list_intersect({left}, {right})) > 0"
    elif label == "swapped given and family name":
        sql = ('"given_name_l" = "family_name_r" AND "family_name_l" = "given_name_r"')
    elif label == "else":
        sql = "ELSE"
    elif label.startswith("jaro-winkler >= "):
        sql = f"jaro_winkler_similarity({left}, {right}) >= {label.rsplit(' ', 1)[1]}"
    elif label.startswith("levenshtein <= "):
        sql = f"levenshtein({left}, {right}) <= {label.rsplit(' ', 1)[1]}"
    else:
        raise ValueError(f"unknown level {label!r}")
    out: dict[str, Any] = {"sql_condition": sql, "label_for_charts": label}
    if label == "null":
        out["is_null_level"] = True
    if tf and label == "exact":
        out["tf_adjustment_column"] = column
        out["tf_adjustment_weight"] = 1.0
    return out


def comparison(column: str, labels: Sequence[str], *, tf: bool = False) -> dict[str, Any]:
    return {"output_column_name": column,
            "comparison_levels": [level(column, "null")]
            + [level(column, lb, tf=tf) for lb in labels] + [level(column, "else")]}


def comparisons() -> list[dict[str, Any]]:
    names = ["exact", "jaro-winkler >= 0.92", "jaro-winkler >= 0.8"]
    return [
        comparison("given_name", names[:1] + ["swapped given and family name"] + names[1:],
                   tf=True),
        comparison("family_name", names, tf=True),
        comparison("birthdate", ["exact", "levenshtein <= 1", "levenshtein <= 2"]),
        comparison("gender", ["exact"]),
        comparison("street_number", ["exact", "levenshtein <= 1"]),
        comparison("address", ["exact", "jaro-winkler >= 0.9", "jaro-winkler >= 0.7"]),
        comparison("postcode", ["exact", "levenshtein <= 1"]),
        comparison("city", ["exact", "jaro-winkler >= 0.88"], tf=True),
        comparison("state", ["exact"]),
        comparison("emails", ["share any"]),
        comparison("phones", ["share any"]),
        comparison("external_ids", ["share any"]),
    ]


BLOCKING = [
    block_on("given_name", "family_name"),
    block_on("family_name", "birthdate"),
    block_on("given_name", "birthdate"),
    block_on("birthdate", "postcode"),
    block_on("family_name", "postcode"),
    block_on("given_name", "postcode"),
    block_on("address", "street_number"),
    block_on("address", "postcode"),
    block_on("street_number", "postcode"),
    block_on("street_number", "city"),
    block_on("family_name", "city"),
    block_on("birthdate", "street_number"),
    block_on("birthdate", "city"),
    block_on("email"),
    block_on("phone"),
    block_on("external_id"),
]
"""Pairs are compared only when they agree on one of these: each is a combination a
duplicate rarely gets wrong twice, and none is so common that it compares everyone. The
street goes with its house number or its postcode: a street name alone ("high street") is
shared by so many members that at a million it alone made 60M of 62M pairs."""


def settings() -> dict[str, Any]:
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": "member_id",
        "probability_two_random_records_match": 1e-4,
        "blocking_rules_to_generate_predictions": BLOCKING,
        "comparisons": comparisons(),
        "retain_matching_columns": True,
        "retain_intermediate_calculation_columns": False,
    }


SCHEMA = pa.schema([(c, pa.int64() if c == "member_id" else
                      pa.list_(pa.string()) if c in ("emails", "phones", "external_ids")
                      else pa.string()) for c in COLUMNS])
"""The Arrow schema of the table Splink reads (``records.COLUMNS``)."""


def records_table(records: Sequence[MatchRecord] | Sequence[dict[str, Any]]) -> pa.Table:
    """The Arrow table Splink reads: one row per record (``MatchRecord.as_row``)."""
    rows = [r.as_row() if isinstance(r, MatchRecord) else r for r in records]
    columns: dict[str, list[Any]] = {c: [row[c] for row in rows] for c in COLUMNS}
    return pa.Table.from_pydict(columns, schema=SCHEMA)


def linker(table: pa.Table, model_settings: dict[str, Any]) -> Linker:
    """Splink's linker, logging errors only: its warnings say which comparison levels a
    program's data never showed (usual: a program has few duplicates), a page of them on
    every `patron members match`, burying the command's own result."""
    db_api = DuckDBAPI()
    return Linker(db_api.register(table), model_settings, log_level=logging.ERROR)


class Untrainable(InvalidInput):
    code = "match_model_untrainable"
    title = "Not enough profile data to train a matching model"


def train(table: pa.Table, *, max_pairs: float = 2e6,
          em_max_pairs: float | None = None) -> Linker:
    """Train a fresh model on these records (see the module docstring); ``Untrainable``
    when they hold too little to learn from (no pairs share names or birthdates)."""
    try:
        return _train(table, max_pairs=max_pairs, em_max_pairs=em_max_pairs)
    except (SplinkException, ValueError, ZeroDivisionError) as error:
        raise Untrainable(
            f"the {len(table):,} members hold too little profile data to train a matching "
            "model (it learns from members who share given and family names or a "
            f"birthdate): {error}") from error


def _train(table: pa.Table, *, max_pairs: float, em_max_pairs: float | None) -> Linker:
    trained = linker(table, settings())
    deterministic = [block_on("given_name", "family_name", "birthdate"),
                     block_on("external_id"), block_on("email"), block_on("phone")]
    trained.training.estimate_probability_two_random_records_match(deterministic, recall=0.8)
    trained.training.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=SEED)
    # not a session blocked on the address: people who share one are mostly households,
    # and EM would learn that as "the same person"
    for rule in (block_on("given_name", "family_name"), block_on("birthdate")):
        trained.training.estimate_parameters_using_expectation_maximisation(
            rule, max_pairs=em_max_pairs)
    return trained


def term_frequencies(trained: Linker, table: pa.Table
                     ) -> tuple[dict[str, dict[str, float]], dict[str, int]]:
    """The term frequencies Splink computes, keeping values seen more than once: a value
    seen once (or never) has frequency ``1 / rows``, and the scorer counts it so."""
    tables: dict[str, dict[str, float]] = {}
    rows: dict[str, int] = {}
    for column in TF_COLUMNS:
        known = len(table) - table.column(column).null_count
        if not known:
            continue
        tf = trained.table_management.compute_tf_table(column).as_duckdbpyrelation()
        rows[column] = known
        tables[column] = {value: share for value, share in tf.fetchall()
                          if share * known > 1.5}
    return tables, rows


def resolve_untrained(trained: Linker, splink: dict[str, Any]) -> None:
    """Write into the saved settings the m and u that predict() used for levels training
    never saw (Splink's defaults, 1e-6 for a level not observed), so that the stored model
    says everything it scores with."""
    live = trained._settings_obj.comparisons  # noqa: SLF001 - the resolved levels
    for saved, comparison_obj in zip(splink["comparisons"], live, strict=True):
        for saved_level, level_obj in zip(saved["comparison_levels"],
                                          comparison_obj.comparison_levels, strict=True):
            if saved_level.get("is_null_level"):
                continue
            saved_level["m_probability"] = level_obj.m_probability
            saved_level["u_probability"] = level_obj.u_probability


def stored_json(trained: Linker, table: pa.Table, *,
                splink: dict[str, Any] | None = None, over: Linker | None = None) -> str:
    """What ``match_models.settings`` holds: Splink's model JSON and the term frequencies
    of ``table``, computed by ``over`` when that linker (not ``trained``) reads it."""
    tables, rows = term_frequencies(over or trained, table)
    if splink is None:
        splink = trained.misc.save_model_to_json()
        resolve_untrained(trained, splink)
    return json.dumps({"splink": splink, "term_frequencies": tables, "rows": rows},
                      separators=(",", ":"))


def training_sample(table: pa.Table, rows: int = TRAIN_ROWS) -> pa.Table:
    """``rows`` members of ``table`` drawn at random with ``SEED``, in table order; the
    whole table when it is no larger."""
    if len(table) <= rows:
        return table
    return table.take(pa.array(sorted(random.Random(SEED).sample(range(len(table)), rows))))


def train_for(table: pa.Table, *, em_max_pairs: float | None = None,
              sample_rows: int = TRAIN_ROWS) -> tuple[Linker, str]:
    """Train on ``table`` (or a sample of it, ``training_sample``) and return a linker that
    predicts over all of ``table`` with the new model, and the model's stored JSON. The term
    frequencies are the whole table's, as prediction uses them."""
    sample = training_sample(table, sample_rows)
    trained = train(sample, em_max_pairs=em_max_pairs)
    if sample is table:
        return trained, stored_json(trained, table)
    splink = trained.misc.save_model_to_json()
    resolve_untrained(trained, splink)
    predicting = linker(table, splink)
    return predicting, stored_json(trained, table, splink=splink, over=predicting)
