"""Certificates: files in the right order and shape, reuse of a good one, renewal timing,
failures that keep the files."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from support.agent import (
    FakeClock,
    FakeServer,
    fail,
    issue_leaf,
    key_matches_cert,
    make_ca,
    respond,
    unreachable,
)
from warden.agent.certs import (
    CertificateKeeper,
    IssuedCertificate,
    Validity,
    certificate_files,
    existing_certificate,
    renewal_time,
)
from warden.agent.config import CertificateConfig
from warden.agent.config_sections import CommandSpec
from warden.agent.logs import AgentLog
from warden.agent.metrics import AgentMetrics
from warden.api import AsyncClient

CA = make_ca()


def cert_config(tmp_path: Path, **changes: object) -> CertificateConfig:
    base = CertificateConfig(name="etcd", mount="c1/pki/etcd", role="member", common_name="etcd-1",
                             cert_file=tmp_path / "cert.pem", key_file=tmp_path / "key.pem",
                             ca_file=tmp_path / "ca.pem", alt_names=("etcd-1.c1",), ttl="1h")
    return replace(base, **changes)  # type: ignore[arg-type]


def keeper(config: CertificateConfig, server: FakeServer, clock: FakeClock,
           denied: list[int] | None = None) -> CertificateKeeper:
    api = AsyncClient("http://warden.test", "tok", transport=server.transport())
    return CertificateKeeper(config, api, clock, lambda a, b: (a + b) / 2, AgentLog(), AgentMetrics(clock),
                             on_denied=lambda: None if denied is None else denied.append(1),
                             max_backoff=8.0)


def test_renewal_time_is_a_fraction_of_the_lifetime_with_jitter() -> None:
    validity = Validity(1000.0, 1300.0)
    assert renewal_time(validity, 2 / 3, 0.05, lambda a, b: 0.0) == pytest.approx(1200.0)
    assert renewal_time(validity, 2 / 3, 0.05, lambda a, b: a) == pytest.approx(1185.0)
    assert renewal_time(validity, 2 / 3, 0.05, lambda a, b: b) == pytest.approx(1215.0)
    assert renewal_time(validity, 0.5, 0.0, lambda a, b: 1 / 0) == pytest.approx(1150.0)


def test_files_key_first_and_ca_chain(tmp_path: Path) -> None:
    data = issue_leaf(CA, "etcd-1", dns=("etcd-1.c1",))
    data["ca_chain"] = ["INTERMEDIATE\n", CA.pem]
    config = cert_config(tmp_path, bundle_file=tmp_path / "bundle.pem")
    issued = IssuedCertificate.from_response(data)
    specs = certificate_files(config, issued)
    assert [s.path.name for s in specs] == ["key.pem", "cert.pem", "ca.pem", "bundle.pem"]
    assert [s.perms.mode for s in specs] == [0o600, 0o644, 0o644, 0o600]
    assert specs[2].content.decode() == "INTERMEDIATE\n" + CA.pem
    bundle = specs[3].content.decode()
    assert bundle.index("BEGIN CERTIFICATE") < bundle.index("INTERMEDIATE") < bundle.index("PRIVATE KEY")
    assert "secret" not in repr(issued) and data["private_key"] not in repr(issued)


def test_existing_certificate_is_kept_only_if_it_still_serves(tmp_path: Path) -> None:
    config = cert_config(tmp_path)
    assert existing_certificate(config) is None
    data = issue_leaf(CA, "etcd-1", dns=("etcd-1.c1",), not_before=1000, not_after=5000)
    issued = IssuedCertificate.from_response(data)
    for spec in certificate_files(config, issued):
        spec.path.write_bytes(spec.content)
    assert existing_certificate(config) == Validity(1000, 5000)
    assert existing_certificate(replace(config, common_name="other")) is None
    assert existing_certificate(replace(config, alt_names=("new.example",))) is None
    other_key = issue_leaf(CA, "etcd-1")["private_key"]
    config.key_file.write_text(other_key)
    assert existing_certificate(config) is None
    config.key_file.write_text(data["private_key"])
    config.ca_file.unlink()  # type: ignore[union-attr]
    assert existing_certificate(config) is None


async def test_issue_writes_files_runs_the_command_once_and_schedules_renewal(tmp_path: Path) -> None:
    marker = tmp_path / "restarts"
    clock = FakeClock(start=1_000_000.0)
    data = issue_leaf(CA, "etcd-1", dns=("etcd-1.c1",), not_before=clock.now - 30, not_after=clock.now + 300)
    server = FakeServer({"c1/pki/etcd/issue/member": respond({"data": data})})
    config = cert_config(tmp_path, command=CommandSpec(("sh", "-c", f"echo x >> {marker}")))
    k = keeper(config, server, clock)
    await k.ensure()
    assert server.calls[0][1:] == ("c1/pki/etcd/issue/member", "tok",
                                   {"common_name": "etcd-1", "format": "pem", "alt_names": "etcd-1.c1",
                                    "ttl": "1h"})
    assert key_matches_cert(config.key_file.read_bytes(), config.cert_file.read_bytes())
    assert config.ca_file is not None and config.ca_file.read_text() == CA.pem
    assert marker.read_text() == "x\n"
    assert k.renew_at == pytest.approx(clock.now + 300 * 2 / 3)  # measured from issuance, not not_before
    assert k.metrics.cert_expires_at["etcd"] == pytest.approx(clock.now + 300, abs=1)

    again = keeper(config, FakeServer(), clock)  # a restart: the files are good, nothing is issued
    await again.ensure()
    assert again.current is not None and marker.read_text() == "x\n"


async def test_failures_keep_the_files_and_say_when_they_expire(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(start=1_000_000.0)
    data = issue_leaf(CA, "etcd-1", dns=("etcd-1.c1",), not_before=clock.now - 30, not_after=clock.now + 90)
    server = FakeServer({"c1/pki/etcd/issue/member": [respond({"data": data}), unreachable,
                                                      fail(403, "permission denied"),
                                                      respond({"data": data})]})
    denied: list[int] = []
    k = keeper(cert_config(tmp_path), server, clock, denied)
    await k.ensure()
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}
    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    caplog.set_level(logging.INFO, "warden.agent")
    clock.now = k.renew_at
    await k._with_retry(k.issue)
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert {p: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == mtimes  # same content: not rewritten
    failures = [r for r in caplog.records if "could not issue" in r.getMessage()]
    assert len(failures) == 2 and denied == [1]
    fields = failures[0].fields  # type: ignore[attr-defined]
    assert fields["certificate"] == "etcd" and fields["expires_in"] > 0
    assert "connection refused" in fields["error"]
    assert k.metrics.cert_failures.labels(certificate="etcd")._value.get() == 2


async def test_a_certificate_due_as_soon_as_issued_is_not_reissued_in_a_tight_loop(tmp_path: Path) -> None:
    clock = FakeClock(start=1_000_000.0)
    expired = issue_leaf(CA, "etcd-1", dns=("etcd-1.c1",), not_before=clock.now - 60, not_after=clock.now - 1)
    server = FakeServer({"c1/pki/etcd/issue/member": respond({"data": expired})})
    k = keeper(cert_config(tmp_path), server, clock)
    task = asyncio.ensure_future(k.run())
    for _ in range(50):
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(server.calls) > 3 and min(clock.sleeps) >= 1.0
