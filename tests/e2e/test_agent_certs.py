"""``warden agent`` keeping certificates against a real server: short-lived certificates
renewed again and again, a server that goes away and comes back, SIGHUP and SIGTERM."""

from __future__ import annotations

import hashlib
import re
import signal
import stat
import textwrap
import time
from pathlib import Path

import httpx
from cryptography import x509

from support.agent import AgentProcess, FilePoller, free_port, setup_pki, verify_issued
from support.server import ServerProcess

MOUNT, ROLE, CN = "c1/pki/etcd", "member", "etcd-1.c1"
POLICY = f'path "{MOUNT}/issue/{ROLE}" {{ capabilities = ["update"] }}'


def member_token(server: ServerProcess, workdir: Path) -> Path:
    """Seed 000: a periodic token that may only issue the etcd member certificate."""
    client = server.client()
    client.sys.create_or_update_policy("etcd-member", POLICY)
    token = client.auth.token.create(policies=["etcd-member"], period="1h")["auth"]["client_token"]
    path = workdir / "token"
    path.write_text(token + "\n")
    return path


def agent_config(workdir: Path, server: ServerProcess, *, ttl: str, extra: str = "",
                 alt_names: str = '["etcd-1"]') -> Path:
    certs = workdir / "certs"
    config = workdir / "agent.hcl"
    config.write_text(textwrap.dedent(f"""
        warden {{ address = "{server.url}" }}
        auto_auth {{
          method "token_file" {{
            min_backoff = "0.2s"  max_backoff = "1s"
            config = {{ token_file_path = "{workdir}/token" }}
          }}
        }}
        certificate "etcd" {{
          mount = "{MOUNT}"  role = "{ROLE}"  common_name = "{CN}"  ttl = "{ttl}"
          alt_names = {alt_names}  ip_sans = ["127.0.0.1"]
          cert_file = "{certs}/etcd-cert.pem"  key_file = "{certs}/etcd-key.pem"
          ca_file = "{certs}/etcd-ca.pem"
          owner = "nobody"
          command = "sha256sum {certs}/etcd-cert.pem >> {workdir}/restarts.log"
        }}
        {extra}
    """))
    return config


def cert_paths(workdir: Path) -> tuple[Path, Path, Path]:
    certs = workdir / "certs"
    return certs / "etcd-cert.pem", certs / "etcd-key.pem", certs / "etcd-ca.pem"


def test_a_ten_second_certificate_is_renewed_before_it_expires_again_and_again(
        dev_server: ServerProcess, tmp_path: Path) -> None:
    root_pem = setup_pki(dev_server.client(), MOUNT, ROLE)
    token = member_token(dev_server, tmp_path).read_text().strip()
    port = free_port()
    config = agent_config(tmp_path, dev_server, ttl="10s",
                          extra=f'listener "tcp" {{ address = "127.0.0.1:{port}" }}')
    cert_file, key_file, ca_file = cert_paths(tmp_path)
    agent = AgentProcess(config).start()
    poller = FilePoller(cert_file, key_file).start()
    try:
        agent.wait_log("wrote certificate", timeout=30, count=4)  # the first and three renewals
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        poller.stop()
        assert agent.stop() == 0
    assert not poller.problems, poller.problems[:3]
    assert poller.reads > 100 and len(poller.certs) >= 4
    leaves = [x509.load_pem_x509_certificate(c) for c in poller.certs]
    for leaf, seen_next in zip(leaves, poller.seen_at[1:], strict=False):
        assert seen_next < leaf.not_valid_after_utc.timestamp(), "renewed only after expiry"
    assert len({leaf.serial_number for leaf in leaves}) == len(leaves)

    leaf = verify_issued(cert_file.read_bytes(), key_file.read_bytes(), ca_file.read_bytes(), CN)
    assert ca_file.read_text().strip() == root_pem.strip()
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(sans.get_values_for_type(x509.DNSName)) >= {CN, "etcd-1"}
    assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc).total_seconds() <= 45
    nobody = key_file.stat()
    assert stat.S_IMODE(nobody.st_mode) == 0o600 and stat.S_IMODE(cert_file.stat().st_mode) == 0o644
    assert cert_file.stat().st_uid == nobody.st_uid != 0

    # The command ran exactly once per new certificate, after it was in place.
    runs = (tmp_path / "restarts.log").read_text().splitlines()
    assert len(runs) == agent.count("wrote certificate")
    hashes = {hashlib.sha256(c).hexdigest() for c in poller.certs}
    assert {line.split()[0] for line in runs} <= hashes and len(set(runs)) == len(runs)

    expiry = re.search(r'warden_agent_certificate_expiry_seconds\{certificate="etcd"\} (\S+)', metrics)
    assert expiry and 0 < float(expiry.group(1)) <= 10
    assert re.search(r'warden_agent_certificate_renewals_total\{certificate="etcd"\} [34]\.0', metrics)
    assert token not in agent.log() and "PRIVATE KEY" not in agent.log()


def test_while_the_server_is_down_the_files_stay_and_the_agent_resumes_when_it_returns(
        server_factory: object, tmp_path: Path) -> None:
    port = free_port()
    server: ServerProcess = server_factory(  # type: ignore[operator]
        extra_args=[f"-dev-listen-address=127.0.0.1:{port}", f"-dev-storage-path={tmp_path / 'warden.db'}"])
    server.start()
    setup_pki(server.client(), MOUNT, ROLE)
    member_token(server, tmp_path)
    cert_file, key_file, ca_file = cert_paths(tmp_path)
    agent = AgentProcess(agent_config(tmp_path, server, ttl="10s")).start()
    poller = FilePoller(cert_file, key_file).start()
    try:
        agent.wait_log("wrote certificate", timeout=20)
        server.stop()
        before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (cert_file, key_file, ca_file)}
        agent.wait_log("could not issue certificate; the current files stay in place", timeout=15, count=3)
        assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in before} == before
        assert "expires=" in agent.log() and "connection" in agent.log().lower()
        server.start()  # the same port and storage: the token and the CA are still there
        agent.wait_log("wrote certificate", timeout=20, count=2)
    finally:
        poller.stop()
        assert agent.stop() == 0
    assert not poller.problems, poller.problems[:3]
    assert len(poller.certs) >= 2
    verify_issued(cert_file.read_bytes(), key_file.read_bytes(), ca_file.read_bytes(), CN)
    assert len((tmp_path / "restarts.log").read_text().splitlines()) == agent.count("wrote certificate")


def test_sighup_applies_a_new_configuration_and_sigterm_stops_cleanly(
        dev_server: ServerProcess, tmp_path: Path) -> None:
    if "c1/pki/etcd/" not in dev_server.client().sys.list_mounted_secrets_engines()["data"]:
        setup_pki(dev_server.client(), MOUNT, ROLE)
    member_token(dev_server, tmp_path)
    config = agent_config(tmp_path, dev_server, ttl="1h")
    cert_file, key_file, ca_file = cert_paths(tmp_path)
    agent = AgentProcess(config).start()
    try:
        agent.wait_log("wrote certificate")
        first = cert_file.read_bytes()
        config.write_text(config.read_text().replace('["etcd-1"]', '["etcd-1", "etcd-1.example"]'))
        agent.signal(signal.SIGHUP)
        agent.wait_log("configuration reloaded")
        agent.wait_log("wrote certificate", count=2)
        leaf = verify_issued(cert_file.read_bytes(), key_file.read_bytes(), ca_file.read_bytes(), CN)
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "etcd-1.example" in sans.get_values_for_type(x509.DNSName) and cert_file.read_bytes() != first

        agent.signal(signal.SIGHUP)  # nothing changed: the certificate on disk is kept
        agent.wait_log("keeping the certificate on disk")
        config.write_text("warden {")
        agent.signal(signal.SIGHUP)
        agent.wait_log("reload failed; keeping the running configuration")
        time.sleep(0.3)
        assert agent.proc is not None and agent.proc.poll() is None
        agent.signal(signal.SIGTERM)
        assert agent.wait() == 0
    finally:
        agent.stop()
    assert agent.count("wrote certificate") == 2 and agent.count("stopped") == 1
    assert len((tmp_path / "restarts.log").read_text().splitlines()) == 2
    assert cert_file.exists() and key_file.exists()

