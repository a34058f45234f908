"""Pure insight logic: age bands, model figures, and conditions over feature rows.

Nothing here touches the database. A segment or a rule tag is judged member by
member on the features the job materialised, so the evaluator is built for many
rows: the condition is compiled once, each row hands CEL only the fields the
condition reads, and rows that read the same values share one evaluation (most
conditions read a score, a tier, a count: a few hundred distinct combinations
among a million members).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from patron.analytics import clv
from patron.analytics.domain import InsufficientData, score_rfm_columns, to_minor_all
from patron.errors import InvalidInput
from patron.program.activation import feature_or_zero, features_value
from patron.program.catalog import FEATURE_FIELDS, ZERO_VALUES
from patron.program.cel import (CelSyntaxError, Condition, ConditionError, build_activation,
                                compile_condition, make_context)
from patron.program.semantics import check_feature_condition

AGE_BANDS: tuple[tuple[int, str], ...] = (
    (18, "under-18"), (25, "18-24"), (35, "25-34"), (45, "35-44"), (55, "45-54"),
    (65, "55-64"), (200, "65+"))
MAX_EXPECTED_MINOR = 1e15
"""An expected value beyond this (minor units) is a model that did not fit the member
(Gamma-Gamma can run to infinity on odd spend histories): it reads as unknown."""
EXPIRING_DAYS = 30
"""``expiring_points``: available points whose lot expires within this many days."""
HORIZON_DAYS = 90
"""``expected_purchases`` and ``expected_value`` look this many days ahead."""
FIT_SAMPLE = 10_000
"""BG/NBD and Gamma-Gamma are fitted on at most this many purchasing members (a
random sample, fixed seed); predictions are then made for every member."""


class InvalidCondition(InvalidInput):
    code = "invalid_condition"
    title = "The condition cannot be used"


def age_band(birthdate: date | None, today: date) -> str | None:
    if birthdate is None:
        return None
    age = today.year - birthdate.year - ((today.month, today.day)
                                         < (birthdate.month, birthdate.day))
    return next(label for limit, label in AGE_BANDS if age < limit)


def feature_condition(source: str, field: str = "condition") -> Condition:
    """A segment's or rule tag's condition, compiled, or ``InvalidCondition`` naming
    what is wrong (with the CEL error's line and column) at ``field``."""
    problems = check_feature_condition(field, source)
    if problems:
        raise InvalidCondition("; ".join(message for _, message, _ in problems), field=field)
    try:
        return compile_condition(source)
    except CelSyntaxError as exc:  # checked above; kept for a clear error if not
        raise InvalidCondition(str(exc), field=field, line=exc.line, column=exc.column) from None


def read_columns(condition: Condition) -> tuple[str, ...]:
    """The ``member_features`` columns a condition reads (``tags`` for member.tags)."""
    names = {path[2] for path in condition.paths
             if path[:2] == ("member", "features") and len(path) > 2 and path[2] in FEATURE_FIELDS}
    if any(path[:2] == ("member", "tags") for path in condition.paths):
        names.add("tags")
    if any(path in {("member",), ("member", "features")} for path in condition.paths) \
            or "member" in condition.reads.nested:
        names.update(FEATURE_FIELDS)
        names.add("tags")
    return tuple(sorted(names))


def matching(condition: Condition, columns: Sequence[str],
             rows: Iterable[tuple[Any, ...]]) -> list[int]:
    """Ids of the rows (``member_id`` first, then ``columns``) the condition holds for.

    Each distinct combination of the values the condition reads is evaluated once.
    A row whose values the condition cannot take (an error, not a false) does not match.
    """
    judged: dict[tuple[Any, ...], bool] = {}
    tags_at = columns.index("tags") + 1 if "tags" in columns else None
    found = []
    for row in rows:
        values = tuple(row[1:]) if tags_at is None else tuple(
            tuple(v or ()) if i == tags_at else v for i, v in enumerate(row) if i)
        verdict = judged.get(values)
        if verdict is None:
            verdict = judged[values] = _holds(condition, columns, values)
        if verdict:
            found.append(row[0])
    return found


def matching_columns(condition: Condition, columns: Sequence[str], member_ids: Sequence[int],
                     values: Sequence[Sequence[Any]]) -> np.ndarray:
    """Ids (ascending, as ``member_ids``) the condition holds for, given one sequence of
    values per column in ``columns`` (``tags`` as tuples): as ``matching``, but each
    column is factorised as a whole and each distinct combination evaluated once, so
    a million members cost a few array operations rather than a Python step each."""
    ids = np.asarray(member_ids, dtype=np.int64)
    if len(ids) == 0:
        return ids
    key = np.zeros(len(ids), dtype=np.int64)
    codes, uniques = [], []
    for name, column in zip(columns, values):
        code, unique = pd.factorize(pd.Series(column, dtype=object), use_na_sentinel=False)
        codes.append(code)
        uniques.append([_plain(name, value) for value in unique])
        key = key * (len(unique) + 1) + code
        _, key = np.unique(key, return_inverse=True)  # keeps the key small
    first, inverse = np.unique(key, return_index=True, return_inverse=True)[1:]
    judge = _judge(condition, columns)
    verdicts = np.array([judge([u[c[i]] for u, c in zip(uniques, codes)])
                         for i in first.tolist()], dtype=bool)
    return ids[verdicts[inverse.reshape(-1)]]


def _judge(condition: Condition, columns: Sequence[str]) -> Callable[[Sequence[Any]], bool]:
    """Whether the condition holds for plain values of ``columns``: for conditions that
    read only member.features fields and member.tags, variables are bound directly."""
    slots = []
    for variable, path in condition.reads.flat.items():
        name = "tags" if path == ("member", "tags") else (
            path[2] if len(path) == 3 and path[1] == "features" else None)
        if name not in columns or condition.reads.nested:
            return lambda values: _holds(condition, columns, values)
        slots.append((variable, columns.index(name), name == "tags",
                      None if name == "tags" else ZERO_VALUES[FEATURE_FIELDS[name]]))

    def judge(values: Sequence[Any]) -> bool:
        variables = {variable: (list(values[at] or ()) if tags else
                                zero if values[at] is None else values[at])
                     for variable, at, tags, zero in slots}
        try:
            return condition.evaluate(make_context(variables))
        except ConditionError:
            return False
    return judge


def _holds(condition: Condition, columns: Sequence[str], values: Sequence[Any]) -> bool:
    read = {name: _plain(name, value) for name, value in zip(columns, values)}
    if condition.reads.nested or not all(
            path == ("member", "tags") or (len(path) == 3 and path[1] == "features")
            for path in condition.reads.flat.values()):
        features = {k: v for k, v in read.items() if k != "tags"}
        member = {"features": features_value(features), "tags": list(read.get("tags") or ())}
        variables = build_activation({"member": member}, condition.reads)
    else:
        variables = {name: _flat_value(path, read) for name, path in condition.reads.flat.items()}
    try:
        return condition.evaluate(make_context(variables))
    except ConditionError:
        return False


def _flat_value(path: tuple[str, ...], read: Mapping[str, Any]) -> Any:
    if path == ("member", "tags"):
        return list(read.get("tags") or ())
    return feature_or_zero(read, path[2])


def _plain(name: str, value: Any) -> Any:
    """A value as the catalog types it (pandas turns missing ints into NaN floats)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    kind = FEATURE_FIELDS.get(name)
    if kind == "int":
        return int(value)
    if kind == "double":
        return float(value)
    if name == "tags":
        return value
    if kind == "string" and not isinstance(value, str):
        return value.isoformat() if hasattr(value, "isoformat") else str(value)
    return value


SUMMARY_COLUMNS = ("member_id", "orders", "spend", "first_day", "last_day", "days",
                   "first_spend")


def purchase_summaries(member_ids: np.ndarray, days: np.ndarray, spend: np.ndarray
                       ) -> np.ndarray:
    """Each buyer's purchase summary from one entry per order (its member, its UTC epoch
    day, what was paid net of returns): an int64 array, a row per member ascending, with
    ``SUMMARY_COLUMNS``: orders, spend, first and last purchase day, distinct purchase
    days, and the spend of the first purchase day (the lifetime models count repeat
    purchase *days*, and value the repeats without the first day)."""
    if len(member_ids) == 0:
        return np.zeros((0, len(SUMMARY_COLUMNS)), dtype=np.int64)
    order = np.lexsort((days, member_ids))
    member, day, paid = member_ids[order], days[order], spend[order]
    new_member = np.r_[True, member[1:] != member[:-1]]
    starts = np.flatnonzero(new_member)
    orders = np.diff(np.r_[starts, len(member)])
    first, last = day[starts], day[np.r_[starts[1:], len(member)] - 1]
    new_day = new_member | np.r_[True, day[1:] != day[:-1]]
    on_first = np.where(day == np.repeat(first, orders), paid, 0)
    return np.column_stack([member[starts], orders, np.add.reduceat(paid, starts), first, last,
                            np.add.reduceat(new_day.astype(np.int64), starts),
                            np.add.reduceat(on_first, starts)]).astype(np.int64)


@dataclass(frozen=True)
class ModelFigures:
    """Per member (in the order given): churn probability, expected purchases and
    expected value (minor units); None where the member has no purchase or no model fit."""

    churn_probability: list[float | None]
    expected_purchases: list[float | None]
    expected_value: list[int | None]


def model_figures(frequency: np.ndarray, recency_days: np.ndarray, age_days: np.ndarray,
                  repeat_spend: np.ndarray, minor_exponent: int) -> ModelFigures:
    """BG/NBD and Gamma-Gamma (``analytics.clv``) fitted on a sample, predicted for all.

    Inputs are per purchasing member, in days, with repeat spend in minor units; a
    member with no purchase at all is passed with ``age_days`` < 0 and gets None.
    """
    n = len(frequency)
    none = ModelFigures([None] * n, [None] * n, [None] * n)
    bought = age_days >= 0
    if not bought.any():
        return none
    scale = 10.0 ** minor_exponent
    idx = np.flatnonzero(bought)
    sample = idx if len(idx) <= FIT_SAMPLE else np.sort(
        np.random.default_rng(7).choice(idx, FIT_SAMPLE, replace=False))
    try:
        model = clv.fit(_histories(sample, frequency, recency_days, age_days, repeat_spend,
                                   scale))
    except (InsufficientData, clv.ModelDidNotConverge):
        return none
    ahead = clv.predict(model, clv.Histories(  # arrays as they are: predict reads arrays
        idx, frequency[idx], recency_days[idx], age_days[idx], repeat_spend[idx] / scale),
        HORIZON_DAYS)
    money = np.asarray(ahead.expected_value, dtype=float)
    credible = np.isfinite(money) & (np.abs(money) * scale < MAX_EXPECTED_MINOR)
    worth = np.asarray(to_minor_all(np.where(credible, money, 0.0), minor_exponent),
                       dtype=object)
    alive = np.asarray(ahead.probability_alive, dtype=float)
    expected = np.asarray(ahead.expected_purchases, dtype=float)
    with np.errstate(invalid="ignore"):
        churn = np.round(1.0 - alive, 6)
    return ModelFigures(_spread(n, idx, np.isfinite(alive), churn),
                        _spread(n, idx, np.isfinite(expected), np.round(expected, 6)),
                        _spread(n, idx, credible, worth))


def _spread(n: int, idx: np.ndarray, known: np.ndarray, values: np.ndarray) -> list[Any]:
    """``values`` (of the members at ``idx``) placed among ``n``, None where not known."""
    out = np.full(n, None, dtype=object)
    out[idx[known]] = values[known]
    return out.tolist()


def _histories(idx: np.ndarray, frequency: np.ndarray, recency: np.ndarray, age: np.ndarray,
               spend: np.ndarray, scale: float) -> clv.Histories:
    return clv.Histories(idx.tolist(), frequency[idx].tolist(), recency[idx].tolist(),
                         age[idx].tolist(), (spend[idx] / scale).tolist())


def buyer_rfm(member_ids: np.ndarray, recency_days: np.ndarray, frequency: np.ndarray,
              monetary: np.ndarray) -> tuple[list[int], list[int], list[int], list[str]]:
    """R, F, M scores (1-5) and the named RFM segment of purchasing members, scored
    among purchasing members only (``analytics.domain``); the others have none."""
    table = score_rfm_columns(member_ids, recency_days, frequency, monetary)
    return table.r, table.f, table.m, table.segment


def tag_changes(current: Mapping[int, set[str]], wanted: Mapping[str, set[int]]
                ) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """Rule tags to add and to take away: ``current`` is each member's rule tags now,
    ``wanted`` each rule tag's members by its condition."""
    add = sorted((member, tag) for tag, members in wanted.items() for member in members
                 if tag not in current.get(member, ()))
    remove = sorted((member, tag) for member, tags in current.items() for tag in tags
                    if member not in wanted.get(tag, ()))
    return add, remove
