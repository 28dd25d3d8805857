"""List, then watch from the list's resourceVersion, keeping a cache and queueing keys.

lightkube's ``watch`` streams events and opens a new request from the last
resourceVersion when the apiserver ends a stream normally; every error comes back here
(``on_error_raise``), where it is handled the way client-go's reflector does:

- 410 Gone (the version was compacted away): list again, replace the cache, and queue
  every key, including those of objects that vanished meanwhile;
- anything else (apiserver down, connection reset, 5xx, 403): wait with capped
  exponential backoff and jitter, then watch again from the last resourceVersion seen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lightkube import AsyncClient
from lightkube.types import on_error_raise

from warden.agent.backoff import Backoff, Uniform
from warden.agent.clock import Clock
from warden.agent.logs import AgentLog
from warden.controllers import kubeclient
from warden.controllers.metrics import RuntimeMetrics
from warden.controllers.plugin import ObjectKey, Watch

LIST_CHUNK = 500


@dataclass(slots=True)
class Informer:
    kube: AsyncClient
    watch: Watch
    enqueue: Callable[[ObjectKey], None]
    log: AgentLog
    metrics: RuntimeMetrics
    clock: Clock
    uniform: Uniform
    min_backoff: float = 0.5
    max_backoff: float = 30.0
    resource_version: str | None = None
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    _objects: dict[ObjectKey, Any] = field(default_factory=dict)

    # -- the cache (a plugin.Store) ------------------------------------------------------

    def get(self, key: ObjectKey) -> Any | None:
        return self._objects.get(key)

    def list(self) -> list[Any]:
        return list(self._objects.values())

    # -- list + watch ---------------------------------------------------------------------

    @property
    def _namespace(self) -> str | None:
        if not kubeclient.is_namespaced(self.watch.resource):
            return None
        return self.watch.namespace or kubeclient.ALL_NAMESPACES

    async def run(self) -> None:
        backoff = Backoff(self.min_backoff, self.max_backoff, self.uniform)
        name = self.watch.describe()
        while True:
            try:
                if self.resource_version is None:
                    await self._relist()
                await self._follow(backoff)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if kubeclient.is_gone(exc):
                    self.metrics.watch_restarts.labels(resource=name, reason="gone").inc()
                    self.log.info("watch expired; listing again", resource=name,
                                  resource_version=self.resource_version)
                    self.resource_version = None
                    continue
                delay = backoff.next_delay()
                self.metrics.watch_restarts.labels(resource=name, reason="error").inc()
                self.log.warning("watch failed; resuming", resource=name, error=kubeclient.describe(exc),
                                 resource_version=self.resource_version, retry_in=round(delay, 2))
                await self.clock.sleep(delay)

    async def _relist(self) -> None:
        found = self.kube.list(self.watch.resource, namespace=self._namespace, chunk_size=LIST_CHUNK,
                               labels=self.watch.label_selector, fields=self.watch.field_selector)
        objects = {ObjectKey.of(obj): obj async for obj in found}
        vanished = [obj for key, obj in self._objects.items() if key not in objects]
        self._objects = objects
        self.resource_version = found.resourceVersion
        for obj in [*objects.values(), *vanished]:
            self._queue_keys(obj)
        self.synced.set()
        self.log.debug("listed", resource=self.watch.describe(), count=len(objects),
                       resource_version=self.resource_version)

    async def _follow(self, backoff: Backoff) -> None:
        events = self.kube.watch(self.watch.resource, namespace=self._namespace,
                                 labels=self.watch.label_selector, fields=self.watch.field_selector,
                                 resource_version=self.resource_version, on_error=on_error_raise)
        async for kind, obj in events:
            backoff.reset()
            self.metrics.watch_events.labels(resource=self.watch.describe(), type=kind).inc()
            version = obj.metadata.resourceVersion if obj.metadata is not None else None
            self.resource_version = version or self.resource_version
            if kind == "BOOKMARK":
                continue
            key = ObjectKey.of(obj)
            if kind == "DELETED":
                self._objects.pop(key, None)
            else:
                self._objects[key] = obj
            self._queue_keys(obj)

    def _queue_keys(self, obj: Any) -> None:
        for key in self.watch.keys_of(obj):
            self.enqueue(key)
