"""Time as a dependency of the agent: wall-clock time, and a sleep that tests can replace."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch (certificate validity is wall-clock time)."""
        ...

    async def sleep(self, seconds: float) -> None:
        ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        if math.isinf(seconds):
            await asyncio.Event().wait()  # "until cancelled"
        await asyncio.sleep(max(0.0, seconds))
