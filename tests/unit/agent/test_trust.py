"""The agent re-issues when its mount's CA rotates: the bundle changed, or its issuer retired."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support.agent import FakeClock, FakeServer, issue_leaf, make_ca, respond
from warden.agent.certs import CertificateKeeper, IssuedCertificate
from warden.agent.config import CertificateConfig
from warden.agent.config_sections import CommandSpec
from warden.agent.logs import AgentLog
from warden.agent.metrics import AgentMetrics
from warden.agent.trust import TrustView, parse_view, reissue_reason
from warden.api import AsyncClient

OLD, NEW = make_ca(), make_ca()


def keeper(tmp_path: Path, server: FakeServer, clock: FakeClock, marker: Path) -> CertificateKeeper:
    config = CertificateConfig(name="etcd", mount="c1/pki/etcd", role="member", common_name="etcd-1",
                               cert_file=tmp_path / "cert.pem", key_file=tmp_path / "key.pem",
                               ca_file=tmp_path / "ca.pem", alt_names=("etcd-1.c1",), ttl="1h",
                               command=CommandSpec(("sh", "-c", f"echo x >> {marker}")))
    api = AsyncClient("http://warden.test", "tok", transport=server.transport())
    return CertificateKeeper(config, api, clock, lambda a, b: (a + b) / 2, AgentLog(), AgentMetrics(clock))


def view(*anchors: tuple[Any, bool], bundle: tuple[str, ...] | None = None) -> dict[str, Any]:
    pems = bundle if bundle is not None else tuple(ca.pem for ca, _ in anchors)
    return {"trust_bundle": list(pems), "issuers": [{"certificate": ca.pem, "issuing": issuing}
                                                     for ca, issuing in anchors]}


def parsed(data: dict[str, Any]) -> TrustView:
    found = parse_view(data)
    assert found is not None
    return found


def test_reasons_to_reissue() -> None:
    leaf = issue_leaf(OLD, "etcd-1")["certificate"].encode()
    steady = parsed(view((OLD, True)))
    assert reissue_reason(steady, leaf, OLD.pem.encode()) == ""
    assert reissue_reason(steady, leaf, None) == ""
    begun = parsed(view((OLD, True), (NEW, True)))
    assert "trust bundle changed" in reissue_reason(begun, leaf, OLD.pem.encode())
    switched = parsed(view((NEW, True), (OLD, False)))
    joined = (NEW.pem.strip() + "\n" + OLD.pem.strip() + "\n").encode()
    assert "no longer issues" in reissue_reason(switched, leaf, joined)
    assert "no longer in the mount's trust bundle" in reissue_reason(parsed(view((NEW, True))), leaf, None)
    assert parse_view(None) is None and parse_view({"errors": []}) is None


def test_the_ca_file_holds_the_trust_bundle_when_there_is_one() -> None:
    data = issue_leaf(OLD, "etcd-1")
    assert IssuedCertificate.from_response(data).ca_pem() == OLD.pem.strip() + "\n"
    data["trust_bundle"] = [OLD.pem, NEW.pem]
    assert IssuedCertificate.from_response(data).ca_pem() == OLD.pem.strip() + "\n" + NEW.pem.strip() + "\n"


async def test_a_bundle_change_reissues_once_and_a_missing_bundle_changes_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "runs"
    clock = FakeClock(start=1_000_000.0)
    window = {"not_before": clock.now - 30, "not_after": clock.now + 3600}
    first = issue_leaf(OLD, "etcd-1", dns=("etcd-1.c1",), **window)
    second = {**issue_leaf(OLD, "etcd-1", dns=("etcd-1.c1",), **window), "trust_bundle": [OLD.pem, NEW.pem]}
    server = FakeServer({"c1/pki/etcd/issue/member": [respond({"data": first}), respond({"data": second})]})
    k = keeper(tmp_path, server, clock, marker)
    config = k.config
    await k.ensure()
    await k.check_trust()  # 404: a server without trust bundles (Vault)
    assert server.paths().count("c1/pki/etcd/issue/member") == 1
    server.routes["c1/pki/etcd/cert/trust_bundle"] = respond({"data": view((OLD, True), (NEW, True))})
    await k.check_trust()
    assert server.paths().count("c1/pki/etcd/issue/member") == 2
    assert config.ca_file is not None and config.ca_file.read_text().count("BEGIN CERTIFICATE") == 2
    assert marker.read_text() == "x\nx\n"  # once for the first files, once for the rotation
    await k.check_trust()  # nothing changed since: nothing happens
    assert server.paths().count("c1/pki/etcd/issue/member") == 2
