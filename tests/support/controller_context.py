"""A controller ``Context`` over fakes, for unit tests of controllers (no runtime, no cluster)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from prometheus_client import CollectorRegistry

from warden.agent.logs import AgentLog
from warden.controllers.context import Context
from warden.controllers.events import EventRecorder


def fake_clock(now: float = 0.0) -> Any:
    async def sleep(_: float) -> None:
        return None

    return SimpleNamespace(time=lambda: now, sleep=sleep)


def fake_context(kube: Any, warden: Any, clock: Any | None = None) -> Context:
    """Every warden client the controller asks for is ``warden``; events go to ``kube``."""
    clock = clock or fake_clock()
    log = AgentLog()
    return Context(kube, warden, lambda: None, lambda: None, log, CollectorRegistry(), clock,
                   lambda a, b: (a + b) / 2, lambda _token: warden, EventRecorder(kube, log, clock.time))
