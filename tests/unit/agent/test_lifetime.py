"""Token lifetime with a fake clock: renew at ~2/3, log in again when renewal stops working."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from support.agent import FakeClock, FakeServer, auth_body, fail, respond, unreachable
from warden.agent.autoauth import LoginContext, post_login
from warden.agent.config_sections import MethodConfig, TokenFileParams
from warden.agent.lifetime import LoginFailed, TokenInfo, TokenKeeper, renewal_delay
from warden.agent.logs import AgentLog
from warden.agent.metrics import AgentMetrics
from warden.api import AsyncClient, JsonDict

ADDRESS = "http://warden.test"


def low(a: float, b: float) -> float:
    return a


@dataclass
class StubMethod:
    name: str = "stub"

    async def login(self, ctx: LoginContext) -> JsonDict:
        return await post_login(ctx, "auth/stub", {"who": "me"})


@dataclass
class Harness:
    server: FakeServer
    clock: Any
    exit_on_err: bool = False
    tokens: list[TokenInfo | None] = field(default_factory=list)

    def keeper(self) -> TokenKeeper:
        transport = self.server.transport()
        api = AsyncClient(ADDRESS, transport=transport)
        ctx = LoginContext(AsyncClient(ADDRESS, transport=transport),
                           lambda token: AsyncClient(ADDRESS, token, transport=transport))
        config = MethodConfig("stub", "auth/stub", TokenFileParams(None), min_backoff=1.0,  # type: ignore[arg-type]
                              max_backoff=8.0, exit_on_err=self.exit_on_err)

        async def hook(info: TokenInfo | None, response: JsonDict) -> None:
            self.tokens.append(info)

        return TokenKeeper(StubMethod(), config, ctx, api, self.clock, low, AgentLog(),
                           AgentMetrics(self.clock), hook)


def test_renewal_delay_is_two_thirds_plus_a_third_of_the_grace() -> None:
    assert renewal_delay(60, low) == pytest.approx(42.0)
    assert renewal_delay(60, lambda a, b: b) == pytest.approx(44.0)


async def test_renews_at_two_thirds_then_logs_in_again_when_refused() -> None:
    server = FakeServer({"auth/stub/login": respond(auth_body("t-1", 60)),
                         "auth/token/renew-self": [respond(auth_body("t-1", 60)),
                                                   respond(auth_body("t-1", 60)),
                                                   fail(403, "permission denied")]})
    clock = FakeClock()
    keeper = Harness(server, clock).keeper()
    await keeper.login()
    assert keeper.api.token == "t-1" and keeper.current is not None
    reason = await keeper.keep_alive(keeper.current)
    assert reason.startswith("renewal was refused") and "permission denied" in reason
    assert clock.sleeps == pytest.approx([42.0, 42.0, 42.0])
    renewals = [(c[1], c[2], c[3]) for c in server.calls if c[1] == "auth/token/renew-self"]
    assert renewals == [("auth/token/renew-self", "t-1", {"increment": 60})] * 3


async def test_stops_renewing_near_the_maximum_ttl() -> None:
    server = FakeServer({"auth/stub/login": respond(auth_body("t-1", 60)),
                         "auth/token/renew-self": [respond(auth_body("t-1", 30)),
                                                   respond(auth_body("t-1", 5))]})
    keeper = Harness(server, FakeClock()).keeper()
    await keeper.login()
    assert keeper.current is not None
    assert await keeper.keep_alive(keeper.current) == "the token is near its maximum TTL"
    assert keeper.current.lease_duration == 5


async def test_keeps_retrying_an_unreachable_server_until_the_token_expires() -> None:
    server = FakeServer({"auth/stub/login": respond(auth_body("t-1", 60)),
                         "auth/token/renew-self": unreachable})
    clock = FakeClock()
    keeper = Harness(server, clock).keeper()
    await keeper.login()
    start = clock.now
    assert keeper.current is not None
    reason = await keeper.keep_alive(keeper.current)
    assert reason == "the token expired while the server could not be reached"
    assert clock.now - start == pytest.approx(60.0)
    assert clock.sleeps[:4] == pytest.approx([42.0, 1.0, 1.0, 1.0])  # the backoff's floor with low draws
    assert server.paths().count("auth/token/renew-self") > 3


async def test_a_denied_request_triggers_a_check_and_a_new_login_when_revoked() -> None:
    server = FakeServer({"auth/stub/login": respond(auth_body("t-1", 3600)),
                         "auth/token/lookup-self": [respond({"data": {"ttl": 100}}),
                                                    fail(403, "permission denied")]})

    class StillClock(FakeClock):
        async def sleep(self, seconds: float) -> None:
            self.sleeps.append(seconds)
            await asyncio.Event().wait()

    keeper = Harness(server, StillClock()).keeper()
    await keeper.login()
    assert keeper.current is not None
    task = asyncio.ensure_future(keeper.keep_alive(keeper.current))
    await asyncio.sleep(0.01)
    keeper.report_denied()  # still valid: back to sleep
    await asyncio.sleep(0.01)
    assert not task.done()
    keeper.report_denied()
    assert await asyncio.wait_for(task, 1) == "the token was revoked or has expired"
    assert server.paths().count("auth/token/lookup-self") == 2


async def test_login_retries_with_backoff_and_permanent_failures_can_stop_it() -> None:
    server = FakeServer({"auth/stub/login": [unreachable, fail(500, "sealed"), respond(auth_body("t-2"))]})
    clock = FakeClock()
    harness = Harness(server, clock)
    keeper = harness.keeper()
    await keeper.login_until_success()
    assert clock.sleeps == [1.0, 1.0] and keeper.api.token == "t-2"
    assert harness.tokens and harness.tokens[0] is not None and harness.tokens[0].token == "t-2"

    denied = FakeServer({"auth/stub/login": fail(400, "invalid role ID")})
    keeper = Harness(denied, FakeClock()).keeper()
    with pytest.raises(LoginFailed, match="invalid role ID"):
        await keeper.login_until_success(give_up_on_permanent=True)

    down = FakeServer({"auth/stub/login": unreachable})
    keeper = Harness(down, FakeClock(), exit_on_err=True).keeper()
    with pytest.raises(LoginFailed, match="connection refused"):
        await keeper.login_until_success()
    keeper = Harness(FakeServer({"auth/stub/login": unreachable}), clock := FakeClock()).keeper()
    with pytest.raises(LoginFailed):
        await keeper.login_until_success(deadline=clock.now + 5)


async def test_run_logs_in_again_and_hands_out_the_new_token() -> None:
    server = FakeServer({"auth/stub/login": [respond(auth_body("t-1", 30)), respond(auth_body("t-2", 30))],
                         "auth/token/renew-self": fail(403, "token expired")})
    harness = Harness(server, FakeClock())
    keeper = harness.keeper()
    await keeper.login()
    task = asyncio.ensure_future(keeper.run())
    for _ in range(100):
        if len(harness.tokens) >= 3:
            break
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [t.token for t in harness.tokens if t][:3] == ["t-1", "t-2", "t-2"]
    assert keeper.api.token == "t-2"
    assert keeper.metrics.logins.labels(result="success")._value.get() >= 3


async def test_a_wrapped_login_is_handed_on_and_never_renewed() -> None:
    wrap = {"wrap_info": {"token": "w", "accessor": "a", "ttl": 300, "creation_path": "auth/stub/login"}}
    server = FakeServer({"auth/stub/login": respond(wrap)})
    harness = Harness(server, FakeClock())
    keeper = harness.keeper()
    await keeper.login()
    assert keeper.wrapped and harness.tokens == [None] and keeper.api.token == ""
    task = asyncio.ensure_future(keeper.run())
    await asyncio.sleep(0.01)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert server.paths() == ["auth/stub/login"]


def _root_body(token: str = "root-1", key: str = "policies") -> dict[str, Any]:
    body = auth_body(token)
    body["auth"][key] = ["root"]
    return body


@pytest.mark.parametrize("key", ["policies", "token_policies"])
async def test_a_root_token_is_refused_at_once_and_never_handed_out(key: str) -> None:
    """Seed 003's rule: no root token unless -allow-root-token, and no retrying either."""
    server = FakeServer({"auth/stub/login": respond(_root_body(key=key))})
    clock = FakeClock()
    harness = Harness(server, clock)
    keeper = harness.keeper()
    with pytest.raises(LoginFailed, match=r'root token \(policy "root"\).*-allow-root-token'):
        await keeper.login_until_success()
    assert harness.tokens == [] and keeper.api.token == "" and clock.sleeps == []
    assert server.paths() == ["auth/stub/login"]


async def test_a_root_token_is_kept_when_allowed() -> None:
    server = FakeServer({"auth/stub/login": respond(_root_body())})
    harness = Harness(server, FakeClock())
    keeper = harness.keeper()
    keeper.allow_root_token = True
    await keeper.login_until_success()
    assert keeper.api.token == "root-1"


def test_the_rule_is_one_reusable_function() -> None:
    """The controllers reuse it: a mapping in, RootTokenRefused out."""
    from warden.agent.autoauth import RootTokenRefused, refuse_root_token

    refuse_root_token({"policies": ["default", "nyc1/k8s/etcd-cp1"]}, method="token_file",
                      allow_root_token=False)
    refuse_root_token({"policies": ["root"]}, method="token_file", allow_root_token=True)
    with pytest.raises(RootTokenRefused, match="token_file gave a root token"):
        refuse_root_token({"token_policies": ["root"]}, method="token_file", allow_root_token=False)
