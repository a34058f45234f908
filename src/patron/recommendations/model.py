"""Fitting a recommender on members' histories, and ranking each member's next items.

Pure: arrays in, rankings out; the database is the service's. The history is one
matrix of members × items, where an item is a category, a product (SKU) or a
reward, and a cell counts the orders that held the category or product, or the
member's redemptions of the reward. One model over all three kinds is what lets
it say "members who buy coffee beans also redeem the mug".

Algorithms come from ``implicit`` (a registry, ``ALGORITHMS``):

- ``cosine`` (the default) and ``bm25``: item-item nearest neighbours. Each
  item keeps its ``neighbours`` most similar items; a member's score for an item
  is the sum, over what the member bought or redeemed, of how much of it
  (``log1p`` of the count) times its similarity to the item. Deterministic.
- ``als``: implicit-feedback matrix factorisation (alternating least squares),
  seeded, so the same history and seed give the same factors.

Every fit runs on ``threads`` threads (``implicit``'s own and the BLAS pool both),
one by default: the machine is shared, and one thread also keeps sums in the same
order, so a training is repeatable.

Items a member already has count: a member who buys coffee beans every week is
likely to buy them again, and ranking them first is what the held-out later
purchases reward (``benchmarks/recommendations.py``).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.nearest_neighbours import ItemItemRecommender, bm25_weight, normalize
from threadpoolctl import threadpool_limits

KINDS: tuple[str, ...] = ("category", "product", "reward")
"""Item kinds, in the order their columns come in the matrix."""
CELLS_PER_BATCH = 8_000_000
"""Members are scored in batches of at most this many (member, item) scores (32 MB)..."""
MEMBERS_PER_BATCH = 2_000
"""... and at most this many members."""


@dataclass(frozen=True)
class Parameters:
    """How to fit and how much to keep; stored with the model."""

    algorithm: str = "cosine"
    top: int = 10
    """Items kept per member and kind."""
    neighbours: int = 100
    """``cosine``/``bm25``: similar items each item keeps."""
    factors: int = 32
    """``als``: latent factors."""
    regularization: float = 20.0
    """``als``: the L2 penalty on the factors (``implicit``'s ``regularization``)."""
    iterations: int = 15
    seed: int = 7
    threads: int = 1

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class History:
    """``counts[m, i]``: how often member ``member_ids[m]`` bought or redeemed ``items[i]``.

    ``items`` are ``(kind, key)`` pairs ordered by kind (``KINDS``) then key, so each
    kind's columns are one slice.
    """

    member_ids: np.ndarray
    items: tuple[tuple[str, str], ...]
    counts: sp.csr_matrix

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[int, str, str, int]]) -> History:
        """From ``(member_id, kind, key, count)`` rows in any order (duplicates add up)."""
        if not rows:
            return cls(np.zeros(0, dtype=np.int64), (), sp.csr_matrix((0, 0), dtype=np.float32))
        frame = pd.DataFrame.from_records(rows, columns=["member", "kind", "key", "count"])
        member_ids, row = np.unique(frame["member"].to_numpy(np.int64), return_inverse=True)
        col = np.zeros(len(frame), dtype=np.int64)
        items: list[tuple[str, str]] = []
        for kind in KINDS:  # columns ordered by kind, then key
            at = np.flatnonzero((frame["kind"] == kind).to_numpy())
            codes, keys = pd.factorize(frame["key"].to_numpy(object)[at], sort=True)
            col[at] = codes + len(items)
            items += [(kind, key) for key in keys.tolist()]
        counts = frame["count"].to_numpy(np.float32)
        matrix = sp.csr_matrix((counts, (row, col)),
                               shape=(len(member_ids), len(items)))
        matrix.sum_duplicates()
        return cls(member_ids, tuple(items), matrix)

    def span(self, kind: str) -> slice:
        """The columns of one kind."""
        kinds = [k for k, _ in self.items]
        start = next((n for n, k in enumerate(kinds) if k == kind), len(kinds))
        stop = start
        while stop < len(kinds) and kinds[stop] == kind:
            stop += 1
        return slice(start, stop)

    @property
    def weights(self) -> sp.csr_matrix:
        """``log1p`` of the counts: the tenth coffee says less than the first."""
        weighted = self.counts.copy()
        weighted.data = np.log1p(weighted.data).astype(np.float32)
        return weighted


class Fitted(Protocol):
    """A fitted model: scores of members (rows of the history it was fitted on) for
    every item, and how alike items are (for the reason given)."""

    def scores(self, rows: np.ndarray) -> np.ndarray: ...

    def affinity(self, given: np.ndarray, items: np.ndarray) -> np.ndarray:
        """How alike ``given[n]`` and ``items[n]`` are, pair by pair."""

    def arrays(self) -> dict[str, np.ndarray]: ...


class ItemItem:
    """``implicit``'s item-item nearest neighbours: each item's most similar items."""

    def __init__(self, weights: sp.csr_matrix, similarity: sp.csr_matrix) -> None:
        self.weights = weights
        self.similarity = similarity

    def scores(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray((self.weights[rows] @ self.similarity).todense(), dtype=np.float32)

    def affinity(self, given: np.ndarray, items: np.ndarray) -> np.ndarray:
        return np.asarray(self.similarity[given, items], dtype=np.float32).ravel()

    def arrays(self) -> dict[str, np.ndarray]:
        s = self.similarity
        return {"similarity_data": s.data, "similarity_indices": s.indices,
                "similarity_indptr": s.indptr, "similarity_shape": np.asarray(s.shape)}


class Factors:
    """``implicit``'s alternating least squares: member and item factors."""

    def __init__(self, users: np.ndarray, items: np.ndarray) -> None:
        self.users = users
        self.items = items
        norms = np.linalg.norm(items, axis=1, keepdims=True)
        self.unit = items / np.where(norms > 0, norms, 1)

    def scores(self, rows: np.ndarray) -> np.ndarray:
        return self.users[rows] @ self.items.T

    def affinity(self, given: np.ndarray, items: np.ndarray) -> np.ndarray:
        found = np.empty(len(given), dtype=np.float32)
        for start in range(0, len(given), 100_000):
            end = start + 100_000
            found[start:end] = np.einsum("ij,ij->i", self.unit[given[start:end]],
                                         self.unit[items[start:end]])
        return found

    def arrays(self) -> dict[str, np.ndarray]:
        return {"item_factors": self.items}


def _cosine(history: History, parameters: Parameters) -> Fitted:
    """Items alike by the cosine of their columns (``CosineRecommender``'s similarity)."""
    weights = history.weights
    unit = normalize(weights.T.tocsr()).T.tocsr()
    return _item_item(weights, ItemItemRecommender(K=parameters.neighbours,
                                                   num_threads=parameters.threads), unit)


def _bm25(history: History, parameters: Parameters) -> Fitted:
    """Items alike by BM25-weighted co-occurrence (``BM25Recommender``'s weighting)."""
    weighted = bm25_weight(history.counts.T.tocsr(), K1=1.2, B=0.75).T.tocsr()
    return _item_item(history.weights, ItemItemRecommender(
        K=parameters.neighbours, num_threads=parameters.threads), weighted)


def _item_item(weights: sp.csr_matrix, recommender: Any,
               fitted_on: sp.csr_matrix | None = None) -> Fitted:
    recommender.fit((weights if fitted_on is None else fitted_on).astype(np.float64),
                    show_progress=False)
    return ItemItem(weights, recommender.similarity.tocsr().astype(np.float32))


def _als(history: History, parameters: Parameters) -> Fitted:
    weights = history.weights
    model = AlternatingLeastSquares(
        factors=parameters.factors,
        regularization=parameters.regularization,
        iterations=parameters.iterations, random_state=parameters.seed,
        num_threads=parameters.threads)
    model.fit(weights, show_progress=False)
    return Factors(np.asarray(model.user_factors), np.asarray(model.item_factors))


ALGORITHMS: dict[str, Callable[[History, Parameters], Fitted]] = {
    "cosine": _cosine,
    "bm25": _bm25,
    "als": _als,
}


def fit(history: History, parameters: Parameters) -> Fitted:
    """The model ``parameters.algorithm`` names, fitted on ``history`` (at least one
    member and one item), with every thread pool held to ``parameters.threads``."""
    with threadpool_limits(limits=parameters.threads):
        return ALGORITHMS[parameters.algorithm](history, parameters)


def model_bytes(fitted: Fitted | None, history: History, parameters: Parameters) -> bytes:
    """The fitted model as ``.npz`` bytes, with the item keys it scores (only those
    without a model: nothing to fit on)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, kinds=np.asarray([k for k, _ in history.items], dtype=str),
                        keys=np.asarray([key for _, key in history.items], dtype=str),
                        algorithm=np.asarray(parameters.algorithm),
                        **(fitted.arrays() if fitted is not None else {}))
    return buffer.getvalue()


def load_arrays(blob: bytes) -> dict[str, np.ndarray]:
    """``model_bytes`` read back."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as found:
        return {name: found[name] for name in found.files}


# --------------------------------------------------------------------------- ranking

class Pick(NamedTuple):
    """One item on a member's list: ``item`` and ``given`` are history columns;
    ``given`` is the member's own item that most explains the pick (None when
    popularity filled the place), and ``times`` how often the member has it."""

    member_id: int
    kind: str
    item: int
    rank: int
    score: float
    given: int | None = None
    times: int = 0


def popularity(history: History) -> np.ndarray:
    """Members who bought or redeemed each item."""
    return np.asarray((history.counts > 0).sum(axis=0)).ravel()


def popular(history: History, kind: str, top: int,
            allowed: Callable[[str], bool] | None = None) -> list[int]:
    """The ``top`` items of ``kind`` most members have (ties by key), among ``allowed``."""
    span = history.span(kind)
    counts = popularity(history)[span]
    order = np.lexsort((np.arange(len(counts)), -counts))
    found = [span.start + int(n) for n in order
             if counts[n] > 0 and (allowed is None or allowed(history.items[span.start + n][1]))]
    return found[:top]


def rank(history: History, fitted: Fitted, rows: np.ndarray, parameters: Parameters,
         allowed_rewards: Mapping[int, frozenset[str]]) -> Iterator[tuple[int, list[Pick]]]:
    """Each member's top items per kind, a batch of members at a time (``rows``: the
    history rows to rank): how many members, and their picks. Rewards are only those
    in the member's ``allowed_rewards``; places the model leaves empty (nothing scored
    above zero) are filled with popular items the member may have. ``parameters.top``
    items per kind; scoring holds to ``parameters.threads`` too.

    The model's picks of a batch are found, explained and made in array operations;
    only members the model leaves places for are filled one by one."""
    top = parameters.top
    batch = max(1, min(MEMBERS_PER_BATCH, CELLS_PER_BATCH // max(len(history.items), 1)))
    spans = {kind: history.span(kind) for kind in KINDS}
    counts = popularity(history)
    fill = {kind: popular(history, kind, span.stop - span.start)
            for kind, span in spans.items()}
    reward_keys = [key for _, key in history.items[spans["reward"]]]
    members = max(len(history.member_ids), 1)
    for start in range(0, len(rows), batch):
        chosen = rows[start:start + batch]
        ids = history.member_ids[chosen]
        with threadpool_limits(limits=parameters.threads):
            block = fitted.scores(chosen)
        allowed = [allowed_rewards.get(m, frozenset()) for m in ids.tolist()]
        mask = np.array([[key in a for key in reward_keys] for a in allowed],
                        dtype=bool).reshape(len(ids), len(reward_keys))
        found: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        filled: list[Pick] = []
        for kind, span in spans.items():
            items, scores = _best(block[:, span], top, mask if kind == "reward" else None)
            own = scores > 0  # the best come first: a member's own picks lead their row
            member_at, place = np.nonzero(own)
            found.append((kind, member_at, items[own] + span.start, place + 1, scores[own]))
            for n in np.flatnonzero(own.sum(axis=1) < top).tolist():
                taken = set((items[n][own[n]] + span.start).tolist())
                filled += _filled(int(ids[n]), kind, taken, top - len(taken), fill[kind],
                                  counts, members,
                                  None if kind != "reward" else allowed[n], history)
        yield len(chosen), _explained(history, fitted, ids, chosen, found) + filled


def _best(scores: np.ndarray, top: int, allowed: np.ndarray | None
          ) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the columns of the ``top`` best scores (ties by column) and the scores;
    a column not ``allowed`` scores nothing."""
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :top]
    return order, np.take_along_axis(scores, order, axis=1)


def _filled(member_id: int, kind: str, taken: set[int], places: int, fill: list[int],
            counts: np.ndarray, members: int, allowed: frozenset[str] | None,
            history: History) -> list[Pick]:
    """Popular items for the places the model left empty (``given`` None)."""
    found: list[Pick] = []
    rank = len(taken)
    for item in fill:
        if len(found) >= places:
            break
        if item not in taken and (allowed is None or history.items[item][1] in allowed):
            rank += 1
            found.append(Pick(member_id, kind, item, rank, float(counts[item]) / members))
    return found


def _explained(history: History, fitted: Fitted, ids: np.ndarray, chosen: np.ndarray,
               found: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
               ) -> list[Pick]:
    """The model's picks (``found``, per kind: the batch position of each pick's member,
    its item, rank and score) with ``given``, the member's own item that contributes
    most to the pick's score (its weight times its affinity to the item; an item bought
    before explains itself; ties go to the first item), and how often the member has it."""
    kinds = np.concatenate([np.full(len(at), n, dtype=np.int8)
                            for n, (_, at, *_) in enumerate(found)]) if found else None
    if kinds is None or not len(kinds):
        return []
    member_at = np.concatenate([f[1] for f in found])
    items = np.concatenate([f[2] for f in found]).astype(np.int64)
    ranks = np.concatenate([f[3] for f in found])
    scores = np.concatenate([f[4] for f in found]).astype(np.float64)
    counts = history.counts
    rows = chosen[member_at].astype(np.int64)
    lengths = counts.indptr[rows + 1] - counts.indptr[rows]
    group_start = np.cumsum(lengths) - lengths
    position = (np.repeat(counts.indptr[rows], lengths)
                + np.arange(lengths.sum()) - np.repeat(group_start, lengths))
    given, times = counts.indices[position], counts.data[position]
    weight = fitted.affinity(given, np.repeat(items, lengths)) * np.log1p(times)
    # the first pair of each pick's group that reaches the group's largest weight
    top = np.repeat(np.maximum.reduceat(weight, group_start), lengths)
    reaching = np.flatnonzero(weight >= top)
    best = reaching[np.unique(np.searchsorted(group_start, reaching, side="right") - 1,
                              return_index=True)[1]]
    names = [kind for kind, *_ in found]
    return list(map(Pick, ids[member_at].tolist(), [names[k] for k in kinds.tolist()],
                    items.tolist(), ranks.tolist(), scores.tolist(),
                    given[best].astype(np.int64).tolist(),
                    times[best].astype(np.int64).tolist()))
