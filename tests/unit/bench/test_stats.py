"""Histogram percentiles and merging, spreads and ratios."""

from __future__ import annotations

import math

from bench.stats import Histogram, Spread, ratio
from hypothesis import given
from hypothesis import strategies as st


def test_empty_histogram_reads_zero() -> None:
    hist = Histogram()
    assert hist.percentile(50) == 0.0
    assert hist.summary_ms()["p99"] == 0.0


@given(st.lists(st.floats(min_value=1e-5, max_value=100.0), min_size=1, max_size=300),
       st.sampled_from([1, 50, 90, 99, 100]))
def test_percentile_within_one_percent_of_the_exact_rank(values: list[float], p: int) -> None:
    hist = Histogram()
    for v in values:
        hist.record(v)
    exact = sorted(values)[max(1, math.ceil(len(values) * p / 100)) - 1]
    assert math.isclose(hist.percentile(p), exact, rel_tol=0.011)


def test_merge_equals_recording_everything_in_one() -> None:
    a, b, both = Histogram(), Histogram(), Histogram()
    for i in range(1, 200):
        (a if i % 2 else b).record(i / 1000)
        both.record(i / 1000)
    merged = a.merge(b)
    assert merged.count == both.count
    assert [merged.percentile(p) for p in (50, 90, 99)] == [both.percentile(p) for p in (50, 90, 99)]


def test_round_trip_through_a_dict() -> None:
    hist = Histogram()
    for v in (0.001, 0.002, 0.5):
        hist.record(v)
    back = Histogram.from_dict(hist.to_dict())
    assert back.count == 3
    assert back.max == 0.5
    assert back.percentile(50) == hist.percentile(50)


def test_spread_and_ratio() -> None:
    assert Spread.of([3.0, 1.0, 2.0]) == Spread(2.0, 1.0, 3.0)
    assert Spread.of([]) == Spread(0.0, 0.0, 0.0)
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(1.0, 0.0) is None
