"""Time as a dependency: production uses SystemClock, tests move a FrozenClock forward."""

from __future__ import annotations

import asyncio
import datetime as _dt
import functools
import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch."""
        ...

    def now(self) -> _dt.datetime:
        """The current time, timezone-aware UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (a FrozenClock moves itself forward instead)."""
        ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def now(self) -> _dt.datetime:
        return _dt.datetime.now(_dt.UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


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

    async def sleep(self, seconds: float) -> None:
        self._t += max(0.0, seconds)
        await asyncio.sleep(0)


def to_rfc3339(ts: float) -> str:
    """Vault's timestamp format, e.g. ``2026-11-23T10:00:00.123456Z``."""
    seconds = int(ts // 1)
    micros = round((ts - seconds) * 1_000_000)
    if micros == 1_000_000:
        seconds, micros = seconds + 1, 0
    return f"{_second(seconds)}.{micros:06d}Z"


@functools.lru_cache(maxsize=16)
def _second(seconds: int) -> str:
    # A pure memo: many timestamps a second share their date and time of day.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
