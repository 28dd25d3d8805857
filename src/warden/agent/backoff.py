"""Capped exponential backoff with jitter, as Vault Agent retries auth and templates.

The n-th delay (n counted from 0) is drawn uniformly from ``[minimum, min(maximum,
minimum * 2**n)]``: "full jitter" spread over the whole window, with a floor so a fleet
never hammers the server with near-zero retries. ``reset()`` after a success.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

Uniform = Callable[[float, float], float]


@dataclass(slots=True)
class Backoff:
    minimum: float = 1.0
    maximum: float = 300.0
    uniform: Uniform = field(default=random.uniform, repr=False)
    attempts: int = 0

    def __post_init__(self) -> None:
        if self.minimum <= 0 or self.maximum < self.minimum:
            raise ValueError(f"backoff needs 0 < minimum <= maximum, got {self.minimum}, {self.maximum}")

    def ceiling(self) -> float:
        """The upper bound of the next delay."""
        exponent = min(self.attempts, 64)  # 2**64 * minimum is past any sane maximum
        return min(self.maximum, self.minimum * 2.0**exponent)

    def next_delay(self) -> float:
        delay = self.uniform(self.minimum, self.ceiling())
        self.attempts += 1
        return min(max(delay, self.minimum), self.maximum)

    def reset(self) -> None:
        self.attempts = 0
