"""The supervisor: once mode end to end against a scripted server, reloads, clean stop."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from support.agent import FakeClock, FakeServer, auth_body, fail, issue_leaf, make_ca, respond, unreachable
from warden.agent.config import load_config
from warden.agent.runner import EXIT_FAILED, EXIT_OK, Agent, Dependencies, Options

CA = make_ca()


def write_config(tmp_path: Path, extra: str = "", method: str = "") -> Path:
    (tmp_path / "role-id").write_text("r-1")
    (tmp_path / "secret-id").write_text("s-1")
    method = method or f"""method "approle" {{ config = {{
        role_id_file_path = "{tmp_path}/role-id"  secret_id_file_path = "{tmp_path}/secret-id" }} }}"""
    path = tmp_path / "agent.hcl"
    path.write_text(f"""
        warden {{ address = "http://warden.test" }}
        auto_auth {{
          {method}
          sink "file" {{ format = "json" config = {{ path = "{tmp_path}/out/token.json" }} }}
        }}
        {extra}
    """)
    return path


def agent(path: Path, server: FakeServer, *, once: bool, clock: FakeClock | None = None) -> Agent:
    deps = Dependencies(clock=clock or FakeClock(), uniform=lambda a, b: a, transport=server.transport())
    return Agent(load_config(path), Options(once=once, handle_signals=False), deps)


CERT = """certificate "web" { mount = "pki" role = "web" common_name = "web.example"
  cert_file = "%s/out/cert.pem" key_file = "%s/out/key.pem" ca_file = "%s/out/ca.pem" }"""


async def test_once_writes_token_certificate_and_template(tmp_path: Path) -> None:
    extra = (CERT % ((tmp_path,) * 3)) + f"""
        template {{ contents = "user={{{{ kv('secret/app', 'user') }}}}"
                    destination = "{tmp_path}/out/app" }}"""
    server = FakeServer({
        "auth/approle/login": respond(auth_body("t-1", 600)),
        "pki/issue/web": respond({"data": issue_leaf(CA, "web.example")}),
        "sys/internal/ui/mounts/secret/app": respond(
            {"data": {"path": "secret/", "options": {"version": "2"}}}),
        "secret/data/app": respond({"data": {"data": {"user": "alice"}}})})
    a = agent(write_config(tmp_path, extra), server, once=True)
    assert await a.run() == EXIT_OK
    token = json.loads((tmp_path / "out" / "token.json").read_text())
    assert token["clientToken"] == "t-1" and token["leaseDuration"] == 600
    assert token["vaultAddr"] == "http://warden.test"
    assert (tmp_path / "out" / "app").read_text() == "user=alice"
    assert (tmp_path / "out" / "ca.pem").read_text() == CA.pem
    assert all(c[2] == "t-1" for c in server.calls if c[1] != "auth/approle/login")


async def test_once_fails_at_once_on_a_refusal_and_says_why(tmp_path: Path) -> None:
    server = FakeServer({"auth/approle/login": fail(400, "invalid role or secret ID")})
    a = agent(write_config(tmp_path), server, once=True)
    assert await a.run() == EXIT_FAILED
    assert "could not authenticate with approle" in a.failure and "invalid role or secret ID" in a.failure
    assert server.paths() == ["auth/approle/login"]

    server = FakeServer({"auth/approle/login": respond(auth_body()),
                         "pki/issue/web": fail(400, "unknown role")})
    a = agent(write_config(tmp_path, CERT % ((tmp_path,) * 3)), server, once=True)
    assert await a.run() == EXIT_FAILED
    assert a.failure == ("certificate web: PUT http://warden.test/v1/pki/issue/web: 400: unknown role")


async def test_once_retries_an_unreachable_server_until_the_timeout(tmp_path: Path) -> None:
    server = FakeServer({"auth/approle/login": unreachable})
    clock = FakeClock()
    a = agent(write_config(tmp_path), server, once=True, clock=clock)
    assert await a.run() == EXIT_FAILED
    assert 5 < len(server.calls) and clock.sleeps and sum(clock.sleeps) <= 60
    assert "connection refused" in a.failure


async def test_reload_keeps_the_token_applies_the_new_config_and_survives_a_bad_one(tmp_path: Path) -> None:
    path = write_config(tmp_path, f'pid_file = "{tmp_path}/agent.pid"')
    server = FakeServer({"auth/approle/login": respond(auth_body("t-1", 3600))})
    a = Agent(load_config(path), Options(handle_signals=False), Dependencies(transport=server.transport()))
    running = asyncio.ensure_future(a.run())
    await _until(lambda: (tmp_path / "out" / "token.json").exists())
    assert (tmp_path / "agent.pid").read_text() == f"{os.getpid()}\n"
    assert not (tmp_path / "secret-id").exists()
    text = path.read_text().replace("/out/token.json", "/out/token2.json")
    path.write_text(text + f'\ntemplate {{ contents = "v2" destination = "{tmp_path}/out/t" }}\n')
    a.reload()
    await _until(lambda: (tmp_path / "out" / "t").exists())
    assert server.paths() == ["auth/approle/login"]  # the token was kept: no second login
    assert json.loads((tmp_path / "out" / "token2.json").read_text())["clientToken"] == "t-1"
    path.write_text("warden {")
    a.reload()
    await asyncio.sleep(0.05)
    assert not running.done() and a.config.templates
    a.stop()
    assert await asyncio.wait_for(running, 5) == EXIT_OK
    assert not (tmp_path / "agent.pid").exists()


async def test_reload_reads_a_token_file_again(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("first")
    method = f'method "token_file" {{ config = {{ token_file_path = "{tmp_path}/token" }} }}'
    path = write_config(tmp_path, method=method)
    server = FakeServer({"auth/token/lookup-self": respond({"data": {"accessor": "a", "ttl": 0}})})
    a = Agent(load_config(path), Options(handle_signals=False), Dependencies(transport=server.transport()))
    running = asyncio.ensure_future(a.run())
    await _until(lambda: (tmp_path / "out" / "token.json").exists())
    (tmp_path / "token").write_text("rotated")
    a.reload()
    await _until(lambda: "rotated" in (tmp_path / "out" / "token.json").read_text())
    a.stop()
    assert await asyncio.wait_for(running, 5) == EXIT_OK
    assert [c[2] for c in server.calls] == ["first", "rotated"]


async def _until(condition: object, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, "condition never became true"
        await asyncio.sleep(0.01)


async def test_stopping_lets_a_running_command_finish(tmp_path: Path) -> None:
    marker = tmp_path / "restarted"
    extra = CERT % ((tmp_path,) * 3)
    extra = extra[:extra.rindex("}")] + f' command = "sleep 0.3; echo done > {marker}" }}'
    server = FakeServer({"auth/approle/login": respond(auth_body("t-1", 600)),
                         "pki/issue/web": respond({"data": issue_leaf(CA, "web.example")})})
    a = Agent(load_config(write_config(tmp_path, extra)), Options(handle_signals=False),
              Dependencies(transport=server.transport()))
    running = asyncio.ensure_future(a.run())
    await _until(lambda: (tmp_path / "out" / "cert.pem").exists())
    a.stop()
    assert await asyncio.wait_for(running, 5) == EXIT_OK
    assert marker.read_text() == "done\n"
