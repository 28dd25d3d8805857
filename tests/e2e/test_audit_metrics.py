"""Audit log and metrics on a real server, driven with hvac."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import hvac
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.server import ServerProcess
from warden.audit.verify import verify_file


def test_audit_file_records_everything_hashed(dev_server: ServerProcess, tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    client = dev_server.client()
    client.sys.enable_audit_device("file", path="file", options={"file_path": str(log)})
    assert "file/" in client.sys.list_enabled_audit_devices()["data"]
    client.secrets.kv.v2.create_or_update_secret("audited", secret={"password": "s3cr3t-value"})
    child = client.auth.token.create(policies=["default"], ttl="1h")["auth"]["client_token"]
    with pytest.raises(hvac.exceptions.Forbidden):
        dev_server.client(token=child).sys.list_mounted_secrets_engines()
    raw = log.read_bytes()
    for secret in (b"s3cr3t-value", child.encode(), dev_server.root_token.encode()):
        assert secret not in raw
    entries = [orjson.loads(line) for line in raw.splitlines()]
    paths = [(e["type"], e["request"]["path"], e["error"]) for e in entries]
    assert ("response", "secret/data/audited", "") in paths
    assert ("response", "sys/mounts", "permission denied") in paths
    hashed = client.sys.calculate_hash("file", "s3cr3t-value")["data"]["hash"]
    written = next(e for e in entries if e["request"]["path"] == "secret/data/audited")
    assert written["request"]["data"]["data"]["password"] == hashed
    assert verify_file(str(log)).ok
    client.sys.disable_audit_device("file")


def test_metrics_parse_with_the_prometheus_parser(dev_server: ServerProcess) -> None:
    client = dev_server.client()
    client.auth.token.create(policies=["default"], ttl="1h")
    text = dev_server.http().get("/v1/sys/metrics?format=prometheus")
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(text.text)}
    assert {"warden_requests", "warden_request_duration_seconds", "warden_tokens_created",
            "warden_sealed", "warden_storage_operation_duration_seconds"} <= set(families)
    created = [s for s in families["warden_tokens_created"].samples
               if s.labels.get("source") == "auth/token/" and s.name.endswith("_total")]
    assert created and created[0].value >= 1
    sealed = families["warden_sealed"].samples[0].value
    assert sealed == 0.0
    assert dev_server.http(token="").get("/v1/sys/metrics?format=prometheus").status_code == 403
    assert "warden_requests" in dev_server.http().get("/v1/sys/metrics").json()["data"]


def test_unauthenticated_metrics_when_the_listener_allows(
        server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory(dev=False, config_text="""
        storage "inmem" {}
        listener "tcp" {
          address = "127.0.0.1:0"
          tls_disable = true
          telemetry { unauthenticated_metrics_access = true }
        }""").start()
    resp = server.http(token="").get("/v1/sys/metrics?format=prometheus")
    assert resp.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(resp.text)}
    assert families["warden_sealed"].samples[0].value == 1.0


def test_sighup_reopens_the_audit_file_for_rotation(dev_server: ServerProcess,
                                                    tmp_path: Path) -> None:
    import signal
    import time

    log = tmp_path / "rotate.log"
    client = dev_server.client()
    client.sys.enable_audit_device("file", path="rot", options={"file_path": str(log)})
    client.auth.token.lookup_self()
    log.rename(tmp_path / "rotate.log.1")
    assert dev_server.proc is not None
    dev_server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while not (log.exists() and b"lookup-self" in log.read_bytes()) and (
            time.monotonic() < deadline):
        client.auth.token.lookup_self()
        time.sleep(0.05)
    assert log.exists() and b"lookup-self" in log.read_bytes()
    # The new file continues the chain of the old one.
    assert verify_file(str(log), continued=True).ok
    client.sys.disable_audit_device("rot")
