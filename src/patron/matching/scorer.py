"""Score one pair of records in pure Python from a stored Splink model.

Enrolment-time matching must answer in milliseconds, without starting DuckDB. The stored
settings are Splink's own JSON (``linker.misc.save_model_to_json``); every comparison level in
them carries a ``label_for_charts`` from the small grammar below (``LEVELS``), written by
``patron.matching.model`` beside the SQL condition it stands for, so this module evaluates the
same level Splink would and applies the same m and u probabilities and term-frequency
adjustments. The match weight is ``log2(prior odds) + Σ log2(m/u) + Σ tf adjustment`` and the
probability ``2^w / (1 + 2^w)``, as in Splink's ``predict()``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jellyfish
from sqlalchemy import Connection, bindparam, select

from patron.matching.records import MatchRecord
from patron.members.tables import match_models

Value = Any
Predicate = Callable[[MatchRecord, MatchRecord, str], bool]


def _values(a: MatchRecord, b: MatchRecord, column: str) -> tuple[Value, Value]:
    va, vb = getattr(a, column), getattr(b, column)
    if isinstance(va, tuple):
        va = va or None
    if isinstance(vb, tuple):
        vb = vb or None
    return va, vb


def _null(a: MatchRecord, b: MatchRecord, column: str) -> bool:
    va, vb = _values(a, b, column)
    return va is None or vb is None


def _exact(a: MatchRecord, b: MatchRecord, column: str) -> bool:
    va, vb = _values(a, b, column)
    return va is not None and va == vb


def _share_any(a: MatchRecord, b: MatchRecord, column: str) -> bool:
    va, vb = _values(a, b, column)
    return bool(va and vb and set(va) & set(vb))


def _swapped(a: MatchRecord, b: MatchRecord, column: str) -> bool:
    return (a.given_name is not None and a.given_name == b.family_name
            and a.family_name is not None and a.family_name == b.given_name)


def _else(a: MatchRecord, b: MatchRecord, column: str) -> bool:
    return True


def _jaro_winkler(threshold: float) -> Predicate:
    def level(a: MatchRecord, b: MatchRecord, column: str) -> bool:
        va, vb = _values(a, b, column)
        return (va is not None and vb is not None
                and jellyfish.jaro_winkler_similarity(va, vb) >= threshold)
    return level


def _levenshtein(distance: int) -> Predicate:
    def level(a: MatchRecord, b: MatchRecord, column: str) -> bool:
        va, vb = _values(a, b, column)
        return (va is not None and vb is not None
                and jellyfish.levenshtein_distance(va, vb) <= distance)
    return level


_FIXED: dict[str, Predicate] = {"null": _null, "exact": _exact, "share any": _share_any,
                                "swapped given and family name": _swapped, "else": _else}
_JW = re.compile(r"^jaro-winkler >= ([0-9.]+)$")
_LEV = re.compile(r"^levenshtein <= ([0-9]+)$")


def level_predicate(label: str) -> Predicate:
    """The Python test for a level label (the grammar ``model.level`` writes)."""
    if label in _FIXED:
        return _FIXED[label]
    if m := _JW.match(label):
        return _jaro_winkler(float(m.group(1)))
    if m := _LEV.match(label):
        return _levenshtein(int(m.group(1)))
    raise ValueError(f"unknown comparison level label {label!r}")


@dataclass(frozen=True, slots=True)
class Level:
    label: str
    test: Predicate
    is_null: bool
    weight: float
    """``log2(m/u)``; 0 for the null level."""
    tf_log2_u: float | None
    """``log2(u)`` of the exact-match level when this level is term-frequency adjusted."""
    tf_weight: float
    tf_minimum_u: float


@dataclass(frozen=True, slots=True)
class Comparison:
    column: str
    levels: tuple[Level, ...]


@dataclass(frozen=True, slots=True)
class Scored:
    probability: float
    match_weight: float
    evidence: dict[str, dict]
    """Per field: ``left``, ``right`` (the keys compared), ``level`` (its label) and
    ``weight`` (the level's match weight, term frequency included)."""


def to_probability(match_weight: float) -> float:
    if match_weight > 1000:
        return 1.0
    if match_weight < -1000:
        return 0.0
    odds = 2.0 ** match_weight
    return odds / (1.0 + odds)


@dataclass(slots=True)
class MatchModel:
    """A trained model: Splink settings plus the term frequencies of the training data."""

    settings: dict[str, Any]
    term_frequencies: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """Per column, value → share of non-null values; values seen once are left out and
    counted as ``1 / rows[column]``."""
    rows: Mapping[str, int] = field(default_factory=dict)
    comparisons: tuple[Comparison, ...] = ()
    prior_weight: float = 0.0

    def __post_init__(self) -> None:
        p = float(self.settings["probability_two_random_records_match"])
        self.prior_weight = math.log2(p / (1 - p))
        self.comparisons = tuple(_comparison(c) for c in self.settings["comparisons"])

    def term_frequency(self, column: str, value: str) -> float | None:
        table = self.term_frequencies.get(column)
        if table is None:
            return None
        found = table.get(value)
        if found is not None:
            return found
        return 1.0 / max(self.rows.get(column, 1), 1)

    def score(self, a: MatchRecord, b: MatchRecord) -> Scored:
        total = self.prior_weight
        evidence: dict[str, dict] = {}
        for comparison in self.comparisons:
            level = next(lv for lv in comparison.levels if lv.test(a, b, comparison.column))
            weight = level.weight + self._tf_adjustment(level, comparison.column, a)
            total += weight
            va, vb = _values(a, b, comparison.column)
            evidence[comparison.column] = {
                "left": list(va) if isinstance(va, tuple) else va,
                "right": list(vb) if isinstance(vb, tuple) else vb,
                "level": level.label, "weight": round(weight, 6)}
        return Scored(probability=to_probability(total), match_weight=total, evidence=evidence)

    def _tf_adjustment(self, level: Level, column: str, a: MatchRecord) -> float:
        if level.tf_log2_u is None:
            return 0.0
        value = getattr(a, column)
        tf = self.term_frequency(column, value) if value is not None else None
        if tf is None:
            return 0.0
        return level.tf_weight * (level.tf_log2_u - math.log2(max(tf, level.tf_minimum_u)))


def _log2_ratio(m: float, u: float) -> float:
    """``log2(m/u)`` as DuckDB computes it: a level never seen among matches (m = 0) rules the
    pair out, one never seen among non-matches (u = 0) rules it in."""
    if m == 0:
        return -math.inf
    if u == 0:
        return math.inf
    return math.log2(m / u)


def _comparison(spec: Mapping[str, Any]) -> Comparison:
    raw = spec["comparison_levels"]
    exact_u = next((lv.get("u_probability") for lv in raw
                    if lv.get("label_for_charts") == "exact"), None)
    levels = []
    for lv in raw:
        is_null = bool(lv.get("is_null_level"))
        weight = 0.0 if is_null else _log2_ratio(lv["m_probability"], lv["u_probability"])
        tf = lv.get("tf_adjustment_column") and exact_u
        levels.append(Level(
            label=lv["label_for_charts"], test=level_predicate(lv["label_for_charts"]),
            is_null=is_null, weight=weight, tf_log2_u=math.log2(exact_u) if tf else None,
            tf_weight=float(lv.get("tf_adjustment_weight", 1.0)),
            tf_minimum_u=float(lv.get("tf_minimum_u_value", 0.0))))
    return Comparison(column=spec["output_column_name"], levels=tuple(levels))


def model_from_json(text: str) -> MatchModel:
    """A model from the JSON ``patron.matching.model.stored_json`` writes."""
    doc = json.loads(text)
    return MatchModel(settings=doc["splink"], term_frequencies=doc.get("term_frequencies", {}),
                      rows=doc.get("rows", {}))


_LATEST_MODEL = (select(match_models.c.settings)
                 .where(match_models.c.program_id == bindparam("program_id"))
                 .order_by(match_models.c.created_at.desc(), match_models.c.id.desc())
                 .limit(1))
"""Built once: enrolment asks for the model at every new member."""
_PARSED: dict[str, MatchModel] = {}
_PARSED_MAX = 8


def load_model(conn: Connection, program_id: int) -> MatchModel | None:
    """The program's latest trained model, or ``None`` before one is trained. A stored
    model never changes, so its parsed form is kept by its text: enrolment does not parse
    the same JSON for every new member."""
    text = conn.execute(_LATEST_MODEL, {"program_id": program_id}).scalar()
    if text is None:
        return None
    found = _PARSED.get(text)
    if found is None:
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.pop(next(iter(_PARSED)))
        found = _PARSED[text] = model_from_json(text)
    return found


_MODEL_BY_ID = select(match_models.c.settings).where(
    match_models.c.program_id == bindparam("program_id"),
    match_models.c.id == bindparam("model_id"))
_BY_ID: dict[tuple[Any, int, int], MatchModel] = {}


def model_by_id(conn: Connection, program_id: int, model_id: int | None) -> MatchModel | None:
    """The program's stored model ``model_id`` (None for None), parsed once per process.

    A stored model is never changed (training again stores a new one, with a new id), so
    the parsed model is kept by its database, program and id: enrolment, told the latest
    model's id by the query that reads the new member, reads and parses a model only after
    a training."""
    if model_id is None:
        return None
    key = (conn.engine.url, program_id, model_id)
    found = _BY_ID.get(key)
    if found is None:
        text = conn.execute(_MODEL_BY_ID, {"program_id": program_id,
                                           "model_id": model_id}).scalar()
        if text is None:
            return None
        if len(_BY_ID) >= _PARSED_MAX:
            _BY_ID.pop(next(iter(_BY_ID)))
        found = _BY_ID[key] = model_from_json(text)
    return found
