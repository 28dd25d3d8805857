"""A work queue of object keys, as client-go's: each key at most once in the queue, never
handed to two workers at once, re-queued after a delay or with backoff after a failure.

- ``add(key)``: queue the key unless it already waits; a key being processed is marked
  dirty and queued again when its worker calls ``done`` (so no change is lost).
- ``add_after(key, seconds)``: queue it later (the earliest of several delays wins).
- ``add_failed(key)``: queue it after the key's next backoff delay (capped exponential
  with jitter); ``forget(key)`` resets the key's backoff after a success.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from warden.agent.backoff import Backoff, Uniform

K = TypeVar("K", bound=Hashable)


class QueueShutDown(Exception):
    """The queue was shut down while a worker waited for a key."""


@dataclass(slots=True)
class WorkQueue(Generic[K]):
    uniform: Uniform
    min_backoff: float = 0.5
    max_backoff: float = 60.0
    _queue: deque[K] = field(default_factory=deque)
    _dirty: set[K] = field(default_factory=set)
    _processing: set[K] = field(default_factory=set)
    _failures: dict[K, Backoff] = field(default_factory=dict)
    _timers: dict[K, tuple[float, asyncio.TimerHandle]] = field(default_factory=dict)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _shut: bool = False

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, key: K) -> None:
        if self._shut or key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.append(key)
            self._wake()

    def add_after(self, key: K, seconds: float) -> None:
        if self._shut:
            return
        if seconds <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + seconds
        pending = self._timers.get(key)
        if pending is not None:
            if pending[0] <= due:
                return
            pending[1].cancel()
        self._timers[key] = (due, loop.call_at(due, self._fire, key))

    def add_failed(self, key: K) -> float:
        """Queue ``key`` after its next backoff delay; returns the delay."""
        backoff = self._failures.setdefault(key, Backoff(self.min_backoff, self.max_backoff, self.uniform))
        delay = backoff.next_delay()
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        backoff = self._failures.get(key)
        return backoff.attempts if backoff is not None else 0

    async def get(self) -> K:
        """The next key to work on; the caller must call ``done(key)`` afterwards."""
        while not self._queue:
            if self._shut:
                raise QueueShutDown
            self._ready.clear()
            await self._ready.wait()
        if self._shut:
            raise QueueShutDown
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty and not self._shut:
            self._queue.append(key)
            self._wake()

    def shutdown(self) -> None:
        self._shut = True
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._wake()

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def _wake(self) -> None:
        self._ready.set()
