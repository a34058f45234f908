"""The model and the reasons without a database: rankings per kind, rewards kept to those
allowed, popularity filling empty places, the reason given, what may still be shown."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from patron.program.incentives import Reward
from patron.recommendations import domain, model
from patron.rewards.domain import Holders

NOW = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
UTC = ZoneInfo("UTC")
ROWS = [(1, "category", "coffee", 3), (1, "category", "filters", 2), (1, "reward", "mug", 1),
        (2, "category", "coffee", 1), (2, "reward", "mug", 1),
        (3, "category", "tea", 2), (3, "category", "cups", 1), (3, "reward", "teapot", 1),
        (4, "category", "tea", 1), (4, "product", "TEA-1", 1),
        (5, "category", "coffee", 1)]


def _ranked(algorithm: str, allowed=None, top: int = 3):
    history = model.History.from_rows(ROWS)
    # five members: the default penalty (sized for thousands) would flatten ALS's factors
    parameters = model.Parameters(algorithm=algorithm, regularization=0.1, top=top)
    fitted = model.fit(history, parameters)
    every = frozenset({"mug", "teapot"})
    allowed = allowed if allowed is not None else {m: every for m in range(1, 6)}
    out: dict[int, dict[str, list[tuple[str, str | None]]]] = {}
    for _, picks in model.rank(history, fitted, np.arange(len(history.member_ids)),
                               parameters, allowed):
        for p in picks:
            given = history.items[p.given][1] if p.given is not None else None
            out.setdefault(p.member_id, {}).setdefault(p.kind, []).append(
                (history.items[p.item][1], given))
    return history, out


def test_history_columns_are_grouped_by_kind():
    history = model.History.from_rows(ROWS + [(1, "category", "coffee", 1)])
    assert [history.items[i][1] for i in range(*history.span("category").indices(99))] == [
        "coffee", "cups", "filters", "tea"]
    assert history.span("product") == slice(4, 5) and history.span("reward") == slice(5, 7)
    assert history.counts[0, 0] == 4                    # the same item twice adds up
    empty = model.History.from_rows([])
    assert empty.items == () and empty.span("reward") == slice(0, 0)


@pytest.mark.parametrize("algorithm", sorted(model.ALGORITHMS))
def test_members_get_what_members_like_them_have(algorithm):
    _, out = _ranked(algorithm)
    assert out[5]["reward"][0] == ("mug", "coffee")     # coffee buyers redeem the mug
    assert out[4]["reward"][0][0] == "teapot"
    assert out[5]["category"][0] == ("coffee", "coffee")


def test_cosine_ranks_own_items_then_neighbours_then_popular():
    _, out = _ranked("cosine")
    assert out[2]["category"] == [("coffee", "coffee"), ("filters", "coffee"), ("tea", None)]
    # nothing links member 2 to a product: popularity fills the list
    assert out[2]["product"] == [("TEA-1", None)]


def test_rewards_only_among_those_allowed():
    _, out = _ranked("cosine", allowed={5: frozenset({"teapot"})})
    assert out[5]["reward"] == [("teapot", None)]       # the mug is not the member's to have
    assert "reward" not in out[1]                       # no reward allowed at all


def test_the_same_history_and_seed_give_the_same_model():
    history = model.History.from_rows(ROWS)
    for algorithm in model.ALGORITHMS:
        parameters = model.Parameters(algorithm=algorithm, seed=3)
        rows = np.arange(len(history.member_ids))
        first = model.fit(history, parameters).scores(rows)
        assert np.array_equal(first, model.fit(history, parameters).scores(rows))


def test_the_stored_model_reads_back():
    history = model.History.from_rows(ROWS)
    parameters = model.Parameters(algorithm="als", factors=4)
    fitted = model.fit(history, parameters)
    arrays = model.load_arrays(model.model_bytes(fitted, history, parameters))
    assert arrays["item_factors"].shape == (len(history.items), 4)
    assert list(arrays["kinds"])[-2:] == ["reward", "reward"]
    assert str(arrays["algorithm"]) == "als"


def test_reasons():
    assert domain.because("reward", "Coffee mug", "category", "coffee", 3) == (
        "members who buy coffee also redeem Coffee mug")
    assert domain.because("category", "tea", "category", "tea", 4) == "bought in 4 orders"
    assert domain.because("product", "B-1", "product", "B-1", 1) == "bought in 1 order"
    assert domain.because("reward", "Mug", "reward", "Mug", 2) == "redeemed twice before"
    assert domain.popular_because("reward", 1) == "popular: redeemed by 1 member"
    assert domain.popular_because("category", 1234) == "popular: bought by 1,234 members"
    assert len(domain.because("category", "x" * 400, "category", "y", 1)) == 300
    assert domain.label("reward", "mug", {"mug": "Coffee mug"}) == "Coffee mug"
    assert domain.label("category", "mug", {"mug": "Coffee mug"}) == "mug"


def _reward(**fields) -> Reward:
    return Reward.model_validate({"id": "mug", "name": "Mug", "type": "gift",
                                  "cost_points": 100, **fields})


def test_what_may_still_be_shown():
    mug = _reward(stock=5)
    assert domain.still_offered(mug, None, None, NOW, UTC, True)
    assert domain.still_offered(mug, None, domain.StockRow(5, 4, 1), NOW, UTC, True)
    assert not domain.still_offered(mug, None, domain.StockRow(5, 5, 0), NOW, UTC, True)
    assert not domain.still_offered(None, None, None, NOW, UTC, True)        # gone
    ended = _reward(valid_until=(NOW - timedelta(days=1)).date().isoformat())
    assert not domain.still_offered(ended, None, None, NOW, UTC, True)
    gold = _reward(eligibility={"tiers": ["gold"]})
    assert domain.still_offered(gold, None, None, NOW, UTC, True)
    assert not domain.still_offered(gold, None, None, NOW, UTC, False)       # a new version
    assert not domain.open_to_all(_reward(limit_per_member={"period": "year", "count": 1}),
                                  None)
    assert not domain.open_to_all(_reward(), Holders(tiers=frozenset({"gold"})))
    assert domain.open_to_all(_reward(), None)
