"""Pure analytics: windows, bands, RFM scoring and naming, cohorts, money, CLV inputs."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from itertools import product

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value

from patron.analytics import clv, domain
from patron.analytics.domain import InvalidDateRange


def test_window_runs_to_the_end_of_today_or_of_the_end_date():
    now = datetime(2026, 3, 2, 7, 0)
    assert domain.window(None, None, now).end == datetime(2026, 3, 3)
    assert domain.window(None, None, now).as_of == date(2026, 3, 2)
    w = domain.window(date(2025, 1, 1), date(2025, 12, 31), now)
    assert (w.start, w.end, w.as_of) == (datetime(2025, 1, 1), datetime(2026, 1, 1),
                                         date(2025, 12, 31))
    with pytest.raises(InvalidDateRange):
        domain.window(date(2025, 2, 1), date(2025, 1, 1), now)
    with pytest.raises(InvalidDateRange):
        domain.window(date(2026, 4, 1), None, now)


def test_quintile_scores_split_evenly_and_ties_share_a_score():
    assert domain.quintile_scores(list(range(10))) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert domain.quintile_scores([10, 20, 30, 40, 50], higher_is_better=False) == [5, 4, 3, 2, 1]
    # six of ten members with one order all score 1; the rest are ranked above them
    assert domain.quintile_scores([1] * 6 + [2, 2, 3, 9]) == [1] * 6 + [4, 4, 5, 5]


@given(st.lists(st.integers(0, 50), min_size=1, max_size=200))
def test_quintile_scores_are_monotone_and_within_1_to_5(values):
    scores = domain.quintile_scores(values)
    assert all(1 <= s <= 5 for s in scores)
    for (v1, s1), (v2, s2) in product(zip(values, scores), repeat=2):
        if v1 < v2:
            assert s1 <= s2
        if v1 == v2:
            assert s1 == s2


def test_every_r_f_cell_has_a_segment_and_the_corners_are_the_usual_ones():
    cells = {(r, f): domain.segment_of(r, f) for r in range(1, 6) for f in range(1, 6)}
    assert set(cells.values()) == set(domain.SEGMENT_NAMES)
    assert cells[(5, 5)] == "Champions" and cells[(1, 1)] == "Hibernating"
    assert cells[(1, 5)] == "Can't lose them" and cells[(2, 4)] == "At risk"
    assert cells[(5, 1)] == "New customers" and cells[(4, 4)] == "Loyal"


def test_score_rfm_and_segment_sizes():
    members = [domain.RfmInput(n, recency_days=n * 10, frequency=10 - n, monetary=1000 - n)
               for n in range(10)]
    scores = domain.score_rfm(members)
    assert (scores[0].code, scores[0].segment) == ("555", "Champions")
    assert (scores[-1].code, scores[-1].segment) == ("111", "Hibernating")
    sizes = {s.segment: s for s in domain.segment_sizes(scores)}
    assert list(sizes) == list(domain.SEGMENT_NAMES)
    assert sum(s.members for s in sizes.values()) == 10
    assert sizes["Champions"].revenue == 1000 + 999


def _scored_one_by_one(members):
    """RFM as first written: a sorted list and bisect per member, a dataclass each."""
    import bisect

    def quintiles(values, better=True):
        keyed = [v if better else -v for v in values]
        ordered = sorted(keyed)
        return [1 + (5 * bisect.bisect_left(ordered, v)) // len(values) for v in keyed]

    rs = quintiles([m.recency_days for m in members], better=False)
    fs = quintiles([m.frequency for m in members])
    ms = quintiles([m.monetary for m in members])
    return [domain.RfmScore(m.member_id, m.recency_days, m.frequency, m.monetary, r, f, mm,
                            domain.segment_of(r, f)) for m, r, f, mm in zip(members, rs, fs, ms)]


@given(st.lists(st.tuples(st.integers(0, 800), st.integers(1, 60), st.integers(0, 10**9)),
                max_size=300))
def test_rfm_by_columns_scores_as_member_by_member(rows):
    members = [domain.RfmInput(i, *row) for i, row in enumerate(rows)]
    expected = _scored_one_by_one(members)
    assert domain.score_rfm(members) == expected
    table = domain.score_rfm_columns(*zip(*[(m.member_id, m.recency_days, m.frequency,
                                             m.monetary) for m in members])) \
        if members else domain.score_rfm_columns([], [], [], [])
    assert table.code == [s.code for s in expected]
    assert table.segment == [s.segment for s in expected]
    assert domain.segment_sizes(table) == domain.segment_sizes(expected)
    groups = {name: [s for s in expected if s.segment == name] for name in domain.SEGMENT_NAMES}
    for size in domain.segment_sizes(table):
        group = groups[size.segment]
        assert (size.members, size.revenue) == (len(group), sum(s.monetary for s in group))
        if group:
            assert size.average_recency_days == round(
                sum(s.recency_days for s in group) / len(group), 2)


def test_cohort_matrix_is_a_triangle_up_to_the_last_month():
    sizes = {date(2025, 11, 1): 4, date(2026, 1, 1): 2}
    active = [(date(2025, 11, 1), 0, 4), (date(2025, 11, 1), 2, 1), (date(2026, 1, 1), 0, 2)]
    rows = domain.cohort_matrix(sizes, active, date(2026, 2, 1))
    assert [(r.cohort, r.active) for r in rows] == [
        (date(2025, 11, 1), [4, 0, 1, 0]), (date(2026, 1, 1), [2, 0])]
    assert rows[0].retention == [1.0, 0.0, 0.25, 0.0]
    assert domain.weighted_retention(rows, 2) == 0.25


def test_bands_histograms_growth_and_breakage():
    assert domain.fold_bands([(17, 1), (18, 2), (70, 1), (None, 3)], domain.AGE_BANDS,
                             unknown=True)[:2] == [("under 18", 1), ("18-24", 2)]
    assert domain.band_of(366, domain.GAP_BANDS) == "over a year"
    histogram = [(1, 2), (5, 1), (30, 1)]
    assert domain.histogram_quantile(histogram, 0.5) == 1.0
    assert domain.histogram_quantile(histogram, 0.75) == 5.0
    assert domain.histogram_mean(histogram) == 9.25
    assert domain.monthly_growth(3, [(date(2025, 12, 1), 2)], date(2025, 11, 5),
                                 date(2026, 1, 20)) == [
        (date(2025, 11, 1), 0, 3), (date(2025, 12, 1), 2, 5), (date(2026, 1, 1), 0, 5)]
    assert domain.breakage_rate([(100, 10, True), (50, 50, True), (80, 0, False)]) == (
        pytest.approx(60 / 150), 2)
    assert domain.breakage_rate([(80, 0, False)]) == (None, 0)


def test_money_is_rounded_once_into_minor_units():
    assert domain.points_value(12345, Decimal("0.01"), 2) == 12345
    assert domain.points_value(3, Decimal("0.005"), 2) == 2  # 1.5 cents, half even
    assert domain.points_value(100, Decimal(1), 0) == 100  # JPY
    assert domain.average_minor(10, 4) == 2 and domain.average_minor(1, 0) is None
    assert domain.to_minor(15.444999, 2) == 1544


@given(st.lists(st.one_of(st.floats(-1e7, 1e7), st.integers(-10**9, 10**9).map(
    lambda n: n / 1000 + 0.0005), st.integers(-10**6, 10**6).map(lambda n: n / 200)),
    max_size=200), st.sampled_from([0, 2, 3]))
def test_money_rounded_all_at_once_as_one_by_one(amounts, exponent):
    """Halves (12.345, 0.125) and their near misses round as ``to_minor`` does."""
    assert domain.to_minor_all(amounts, exponent) == [
        domain.to_minor(a, exponent) for a in amounts]


def test_money_rounded_all_at_once_on_halves_and_refuses_what_to_minor_refuses():
    halves = [0.125, 0.135, 2.675, 1.005, -0.125, 15.445, 15.444999, 1e17, 0.0]
    assert domain.to_minor_all(halves, 2) == [domain.to_minor(a, 2) for a in halves]
    with pytest.raises(ValueError):
        domain.to_minor_all([1.0, float("nan")], 2)


def test_clv_refuses_too_little_history():
    few = clv.Histories([1, 2, 3], [1, 0, 2], [10, 0, 20], [30, 30, 30], [5.0, 0.0, 7.0])
    with pytest.raises(domain.InsufficientData) as error:
        clv.fit(few)
    assert error.value.extra == {"customers": 3, "repeat_customers": 2}


def test_clv_histories_convert_minor_units_and_time_units():
    h = clv.histories([(7, 2, 14, 28, 1250.0)], 2)
    assert h.repeat_spend == [12.5]
    x, t_x, big_t, m = clv._arrays(h, "week")
    assert (x[0], t_x[0], big_t[0], m[0]) == (2.0, 2.0, 4.0, 12.5)


@pytest.mark.filterwarnings("ignore:The .mode.chained_assignment. option")
def test_each_clv_model_is_fitted_with_the_penalty_it_needs():
    """CDNOW's repeat spend is the published Gamma-Gamma fit, with no penalty; its purchase
    counts with everyone seen buying at the very end show BG/NBD nobody leaving, which
    only converges with one. Each model reports its own."""
    cdnow = load_cdnow_summary_data_with_monetary_value()
    frequency = [int(x) for x in cdnow["frequency"]]
    h = clv.Histories(list(range(len(frequency))), frequency,
                      [273 if x else 0 for x in frequency], [273] * len(frequency),
                      [float(m) for m in cdnow["monetary_value"]])
    model = clv.fit(h, "week")
    assert model.bgnbd.penalizer > 0
    gg = model.gamma_gamma
    assert (gg.penalizer, gg.customers) == (0, 946)
    assert (gg.p, gg.q, gg.gamma) == pytest.approx((6.25, 3.74, 15.44), rel=0.01)


def test_recency_reports_on_old_data_are_as_of_its_last_day_with_a_warning():
    today, data_end = date(2026, 12, 5), date(2026, 2, 25)
    old = domain.as_of(None, None, today, data_end, follows_data=True)
    assert (old.day, old.basis, len(old.warnings)) == (data_end, "data_end", 1)
    other = domain.as_of(None, None, today, data_end, follows_data=False)
    assert (other.day, other.basis, len(other.warnings)) == (today, "today", 1)
    given = domain.as_of(None, date(2026, 3, 1), today, data_end, follows_data=True)
    assert (given.day, given.basis, given.warnings) == (date(2026, 3, 1), "end", ())
    recent = domain.as_of(None, None, today, date(2026, 11, 5), follows_data=True)
    assert (recent.day, recent.basis, recent.warnings) == (today, "today", ())
    after = domain.as_of(date(2026, 6, 1), None, today, data_end, follows_data=True)
    assert (after.day, after.basis, len(after.warnings)) == (today, "today", 1)
    assert domain.as_of(None, None, today, None, follows_data=True).warnings == ()


# --------------------------------------------------------------------------- frequency bands

def test_bands_from_their_lowest_counts_start_at_one():
    assert domain.bands_from([1, 2, 4, 12, 26, 52]) == (
        (1, "1"), (2, "2-3"), (4, "4-11"), (12, "12-25"), (26, "26-51"), (52, "52+"))
    assert domain.bands_from([12, 52]) == ((1, "1-11"), (12, "12-51"), (52, "52+"))


def test_occasional_shoppers_keep_the_fixed_frequency_bands():
    counts = [(1, 50), (2, 20), (3, 10), (8, 5), (30, 2)]
    assert domain.frequency_bands(counts, None) == (domain.ORDER_COUNT_BANDS, "default")


def test_frequent_shoppers_get_bands_at_quantiles_of_their_orders():
    grocer = [(n, 10) for n in range(40, 90)]  # 500 members buying 40 to 89 times
    bands, drawn = domain.frequency_bands(grocer, None)
    assert drawn == "quantiles"
    assert [label for _, label in bands] == ["1-49", "50-59", "60-69", "70-79", "80-84", "85+"]
    folded = dict(domain.fold_bands(grocer, bands))
    assert folded == {"1-49": 100, "50-59": 100, "60-69": 100, "70-79": 100, "80-84": 50,
                      "85+": 50}
    assert dict(domain.fold_bands(grocer, domain.ORDER_COUNT_BANDS))["21+"] == 500


def test_given_bands_win_over_the_data():
    bands, drawn = domain.frequency_bands([(60, 3)], [1, 2, 4, 12, 26, 52])
    assert drawn == "given" and dict(domain.fold_bands([(60, 3)], bands))["52+"] == 3
