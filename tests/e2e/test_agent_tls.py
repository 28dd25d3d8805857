"""``warden agent`` over real TLS: the server's certificate is checked against ``ca_cert``,
and an agent that cannot verify the server writes nothing and says why."""

from __future__ import annotations

import ssl
import textwrap
from collections.abc import Callable
from pathlib import Path

import httpx
import hvac
import trustme

from support.agent import run_agent_once, setup_pki, verify_issued
from support.server import ServerProcess


def tls_server(server_factory: Callable[..., ServerProcess],
               workdir: Path) -> tuple[ServerProcess, Path, str]:
    ca = trustme.CA()
    ca_file = workdir / "warden-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    leaf.private_key_and_cert_chain_pem.write_to_path(str(workdir / "server.pem"))
    server = server_factory(dev=False, config_text=f"""
        storage "inmem" {{}}
        listener "tcp" {{
          address = "127.0.0.1:0"
          tls_cert_file = "{workdir}/server.pem"
          tls_key_file = "{workdir}/server.pem"
        }}""").start()
    with httpx.Client(base_url=server.url, verify=ssl.create_default_context(cafile=ca_file)) as http:
        init = http.put("/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1}).json()
        http.put("/v1/sys/unseal", json={"key": init["keys"][0]}).raise_for_status()
    return server, ca_file, str(init["root_token"])


def test_once_over_tls_with_the_servers_ca(server_factory: Callable[..., ServerProcess],
                                           tmp_path: Path) -> None:
    server, ca_file, root_token = tls_server(server_factory, tmp_path)
    client = hvac.Client(url=server.url, token=root_token, verify=str(ca_file))
    setup_pki(client, "pki", "web")
    client.sys.create_or_update_policy("web-certs", 'path "pki/issue/web" { capabilities = ["update"] }')
    agent_token = client.auth.token.create(policies=["web-certs"], ttl="1h")["auth"]["client_token"]
    (tmp_path / "token").write_text(agent_token)
    config = tmp_path / "agent.yaml"
    out = tmp_path / "out"
    config.write_text(textwrap.dedent(f"""
        warden:
          address: {server.url}
          ca_cert: {ca_file}
        auto_auth:
          method:
            type: token_file
            config: {{token_file_path: {tmp_path}/token}}
        certificate:
          - mount: pki
            role: web
            common_name: web.example
            cert_file: {out}/cert.pem
            key_file: {out}/key.pem
            ca_file: {out}/ca.pem
            key_mode: "0400"
    """))
    result = run_agent_once(config)
    assert result.returncode == 0, result.stderr
    verify_issued((out / "cert.pem").read_bytes(), (out / "key.pem").read_bytes(),
                  (out / "ca.pem").read_bytes(), "web.example")
    assert (out / "key.pem").stat().st_mode & 0o777 == 0o400

    config.write_text(config.read_text().replace(f"  ca_cert: {ca_file}\n", ""))
    (out / "cert.pem").unlink()
    result = run_agent_once(config, "-once-timeout=1s")
    assert result.returncode == 2
    assert "could not authenticate with token_file" in result.stderr
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr.splitlines()[-1]
    assert not (out / "cert.pem").exists() and (out / "key.pem").exists()
