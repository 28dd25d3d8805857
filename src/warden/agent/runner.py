"""The agent's supervisor: auth -> sinks -> certificates and templates, until told to stop.

``Agent.run()`` returns the exit code. SIGHUP re-reads the configuration (a bad new one is
logged and the running one kept) and starts over, keeping the token when the server and
auto-auth settings did not change; SIGTERM/SIGINT stop cleanly with 0. In ``once`` mode
(``-once`` or ``exit_after_auth``) everything is written a single time: 0 on success,
2 with the reason otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import signal
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from warden.agent.autoauth import AuthMethod, LoginContext, build_method
from warden.agent.backoff import Backoff, Uniform
from warden.agent.certs import CertificateKeeper
from warden.agent.clock import Clock, SystemClock
from warden.agent.commands import CommandRunner
from warden.agent.config import AgentConfig, ConfigError, load_config
from warden.agent.config_sections import MethodConfig
from warden.agent.errors import describe, is_permanent, is_retryable
from warden.agent.files import pid_file
from warden.agent.lifetime import LoginFailed, TokenInfo, TokenKeeper
from warden.agent.logs import AgentLog
from warden.agent.metrics import AgentMetrics, MetricsServer
from warden.agent.sink import write_sinks
from warden.agent.templates import TemplateKeeper
from warden.api import AsyncClient, ClientError, JsonDict

EXIT_OK, EXIT_CONFIG, EXIT_FAILED = 0, 1, 2
DEFAULT_ONCE_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class Options:
    once: bool = False
    once_timeout: float = DEFAULT_ONCE_TIMEOUT
    handle_signals: bool = True
    allow_root_token: bool = False  # seed 003: a root token is refused unless this is set


@dataclass(slots=True)
class Dependencies:
    """Everything from outside: tests pass a fake clock, fixed randomness, transports."""

    clock: Clock = field(default_factory=SystemClock)
    uniform: Uniform = random.uniform
    environ: Mapping[str, str] = field(default_factory=dict)
    log: AgentLog = field(default_factory=AgentLog)
    transport: httpx.AsyncBaseTransport | None = None
    metadata_transport: httpx.AsyncBaseTransport | None = None


class Agent:
    def __init__(self, config: AgentConfig, options: Options = Options(),
                 deps: Dependencies | None = None) -> None:
        self.config = config
        self.options = options
        self.deps = deps or Dependencies()
        self.log = self.deps.log
        self.metrics = AgentMetrics(self.deps.clock)
        self.failure = ""
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()
        self._keeper: TokenKeeper | None = None
        self._sink_failures: list[str] = []
        self._same_auth = False
        self._sinks_changed = False
        self._auth_method: tuple[MethodConfig, AuthMethod] | None = None
        self.commands = CommandRunner(self.log, self.metrics)

    @property
    def once(self) -> bool:
        return self.options.once or self.config.exit_after_auth

    def stop(self) -> None:
        self._stop.set()

    def reload(self) -> None:
        self._reload.set()

    async def run(self) -> int:
        c = self.config
        self.log.info("agent starting", address=c.server.address, method=c.auto_auth.method.type,
                      sinks=len(c.auto_auth.sinks), certificates=len(c.certificates),
                      templates=len(c.templates), once=self.once)
        with self._signals(), pid_file(self.config.pid_file):
            try:
                return await self._run_configurations()
            finally:
                await self.commands.drain()

    async def _run_configurations(self) -> int:
        prior: TokenInfo | None = None
        while True:
            serving = asyncio.ensure_future(self._serve(self.config, prior))
            outcome = await self._supervise(serving)
            if outcome is not None:
                return outcome
            prior = self._token_to_keep()

    async def _supervise(self, serving: asyncio.Future[int]) -> int | None:
        """The exit code, or None when a reload was accepted and serving must restart."""
        while True:
            stop = asyncio.ensure_future(self._stop.wait())
            reload = asyncio.ensure_future(self._reload.wait())
            waiting: set[asyncio.Future[Any]] = {serving, stop, reload}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            reload.cancel()
            if serving.done():
                return serving.result()
            if self._stop.is_set():
                await _cancel(serving)
                self.log.info("stopped")
                return EXIT_OK
            self._reload.clear()
            if self._reloaded_config():
                await _cancel(serving)
                return None

    def _reloaded_config(self) -> bool:
        if self.config.path is None:
            self.log.warning("reload requested, but the configuration did not come from a file")
            return False
        try:
            new = load_config(self.config.path, self.deps.environ)
        except ConfigError as exc:
            self.log.error("reload failed; keeping the running configuration", error=str(exc))
            return False
        self._same_auth = (new.server, new.auto_auth.method) == (self.config.server,
                                                                 self.config.auto_auth.method)
        self._sinks_changed = new.auto_auth.sinks != self.config.auto_auth.sinks
        self.log.info("configuration reloaded", path=str(self.config.path))
        self.config = new
        return True

    def _token_to_keep(self) -> TokenInfo | None:
        """The token survives a reload when the server and method did not change; a token
        file is read again, since a reload is how a rotated token file is picked up."""
        keeper = self._keeper
        if (self._same_auth and keeper is not None and not keeper.wrapped
                and self.config.auto_auth.method.type != "token_file"):
            return keeper.current
        return None

    def _method(self, config: MethodConfig) -> AuthMethod:
        """One method object per method configuration, across reloads: it remembers
        credentials read from files that are removed after reading (a secret-id)."""
        if self._auth_method is None or self._auth_method[0] != config:
            self._auth_method = (config, build_method(config))
        return self._auth_method[1]

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        if not self.options.handle_signals:
            yield
            return
        loop = asyncio.get_running_loop()
        handlers: list[tuple[int, Callable[[], None]]] = [
            (signal.SIGTERM, self.stop), (signal.SIGINT, self.stop), (signal.SIGHUP, self.reload)]
        for sig, handler in handlers:
            loop.add_signal_handler(sig, handler)
        try:
            yield
        finally:
            for sig, _ in handlers:
                loop.remove_signal_handler(sig)

    # -- one configuration ----------------------------------------------------------------

    async def _serve(self, config: AgentConfig, prior: TokenInfo | None) -> int:
        try:
            api, anonymous = self._client(config, ""), self._client(config, "")
        except ClientError as exc:
            return self._fail(f"cannot set up the connection to {config.server.address}: {exc}", EXIT_CONFIG)
        server = MetricsServer(config.listener, self.metrics, self.log) if config.listener else None
        try:
            if server is not None:
                try:
                    await server.start()
                except OSError as exc:
                    where = f"{server.listener.host}:{server.listener.port}"
                    return self._fail(f"cannot serve metrics on {where}: {exc.strerror or exc}")
            return await self._serve_with(config, prior, api, anonymous)
        finally:
            if server is not None:
                await server.close()
            await api.aclose()
            await anonymous.aclose()

    def _client(self, config: AgentConfig, token: str) -> AsyncClient:
        s = config.server
        return AsyncClient(s.address, token, ca_cert=s.ca_cert, ca_path=s.ca_path,
                           client_cert=s.client_cert, client_key=s.client_key,
                           tls_skip_verify=s.tls_skip_verify, timeout=s.timeout,
                           transport=self.deps.transport)

    async def _serve_with(self, config: AgentConfig, prior: TokenInfo | None,
                          api: AsyncClient, anonymous: AsyncClient) -> int:
        deadline = self.deps.clock.time() + self.options.once_timeout if self.once else math.inf
        keeper = self._token_keeper(config, api, anonymous)
        self._keeper = keeper
        try:
            if prior is not None:
                keeper.adopt(prior)
                self.log.info("keeping the current token across the reload", accessor=prior.accessor)
                if self._sinks_changed:
                    await write_sinks(config.auto_auth.sinks, prior, {}, api, config.server.address,
                                      self.log)
            else:
                await keeper.login_until_success(give_up_on_permanent=self.once, deadline=deadline)
        except LoginFailed as exc:
            return self._fail(f"could not authenticate with {keeper.method.name}: {exc}")
        if self.once:
            return await self._once(config, keeper, api, deadline)
        if keeper.wrapped:
            self.log.info("the token is response-wrapped: nothing more to do until stopped")
        certs, templates = self._keepers(config, keeper, api)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(keeper.run())
                for c in certs:
                    group.create_task(c.run())
                for t in templates:
                    group.create_task(t.run())
        except ExceptionGroup as failures:
            return self._fail("; ".join(describe(e) for e in failures.exceptions))
        return EXIT_OK

    def _token_keeper(self, config: AgentConfig, api: AsyncClient, anonymous: AsyncClient) -> TokenKeeper:
        ctx = LoginContext(anonymous, lambda token: self._client(config, token),
                           config.auto_auth.method.wrap_ttl, self.deps.metadata_transport)

        async def on_new_token(info: TokenInfo | None, response: JsonDict) -> None:
            self._sink_failures = await write_sinks(config.auto_auth.sinks, info, response, api,
                                                    config.server.address, self.log)

        return TokenKeeper(self._method(config.auto_auth.method), config.auto_auth.method, ctx, api,
                           self.deps.clock, self.deps.uniform, self.log, self.metrics, on_new_token,
                           allow_root_token=self.options.allow_root_token)

    def _keepers(self, config: AgentConfig, keeper: TokenKeeper,
                 api: AsyncClient) -> tuple[list[CertificateKeeper], list[TemplateKeeper]]:
        d, m = self.deps, config.auto_auth.method
        certs = [CertificateKeeper(c, api, d.clock, d.uniform, self.log, self.metrics,
                                   keeper.report_denied, m.min_backoff, m.max_backoff,
                                   commands=self.commands)
                 for c in config.certificates]
        templates = [TemplateKeeper(t, config.template_settings, api, d.clock, d.uniform, self.log,
                                    self.metrics, d.environ, keeper.report_denied, m.min_backoff,
                                    m.max_backoff, commands=self.commands)
                     for t in config.templates]
        return certs, templates

    # -- once -------------------------------------------------------------------------------

    async def _once(self, config: AgentConfig, keeper: TokenKeeper, api: AsyncClient,
                    deadline: float) -> int:
        problems = list(self._sink_failures)
        certs, templates = self._keepers(config, keeper, api)
        for cert in certs:
            problems += await self._attempt(f"certificate {cert.config.name}", cert.ensure, deadline, config)
            if cert.last_command is not None and not cert.last_command.ok:
                problems.append(f"certificate {cert.config.name}: its command failed")
        for template in templates:
            problems += await self._attempt(f"template {template.config.name}", template.render_and_write,
                                            deadline, config)
            if template.last_command is not None and not template.last_command.ok:
                problems.append(f"template {template.config.name}: its command failed")
        if problems:
            return self._fail("; ".join(problems))
        self.log.info("all files written; exiting (once)")
        return EXIT_OK

    async def _attempt(self, what: str, action: Callable[[], Awaitable[None]], deadline: float,
                       config: AgentConfig) -> list[str]:
        method = config.auto_auth.method
        backoff = Backoff(method.min_backoff, method.max_backoff, self.deps.uniform)
        while True:
            try:
                await action()
                return []
            except Exception as exc:
                if not is_retryable(exc):
                    raise
                delay = backoff.next_delay()
                if is_permanent(exc) or self.deps.clock.time() + delay > deadline:
                    return [f"{what}: {describe(exc)}"]
                self.log.warning("retrying", target=what, error=describe(exc), retry_in=round(delay, 2))
                await self.deps.clock.sleep(delay)

    def _fail(self, message: str, code: int = EXIT_FAILED) -> int:
        self.failure = message
        self.log.error("agent failed", error=message)
        return code


async def _cancel(task: asyncio.Future[int]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
