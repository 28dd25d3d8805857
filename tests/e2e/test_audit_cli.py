"""`warden audit` end to end: enable, issue certificates, list them from the log, verify."""

from __future__ import annotations

import json
from pathlib import Path

from support.server import ServerProcess


def test_audit_cli_records_certificates_and_detects_tampering(dev_server: ServerProcess,
                                                              tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    enabled = dev_server.cli("audit", "enable", "-path=main", "file", f"file_path={log}")
    assert enabled.returncode == 0, enabled.stderr
    listed = dev_server.cli("audit", "list", "-detailed")
    assert "main/" in listed.stdout and f"file_path={log}" in listed.stdout
    client = dev_server.client()
    client.sys.enable_secrets_engine("pki", path="c9/pki/k8s", description="", config={},
                                     options={}, plugin_name="pki")
    client.write("c9/pki/k8s/root/generate/internal", common_name="c9-ca", ttl="24h",
                 key_type="ec", key_bits=256)
    client.write("c9/pki/k8s/roles/kubelet", allowed_domains="kubelet", allow_bare_domains=True,
                 allow_subdomains=False, max_ttl="1h", key_type="ec", key_bits=256)
    creator = client.auth.token.create(policies=["root"], ttl="1h")["auth"]
    serials = []
    for _ in range(3):
        issued = dev_server.client(token=creator["client_token"]).write(
            "c9/pki/k8s/issue/kubelet", common_name="kubelet", ttl="10m")
        serials.append(issued["data"]["serial_number"])

    certs = dev_server.cli("audit", "certs", "-role=kubelet", "-format=json", str(log))
    assert certs.returncode == 0, certs.stderr
    records = json.loads(certs.stdout)
    assert [r["serial_number"] for r in records] == serials
    assert {r["mount"] for r in records} == {"c9/pki/k8s/"}
    assert {r["subject"] for r in records} == {"CN=kubelet"}
    assert all(r["sans"]["dns"] == ["kubelet"] for r in records)
    accessor = creator["accessor"]
    assert all(r["accessor"] == accessor for r in records)
    table = dev_server.cli("audit", "certs", str(log))
    assert serials[0] in table.stdout and "kubelet" in table.stdout

    ok = dev_server.cli("audit", "verify", str(log))
    assert ok.returncode == 0 and "chain intact" in ok.stdout

    lines = log.read_bytes().splitlines(keepends=True)
    tampered = tmp_path / "tampered.log"
    tampered.write_bytes(b"".join(lines[:5] + lines[6:]))
    broken = dev_server.cli("audit", "verify", "-format=json", str(tampered))
    assert broken.returncode == 2
    report = json.loads(broken.stdout)
    assert report["ok"] is False and report["first_bad_line"] == 6
    assert "missing" in report["reason"]
    assert dev_server.cli("audit", "disable", "main").returncode == 0


def test_audit_enable_creates_the_log_directory(dev_server: ServerProcess, tmp_path: Path) -> None:
    """`audit enable file file_path=/var/log/warden/audit.log` on a fresh machine (issue 15)."""
    log = tmp_path / "var" / "log" / "warden" / "audit.log"
    enabled = dev_server.cli("audit", "enable", "-path=fresh", "file", f"file_path={log}")
    assert enabled.returncode == 0, enabled.stderr
    assert dev_server.cli("kv", "put", "secret/audited", "a=b").returncode == 0
    assert dev_server.cli("audit", "verify", str(log)).returncode == 0
    assert log.parent.stat().st_mode & 0o777 == 0o700
    assert dev_server.cli("audit", "disable", "fresh").returncode == 0
