"""Time as a dependency: production uses SystemClock, tests move a FrozenClock forward."""

from __future__ import annotations

import datetime as _dt
import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch."""
        ...

    def now(self) -> _dt.datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def now(self) -> _dt.datetime:
        return _dt.datetime.now(_dt.UTC)


class FrozenClock:
    """A clock that only moves when told to; for tests."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._t = start

    def time(self) -> float:
        return self._t

    def now(self) -> _dt.datetime:
        return _dt.datetime.fromtimestamp(self._t, _dt.UTC)

    def advance(self, seconds: float) -> None:
        self._t += seconds


def to_rfc3339(ts: float) -> str:
    """Vault's timestamp format, e.g. ``2026-11-23T10:00:00.123456Z``."""
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
