"""Token sinks, commands after a change, structured logs, and the metrics endpoint."""

from __future__ import annotations

import json
import logging
import stat
from io import StringIO
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.agent import FakeClock, FakeServer, fail
from warden.agent.commands import run_command
from warden.agent.config import MetricsListener
from warden.agent.config_sections import CommandSpec, SinkConfig
from warden.agent.files import Perms
from warden.agent.lifetime import TokenInfo
from warden.agent.logs import AgentLog, configure, is_sensitive
from warden.agent.metrics import AgentMetrics, MetricsServer
from warden.agent.sink import write_sinks
from warden.api import AsyncClient

INFO = TokenInfo("s.secret-token", "acc-1", 3600, True, 0.0)


async def test_sinks_plain_json_and_wrapped(tmp_path: Path) -> None:
    def wrap(request: httpx.Request, data: dict[str, Any]) -> dict[str, Any]:
        assert request.headers["X-Vault-Wrap-TTL"] == "5m"
        assert request.headers["X-Vault-Token"] == "s.secret-token" and data == {"token": "s.secret-token"}
        return {"wrap_info": {"token": "w.1", "accessor": "wa", "ttl": 300,
                              "creation_path": "sys/wrapping/wrap"}}

    server = FakeServer({"sys/wrapping/wrap": wrap})
    api = AsyncClient("http://warden.test", "s.secret-token", transport=server.transport())
    sinks = [SinkConfig(tmp_path / "plain"), SinkConfig(tmp_path / "token.json", Perms(0o600), "json"),
             SinkConfig(tmp_path / "wrapped", wrap_ttl="5m")]
    failures = await write_sinks(sinks, INFO, {}, api, "https://warden:8200", AgentLog())
    assert failures == []
    assert (tmp_path / "plain").read_text() == "s.secret-token"
    assert stat.S_IMODE((tmp_path / "plain").stat().st_mode) == 0o640
    assert json.loads((tmp_path / "token.json").read_text()) == {
        "clientToken": "s.secret-token", "accessor": "acc-1", "leaseDuration": 3600, "renewable": True,
        "vaultAddr": "https://warden:8200"}
    assert stat.S_IMODE((tmp_path / "token.json").stat().st_mode) == 0o600
    assert json.loads((tmp_path / "wrapped").read_text())["token"] == "w.1"


async def test_a_failing_sink_does_not_stop_the_others(tmp_path: Path) -> None:
    server = FakeServer({"sys/wrapping/wrap": fail(403, "permission denied")})
    api = AsyncClient("http://warden.test", "t", transport=server.transport())
    sinks = [SinkConfig(tmp_path / "wrapped", wrap_ttl="1m"), SinkConfig(tmp_path / "plain")]
    failures = await write_sinks(sinks, INFO, {}, api, "a", AgentLog())
    assert len(failures) == 1 and "permission denied" in failures[0]
    assert (tmp_path / "plain").exists() and not (tmp_path / "wrapped").exists()


async def test_a_wrapped_login_is_written_as_wrap_info(tmp_path: Path) -> None:
    response = {"wrap_info": {"token": "w.2", "creation_path": "auth/approle/login"}}
    api = AsyncClient("http://warden.test", transport=FakeServer().transport())
    await write_sinks([SinkConfig(tmp_path / "s", format="json")], None, response, api, "a", AgentLog())
    assert json.loads((tmp_path / "s").read_text()) == response["wrap_info"]


async def test_commands_string_list_failure_timeout(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "warden.agent")
    metrics, log = AgentMetrics(FakeClock()), AgentLog()
    ok = await run_command(CommandSpec(("sh", "-c", f"echo $((1+1)) > {tmp_path}/out")), "t", log, metrics)
    assert ok.ok and ok.exit_code == 0 and (tmp_path / "out").read_text() == "2\n"
    listed = await run_command(CommandSpec(("touch", str(tmp_path / "a b"))), "t", log)
    assert listed.ok and (tmp_path / "a b").exists()
    failed = await run_command(CommandSpec(("sh", "-c", "echo boom; exit 3")), "t", log, metrics)
    assert (failed.ok, failed.exit_code, failed.output) == (False, 3, "boom")
    slow = await run_command(CommandSpec(("sleep", "30"), timeout=0.2), "t", log, metrics)
    assert slow.timed_out and not slow.ok
    missing = await run_command(CommandSpec(("/no/such/binary",)), "t", log)
    assert not missing.ok and "cannot start" in missing.output
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("command failed") == 2 and "command timed out and was killed" in messages
    assert metrics.commands.labels(target="t", result="ok")._value.get() == 1


def test_logs_text_and_json_never_show_credentials() -> None:
    stream = StringIO()
    log = configure("debug", "text", stream)
    log.info("authenticated", method="approle", accessor="acc-1", token="s.top-secret", secret_id="x",
             jwt="eyJ", private_key="-----BEGIN", token_file_path="/etc/t", note="two words")
    text = stream.getvalue()
    assert "s.top-secret" not in text and "eyJ" not in text and "BEGIN" not in text
    assert 'accessor=acc-1' in text and "token_file_path=/etc/t" in text and 'note="two words"' in text
    assert "[INFO] authenticated: method=approle" in text
    stream = StringIO()
    configure("warn", "json", stream).warning("renewal failed", token="t", ttl=3)
    configure("warn", "json", stream).info("hidden")
    entry = json.loads(stream.getvalue())
    assert entry["@level"] == "warning" and entry["@message"] == "renewal failed"
    assert entry["token"] == "[redacted]" and entry["ttl"] == 3
    assert is_sensitive("client_token") and not is_sensitive("wrap_ttl") and not is_sensitive("accessor")
    with pytest.raises(ValueError):
        configure("loud")


async def test_metrics_endpoint(unused_tcp_port: int) -> None:
    clock = FakeClock(start=1000.0)
    metrics = AgentMetrics(clock)
    metrics.cert_expires_at["etcd"] = 1600.0
    metrics.token_expires_at = 1030.0
    metrics.cert_renewals.labels(certificate="etcd").inc()
    server = MetricsServer(MetricsListener("127.0.0.1", unused_tcp_port), metrics, AgentLog())
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{unused_tcp_port}") as http:
            body = (await http.get("/metrics")).text
            assert (await http.get("/other")).status_code == 404
    finally:
        await server.close()
    assert 'warden_agent_certificate_expiry_seconds{certificate="etcd"} 600.0' in body
    assert "warden_agent_token_ttl_seconds 30.0" in body
    assert 'warden_agent_certificate_renewals_total{certificate="etcd"} 1.0' in body


@pytest.fixture
def unused_tcp_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

