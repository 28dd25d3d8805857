"""Capped exponential backoff with jitter."""

from __future__ import annotations

import random

import pytest

from warden.agent.backoff import Backoff


def test_ceiling_doubles_up_to_the_maximum() -> None:
    backoff = Backoff(1.0, 10.0, uniform=lambda low, high: high)
    assert [backoff.next_delay() for _ in range(6)] == [1, 2, 4, 8, 10, 10]
    backoff.reset()
    assert backoff.next_delay() == 1


def test_lowest_draw_never_goes_below_the_minimum() -> None:
    backoff = Backoff(0.5, 60.0, uniform=lambda low, high: low)
    assert {backoff.next_delay() for _ in range(10)} == {0.5}


def test_real_jitter_stays_within_bounds_and_spreads() -> None:
    rng = random.Random(7)
    delays = []
    for _ in range(200):
        backoff = Backoff(1.0, 300.0, uniform=rng.uniform)
        for attempt in range(12):
            ceiling = backoff.ceiling()
            delay = backoff.next_delay()
            assert 1.0 <= delay <= ceiling <= 300.0
            assert ceiling == min(300.0, 2.0**attempt)
            delays.append(delay)
    assert len({round(d, 3) for d in delays}) > 1000  # a fleet does not retry in lock-step


def test_many_attempts_do_not_overflow() -> None:
    backoff = Backoff(1.0, 5.0, uniform=lambda low, high: high, attempts=10_000)
    assert backoff.next_delay() == 5.0


@pytest.mark.parametrize(("low", "high"), [(0, 1), (-1, 1), (5, 1)])
def test_bad_bounds_are_refused(low: float, high: float) -> None:
    with pytest.raises(ValueError):
        Backoff(low, high)
