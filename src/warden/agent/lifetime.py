"""The token's life: log in, renew at about 2/3 of the lease, log in again when renewal
is refused, the token expires, or its maximum TTL is reached.

Renewal follows Vault's ``LifetimeWatcher``: sleep 2/3 of the remaining lease plus a third
of a random grace of 10-20% of it, so a fleet spreads out; once a renewal no longer buys
more than the grace, the token is near its maximum TTL and the agent logs in afresh
while the old token still works.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from prometheus_client import Counter

from warden.agent.autoauth import AuthMethod, LoginContext, RootTokenRefused, refuse_root_token
from warden.agent.backoff import Backoff, Uniform
from warden.agent.clock import Clock
from warden.agent.config_sections import MethodConfig
from warden.agent.errors import describe, is_permanent, is_retryable
from warden.agent.logs import AgentLog
from warden.api import AsyncClient, Forbidden, JsonDict


@dataclass(frozen=True, slots=True)
class TokenInfo:
    token: str = field(repr=False)
    accessor: str = ""
    lease_duration: float = 0.0
    renewable: bool = False
    obtained_at: float = 0.0
    policies: tuple[str, ...] = ()

    @property
    def expires_at(self) -> float:
        return self.obtained_at + self.lease_duration if self.lease_duration > 0 else math.inf

    @classmethod
    def from_auth(cls, auth: Mapping[str, Any], now: float) -> TokenInfo:
        return cls(token=str(auth["client_token"]), accessor=str(auth.get("accessor") or ""),
                   lease_duration=float(auth.get("lease_duration") or 0),
                   renewable=bool(auth.get("renewable")), obtained_at=now,
                   policies=tuple(auth.get("policies") or ()))


def renewal_delay(remaining: float, uniform: Uniform) -> float:
    grace = remaining * uniform(0.1, 0.2)
    return remaining * 2 / 3 + grace / 3


class TokenMetrics(Protocol):
    """What the keeper records: the agent's metrics, or a controller process's."""

    logins: Counter
    token_renewals: Counter
    token_expires_at: float


NewTokenHook = Callable[[TokenInfo | None, JsonDict], Awaitable[None]]


class LoginFailed(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(describe(cause))
        self.cause = cause


@dataclass(slots=True)
class TokenKeeper:
    method: AuthMethod
    config: MethodConfig
    ctx: LoginContext
    api: AsyncClient
    clock: Clock
    uniform: Uniform
    log: AgentLog
    metrics: TokenMetrics
    on_new_token: NewTokenHook
    current: TokenInfo | None = None
    wrapped: bool = False
    allow_root_token: bool = False
    _suspect: asyncio.Event = field(default_factory=asyncio.Event)

    # -- logging in ---------------------------------------------------------------------

    async def login(self) -> None:
        response = await self.method.login(self.ctx)
        self.metrics.logins.labels(result="success").inc()
        if response.get("wrap_info") and not response.get("auth"):
            self.wrapped, self.current = True, None
            self.log.info("authenticated; the token is response-wrapped and will not be renewed",
                          method=self.method.name)
            await self.on_new_token(None, response)
            return
        refuse_root_token(response["auth"], method=self.method.name, allow_root_token=self.allow_root_token)
        info = TokenInfo.from_auth(response["auth"], self.clock.time())
        self.adopt(info)
        self.log.info("authenticated", method=self.method.name, accessor=info.accessor,
                      ttl=int(info.lease_duration), renewable=info.renewable)
        await self.on_new_token(info, response)

    def adopt(self, info: TokenInfo) -> None:
        self.current = info
        self.api.token = info.token
        self.metrics.token_expires_at = info.expires_at

    async def login_until_success(self, *, give_up_on_permanent: bool = False,
                                  deadline: float = math.inf) -> None:
        backoff = Backoff(self.config.min_backoff, self.config.max_backoff, self.uniform)
        while True:
            try:
                await self.login()
                return
            except RootTokenRefused as exc:
                self.log.error("authentication refused", method=self.method.name, error=str(exc))
                raise LoginFailed(exc) from exc
            except Exception as exc:
                if not is_retryable(exc):
                    raise
                self.metrics.logins.labels(result="failure").inc()
                delay = backoff.next_delay()
                stop = self.config.exit_on_err or (give_up_on_permanent and is_permanent(exc))
                self.log.error("authentication failed", method=self.method.name,
                               error=describe(exc), **({} if stop else {"retry_in": round(delay, 2)}))
                if stop or self.clock.time() + delay > deadline:
                    raise LoginFailed(exc) from exc
                await self.clock.sleep(delay)

    # -- staying logged in --------------------------------------------------------------

    def report_denied(self) -> None:
        """A request was refused: the token may have been revoked; check it now."""
        self._suspect.set()

    async def run(self) -> None:
        """Keep a token for as long as the agent runs (after the first login)."""
        if self.wrapped:
            await asyncio.Event().wait()  # Vault Agent stays up; the client renews the token
        while True:
            assert self.current is not None
            reason = await self.keep_alive(self.current)
            self.log.info("logging in again", method=self.method.name, reason=reason)
            await self.login_until_success()

    async def keep_alive(self, info: TokenInfo) -> str:
        """Renew until the token cannot be kept any longer; the reason why."""
        grace = info.lease_duration * self.uniform(0.1, 0.2)
        increment = max(1, int(info.lease_duration))  # Vault asks for the first lease each time
        backoff = Backoff(self.config.min_backoff, self.config.max_backoff, self.uniform)
        delay: float | None = None
        while True:
            remaining = info.expires_at - self.clock.time()
            if delay is None:
                delay = renewal_delay(remaining, self.uniform) if math.isfinite(remaining) else math.inf
            if await self._wait(delay):
                if not await self._still_valid():
                    return "the token was revoked or has expired"
                delay = None
                continue
            if not info.renewable or not math.isfinite(remaining):
                return "the token is not renewable and is about to expire"
            outcome = await self._renew(info, increment)
            if isinstance(outcome, str):
                return outcome
            if outcome is None:  # the server could not be reached: retry until expiry
                if self.clock.time() >= info.expires_at:
                    return "the token expired while the server could not be reached"
                delay = min(backoff.next_delay(), max(0.0, info.expires_at - self.clock.time()))
                continue
            backoff.reset()
            info, delay = outcome, None
            if info.lease_duration <= grace:
                return "the token is near its maximum TTL"

    async def _renew(self, info: TokenInfo, increment: int) -> TokenInfo | str | None:
        """The renewed token, a reason to log in again, or None for "try again later"."""
        try:
            body = await self.api.write("auth/token/renew-self", {"increment": increment})
        except Exception as exc:
            if not is_retryable(exc):
                raise
            self.metrics.token_renewals.labels(result="failure").inc()
            self.log.warning("token renewal failed", accessor=info.accessor, error=describe(exc))
            return f"renewal was refused ({describe(exc)})" if is_permanent(exc) else None
        auth = (body or {}).get("auth") or {}
        renewed = replace(info, lease_duration=float(auth.get("lease_duration") or 0),
                          renewable=bool(auth.get("renewable", info.renewable)),
                          obtained_at=self.clock.time())
        self.adopt(renewed)
        self.metrics.token_renewals.labels(result="success").inc()
        self.log.info("renewed token", accessor=info.accessor, ttl=int(renewed.lease_duration))
        return renewed

    async def _wait(self, delay: float) -> bool:
        """Sleep ``delay``; True if woken early by ``report_denied``."""
        if self._suspect.is_set():
            return True
        waiter = asyncio.ensure_future(self._suspect.wait())
        tasks: set[asyncio.Future[Any]] = {waiter}
        if math.isfinite(delay):
            tasks.add(asyncio.ensure_future(self.clock.sleep(delay)))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
        return waiter in done

    async def _still_valid(self) -> bool:
        self._suspect.clear()
        try:
            await self.api.read("auth/token/lookup-self")
        except Forbidden:
            return False
        except Exception as exc:
            if not is_retryable(exc):
                raise
        return True
