"""Latency histograms that merge across rounds, and small summaries of repeated measurements."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Log-spaced buckets 1% wide: a percentile read back is within 1% of the true value.
_GROWTH = 1.01
_LOG_GROWTH = math.log(_GROWTH)
_FLOOR_S = 1e-6


class Histogram:
    """Counts of latencies (seconds) in 1%-wide logarithmic buckets."""

    __slots__ = ("buckets", "count", "max", "min", "total")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = 0.0

    def record(self, seconds: float) -> None:
        seconds = max(seconds, _FLOOR_S)
        index = int(math.log(seconds / _FLOOR_S) / _LOG_GROWTH)
        self.buckets[index] = self.buckets.get(index, 0) + 1
        self.count += 1
        self.total += seconds
        self.min = min(self.min, seconds)
        self.max = max(self.max, seconds)

    def merge(self, other: Histogram) -> Histogram:
        for index, n in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0) + n
        self.count += other.count
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        return self

    def percentile(self, p: float) -> float:
        """The latency below which ``p`` percent of the recorded ones lie (0 when empty)."""
        if not self.count:
            return 0.0
        if p >= 100:
            return self.max
        rank = max(1, math.ceil(self.count * p / 100))
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                middle = _FLOOR_S * _GROWTH ** (index + 0.5)
                return min(max(middle, self.min), self.max)
        return self.max

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def summary_ms(self) -> dict[str, float]:
        return {
            "p50": round(self.percentile(50) * 1e3, 3),
            "p90": round(self.percentile(90) * 1e3, 3),
            "p99": round(self.percentile(99) * 1e3, 3),
            "max": round(self.max * 1e3, 3),
            "mean": round(self.mean * 1e3, 3),
        }

    def to_dict(self) -> dict[str, object]:
        return {"count": self.count, "total": self.total, "min": self.min if self.count else 0.0,
                "max": self.max, "buckets": {str(k): v for k, v in sorted(self.buckets.items())}}

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> Histogram:
        hist = cls()
        buckets = raw.get("buckets") or {}
        assert isinstance(buckets, Mapping)
        hist.buckets = {int(k): int(v) for k, v in buckets.items()}
        hist.count = int(raw.get("count", 0))  # type: ignore[call-overload]
        hist.total = float(raw.get("total", 0.0))  # type: ignore[arg-type]
        hist.min = float(raw.get("min", 0.0)) if hist.count else math.inf  # type: ignore[arg-type]
        hist.max = float(raw.get("max", 0.0))  # type: ignore[arg-type]
        return hist


@dataclass(frozen=True, slots=True)
class Spread:
    """The median of repeated measurements, with the lowest and highest seen."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        items = list(values)
        if not items:
            return cls(0.0, 0.0, 0.0)
        return cls(statistics.median(items), min(items), max(items))

    def to_dict(self) -> dict[str, float]:
        return {"median": round(self.median, 3), "low": round(self.low, 3), "high": round(self.high, 3)}


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, or None when the denominator is nothing to divide by."""
    if not denominator or math.isnan(denominator):
        return None
    return numerator / denominator
