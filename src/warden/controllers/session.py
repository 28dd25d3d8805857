"""The controller's warden login: the agent's auto-auth methods and token keeper (log in,
renew, log in again), plus one rule of its own: never work with a root token.

A controller acts for many requesters; seed 003's controller refuses root tokens, and so
does this one: a token that is root, or that carries the ``root`` policy, stops the process
with a clear message (at start, and after any later re-login).
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from warden.agent.autoauth import LoginContext, build_method, refuse_root_token
from warden.agent.backoff import Uniform
from warden.agent.clock import Clock
from warden.agent.config import ServerSettings
from warden.agent.config_sections import MethodConfig
from warden.agent.lifetime import TokenInfo, TokenKeeper
from warden.agent.logs import AgentLog
from warden.api import AsyncClient, JsonDict
from warden.controllers.metrics import RuntimeMetrics


def client_for(server: ServerSettings, token: str,
               transport: httpx.AsyncBaseTransport | None = None) -> AsyncClient:
    return AsyncClient(server.address, token, ca_cert=server.ca_cert, ca_path=server.ca_path,
                       client_cert=server.client_cert, client_key=server.client_key,
                       tls_skip_verify=server.tls_skip_verify, timeout=server.timeout, transport=transport)


@dataclass(slots=True)
class WardenSession:
    """``api`` always carries the current token; ``keeper.run()`` keeps it alive."""

    api: AsyncClient
    anonymous: AsyncClient
    keeper: TokenKeeper

    @classmethod
    def open(cls, server: ServerSettings, method: MethodConfig, *, clock: Clock, uniform: Uniform,
             log: AgentLog, metrics: RuntimeMetrics,
             transport: httpx.AsyncBaseTransport | None = None) -> WardenSession:
        api, anonymous = client_for(server, "", transport), client_for(server, "", transport)
        ctx = LoginContext(anonymous, lambda token: client_for(server, token, transport))

        async def on_new_token(info: TokenInfo | None, _response: JsonDict) -> None:
            if info is not None:
                await refuse_root(api, info)

        keeper = TokenKeeper(build_method(method), method, ctx, api, clock, uniform, log, metrics,
                             on_new_token, program="controller", root_override="")
        return cls(api, anonymous, keeper)

    def report_denied(self) -> None:
        """A request was refused with 403: the token may have been revoked; check it now."""
        self.keeper.report_denied()

    async def aclose(self) -> None:
        await self.api.aclose()
        await self.anonymous.aclose()


async def refuse_root(api: AsyncClient, info: TokenInfo) -> None:
    """Raise RootTokenRefused for a root token; the server's own view of the token decides
    (``lookup-self``), not only what the login answered. No override, unlike the agent."""
    looked_up = ((await api.read("auth/token/lookup-self")) or {}).get("data") or {}
    refuse_root_token({"policies": [*info.policies, *(looked_up.get("policies") or ())],
                       "identity_policies": looked_up.get("identity_policies") or ()},
                      method="the login", allow_root_token=False, program="controller", override="")
