"""The controller process: log in to warden, serve health and metrics, win the Lease, run
every configured controller while leading, and stop cleanly on SIGTERM.

``ControllerProcess.run()`` returns the exit code: 0 when stopped by a signal, 2 when it
cannot go on (a root token, a login that failed for good). Losing the Lease stops the
controllers and makes the process a candidate again; a controller whose ``prepare`` or
loop fails gives the Lease up (so another replica may do better) and tries again after a
backoff. On SIGTERM the controllers stop first, then the Lease is released.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from warden.agent.autoauth import RootTokenRefused
from warden.agent.backoff import Backoff, Uniform
from warden.agent.clock import Clock, SystemClock
from warden.agent.errors import describe
from warden.agent.files import pid_file
from warden.agent.lifetime import LoginFailed
from warden.agent.logs import AgentLog
from warden.agent.metrics import MetricsServer, Page
from warden.controllers import kubeclient
from warden.controllers.config import ControllerConfig
from warden.controllers.context import Context
from warden.controllers.events import EventRecorder
from warden.controllers.leader import LeaderElector, NotLeading
from warden.controllers.loop import ControllerLoop
from warden.controllers.metrics import RuntimeMetrics
from warden.controllers.plugin import Controller
from warden.controllers.session import WardenSession, client_for

EXIT_OK, EXIT_FAILED = 0, 2
TEXT = "text/plain; charset=utf-8"


@dataclass(slots=True)
class Dependencies:
    clock: Clock = field(default_factory=SystemClock)
    monotonic: Callable[[], float] = time.monotonic
    uniform: Uniform = random.uniform
    log: AgentLog = field(default_factory=lambda: AgentLog())
    transport: httpx.AsyncBaseTransport | None = None  # warden's (tests)
    handle_signals: bool = True


class ControllerProcess:
    def __init__(self, config: ControllerConfig, deps: Dependencies | None = None) -> None:
        self.config = config
        self.deps = deps or Dependencies()
        self.log = self.deps.log
        self.metrics = RuntimeMetrics(self.deps.clock.time)
        self.failure = ""
        self._stop = asyncio.Event()
        self._logged_in = False
        self._elector: LeaderElector | None = None

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> int:
        c = self.config
        self.log.info("controller starting", address=c.server.address, method=c.auto_auth.method.type,
                      controllers=", ".join(x.kind.block for x in c.controllers),
                      lease=f"{c.leader_election.namespace}/{c.leader_election.name}")
        d = self.deps
        session = WardenSession.open(c.server, c.auto_auth.method, clock=d.clock, uniform=d.uniform,
                                     log=self.log, metrics=self.metrics, transport=d.transport)
        server = (MetricsServer(c.listener, self.metrics, self.log, pages=self._pages())
                  if c.listener else None)
        with self._signals(), pid_file(self.config.pid_file):
            try:
                if server is not None:
                    await server.start()
                return await self._until_stopped(self._serve(session))
            except OSError as exc:
                return self._fail(f"cannot serve health and metrics: {exc.strerror or exc}")
            finally:
                if server is not None:
                    await server.close()
                await session.aclose()

    async def _until_stopped(self, work: Coroutine[Any, Any, int]) -> int:
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self.log.info("stopped")
        return EXIT_OK

    async def _serve(self, session: WardenSession) -> int:
        try:
            kube = kubeclient.make_client(self.config.kubernetes)
        except kubeclient.KubeSetupError as exc:
            return self._fail(str(exc))
        try:
            await session.keeper.login_until_success()
        except (RootTokenRefused, LoginFailed) as exc:
            await kube.close()
            return self._fail(str(exc))
        self._logged_in = True
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(session.keeper.run())
                group.create_task(self._lead(kube, session))
        except ExceptionGroup as failed:
            refused = [e for e in failed.exceptions if isinstance(e, RootTokenRefused)]
            reasons = [str(refused[0])] if refused else [_describe(e) for e in failed.exceptions]
            return self._fail("; ".join(reasons))
        finally:
            await kube.close()
        return EXIT_OK

    def _context(self, kube: Any, session: WardenSession, elector: LeaderElector) -> Context:
        d = self.deps
        server = self.config.server
        return Context(kube, session.api, session.report_denied, elector.ensure_leading, self.log,
                       self.metrics.registry, d.clock, d.uniform,
                       lambda token: client_for(server, token, d.transport),
                       EventRecorder(kube, self.log, d.clock.time))

    async def _lead(self, kube: Any, session: WardenSession) -> None:
        d = self.deps
        elector = LeaderElector(kube, self.config.leader_election, self.log, self.metrics, d.clock,
                                d.monotonic, d.uniform)
        self._elector = elector
        ctx = self._context(kube, session, elector)
        controllers = [c for x in self.config.controllers for c in _built(x.kind.build(x.settings, ctx))]
        backoff = Backoff(1.0, 60.0, d.uniform)
        try:
            while True:
                await elector.acquire()
                failure = await self._term(elector, controllers, ctx)
                if failure is None:
                    backoff.reset()
                    continue
                delay = backoff.next_delay()
                self.log.error("a controller failed; giving up the lease", error=failure,
                               retry_in=round(delay, 2))
                await elector.release()
                await d.clock.sleep(delay)
        except asyncio.CancelledError:
            await elector.release()  # stopping: the controllers have stopped, hand over now
            raise

    async def _term(self, elector: LeaderElector, controllers: list[Controller], ctx: Context) -> str | None:
        """Run the controllers while this process leads; a controller's failure, or None
        when the term ended because the Lease was lost."""
        hold = asyncio.ensure_future(elector.hold())
        runners = [ControllerLoop(c, ctx, self.metrics) for c in controllers]
        loops = {asyncio.ensure_future(r.run()): r.controller for r in runners}
        try:
            await asyncio.wait({hold, *loops}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # Stopping while leading: finish what is under way (the Lease is still renewed),
            # then stop; the caller releases the Lease.
            drain = self.config.leader_election.renew_deadline / 2
            await asyncio.gather(*(r.drain(drain) for r in runners))
            raise
        finally:
            for task in (hold, *loops):
                task.cancel()
            await asyncio.gather(hold, *loops, return_exceptions=True)
        for task, controller in loops.items():
            if task.done() and not task.cancelled() and task.exception() is not None:
                exc = task.exception()
                assert exc is not None
                if isinstance(exc, NotLeading):
                    return None
                if isinstance(exc, RootTokenRefused):
                    raise exc
                return f"{controller.name}: {_describe(exc)}"
        return None

    # -- health ---------------------------------------------------------------------------

    def _pages(self) -> Mapping[str, Callable[[], Page]]:
        return {"/healthz": self._healthz, "/readyz": self._readyz}

    def _healthz(self) -> Page:
        role = "leader" if self._elector is not None and self._elector.is_leading() else "standby"
        return "200 OK", TEXT, f"ok ({role})\n".encode()

    def _readyz(self) -> Page:
        if not self._logged_in:
            return "503 Service Unavailable", TEXT, b"not logged in to warden yet\n"
        return "200 OK", TEXT, b"ok\n"

    # -- process --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        if not self.deps.handle_signals:
            yield
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        try:
            yield
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    def _fail(self, message: str) -> int:
        self.failure = message
        self.log.error("controller failed", error=message)
        return EXIT_FAILED


def _built(made: Controller | Sequence[Controller]) -> list[Controller]:
    """A kind's ``build`` returns one controller or several."""
    return list(made) if isinstance(made, Sequence) else [made]


def _describe(exc: BaseException) -> str:
    if kubeclient.status_code(exc) is not None:
        return kubeclient.describe(exc)
    return describe(exc)
