"""Running one controller while this process leads: its informers feed a work queue,
its workers reconcile the keys.

A key is reconciled by one worker at a time. ``Result.requeue_after`` brings it back
later; an exception brings it back with capped exponential backoff and jitter (logged
once per failure, with the attempt count); ``NotLeading`` stops at once.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx2

from warden.agent.errors import describe
from warden.controllers.context import Context
from warden.controllers.informer import Informer
from warden.controllers.kubeclient import describe as describe_kube
from warden.controllers.leader import NotLeading
from warden.controllers.metrics import RuntimeMetrics
from warden.controllers.plugin import Controller, ObjectKey, Store, Watch, initial_keys
from warden.controllers.workqueue import QueueShutDown, WorkQueue


@dataclass(slots=True)
class ControllerLoop:
    controller: Controller
    ctx: Context
    metrics: RuntimeMetrics
    queue: WorkQueue[ObjectKey] | None = None
    workers: list[asyncio.Task[None]] = field(default_factory=list)

    async def run(self) -> None:
        c, ctx = self.controller, self.ctx
        await c.prepare()
        queue: WorkQueue[ObjectKey] = WorkQueue(ctx.uniform)
        self.queue = queue
        self.metrics.queue_depth[c.name] = queue.__len__
        informers = [Informer(ctx.kube, w, queue.add, ctx.log, self.metrics, ctx.clock, ctx.uniform)
                     for w in c.watches]
        stores: dict[Watch, Store] = {i.watch: i for i in informers}
        ctx.attach_stores(stores)
        try:
            async with asyncio.TaskGroup() as group:
                for informer in informers:
                    group.create_task(informer.run())
                # Reconcile only once every cache is filled, so a lookup never misses an object
                # merely not listed yet.
                await asyncio.gather(*(i.synced.wait() for i in informers))
                ctx.log.info("watching", controller=c.name,
                             watches=", ".join(w.describe() for w in c.watches), workers=c.workers)
                self.workers = [group.create_task(self._worker(queue)) for _ in range(max(1, c.workers))]
                for key in initial_keys(c):
                    queue.add(key)
        finally:
            queue.shutdown()
            self.metrics.queue_depth.pop(c.name, None)

    async def drain(self, timeout: float) -> None:
        """Take no new keys and let the reconciles under way finish (up to ``timeout``), so
        that stopping never abandons a certificate signed but not yet written."""
        if self.queue is not None:
            self.queue.shutdown()
        busy = [w for w in self.workers if not w.done()]
        if busy:
            await asyncio.wait(busy, timeout=timeout)

    async def _worker(self, queue: WorkQueue[ObjectKey]) -> None:
        while True:
            try:
                key = await queue.get()
            except QueueShutDown:
                return
            try:
                await self._reconcile(queue, key)
            finally:
                queue.done(key)

    async def _reconcile(self, queue: WorkQueue[ObjectKey], key: ObjectKey) -> None:
        c = self.controller
        started = time.perf_counter()
        try:
            result = await c.reconcile(key)
        except (asyncio.CancelledError, NotLeading):
            raise
        except Exception as exc:
            delay = queue.add_failed(key)
            self.metrics.reconciles.labels(controller=c.name, result="error").inc()
            self.ctx.log.warning("reconcile failed; will retry", controller=c.name, object=str(key),
                                 error=_describe(exc), attempt=queue.failures(key), retry_in=round(delay, 2))
            return
        finally:
            self.metrics.reconcile_seconds.labels(controller=c.name).observe(time.perf_counter() - started)
        queue.forget(key)
        if result.requeue_after is not None:
            queue.add_after(key, result.requeue_after)
        self.metrics.reconciles.labels(controller=c.name,
                                       result="ok" if result.requeue_after is None else "requeue").inc()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, httpx2.HTTPError):
        return describe_kube(exc)
    return describe(exc)
