"""``warden agent`` through a CA rotation against a real server: at begin its CA file gets old +
new, at switch its certificate moves to the new CA, at finish the CA file holds only the new
one; each time the files are rewritten together and the command runs once."""

from __future__ import annotations

import textwrap
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from support.agent import AgentProcess
from support.server import ServerProcess, ok


def test_the_agent_follows_a_rotation_on_its_own(dev_server: ServerProcess, tmp_path: Path) -> None:
    server = dev_server
    ok(server.cli("k8s", "bootstrap", "agr", "-control-plane", "cp1=127.0.0.1", "-key-type", "ec"))
    # The API server's own token: it may issue front-proxy-client and nothing about rotation;
    # the trust bundle it watches is public.
    token = ok(server.cli("token", "create", "-role=k8s-agr", "-policy=agr/k8s/kube-apiserver",
                          "-field=token")).strip()
    (tmp_path / "token").write_text(token + "\n")
    certs = tmp_path / "certs"
    cert, ca = certs / "proxy.crt", certs / "ca.crt"
    config = tmp_path / "agent.hcl"
    config.write_text(textwrap.dedent(f"""
        warden {{ address = "{server.url}" }}
        auto_auth {{ method "token_file" {{ config = {{ token_file_path = "{tmp_path}/token" }} }} }}
        certificate "front-proxy-client" {{
          mount = "agr/pki/front-proxy"  role = "front-proxy-client"  common_name = "front-proxy-client"
          ttl = "1h"  cert_file = "{cert}"  key_file = "{certs}/proxy.key"  ca_file = "{ca}"
          command = "cat {cert} >> {tmp_path}/restarts.log"
          trust_check_interval = "1s"
        }}
    """))
    agent = AgentProcess(config).start()

    def cas() -> list[x509.Certificate]:
        return x509.load_pem_x509_certificates(ca.read_bytes()) if ca.exists() else []

    def restarts() -> int:
        log = tmp_path / "restarts.log"
        return log.read_text().count("BEGIN CERTIFICATE") if log.exists() else 0

    try:
        agent.wait_log("wrote certificate", timeout=60)
        [old] = cas()
        ok(server.cli("k8s", "rotate", "agr", "front-proxy", "begin"))
        agent.wait_for(lambda: len(cas()) == 2 and restarts() == 2, 90, "the bundle with old + new")
        assert cas()[0] == old
        new = cas()[1]  # (after switch the new CA comes first)
        ok(server.cli("k8s", "rotate", "agr", "front-proxy", "switch"))  # its leaf is newer than begin
        agent.wait_for(lambda: _signed_by(cert, new) and restarts() == 3, 90, "a certificate from the new CA")
        ok(server.cli("k8s", "rotate", "agr", "front-proxy", "finish"))  # nothing depends on the old CA
        agent.wait_for(lambda: cas() == [new] and restarts() == 4, 90, "the bundle with the new CA only")
    finally:
        agent.stop()
    assert agent.count("re-issuing the certificate now") == 3
    assert agent.count("wrote certificate") == restarts() == 4  # the command ran once per change


def _signed_by(cert: Path, ca: x509.Certificate) -> bool:
    try:
        x509.load_pem_x509_certificate(cert.read_bytes()).verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
