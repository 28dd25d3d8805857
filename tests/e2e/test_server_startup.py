"""What a newcomer sees when starting servers (issue 15): one "core unsealed" line, only once
unsealed; a busy address named in the error; Vault's -dev-kv-v1."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from support.server import WARDEN, ServerProcess

CONFIG = """
storage "sqlite" { path = "data/warden.db" }
listener "tcp" {
  address     = "127.0.0.1:0"
  tls_disable = true
}
"""


def _unsealed_lines(server: ServerProcess) -> list[str]:
    return [line for line in server.stderr().splitlines() if "core unsealed" in line]


def _await_lines(server: ServerProcess, count: int, timeout: float = 20.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(_unsealed_lines(server)) < count:
        time.sleep(0.1)
    return _unsealed_lines(server)


def test_dev_server_logs_core_unsealed_once(server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory().start()
    assert server.cli("status").returncode == 0
    time.sleep(0.5)
    assert len(_await_lines(server, 1)) == 1, server.stderr()


def test_core_unsealed_is_logged_only_after_unseal(server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory(dev=False, config_text=CONFIG).start()
    client = server.client(token="")
    keys = client.sys.initialize(secret_shares=1, secret_threshold=1)["keys"]
    assert client.sys.is_sealed()
    time.sleep(0.5)
    assert _unsealed_lines(server) == [], server.stderr()
    client.sys.submit_unseal_key(keys[0])
    assert len(_await_lines(server, 1)) == 1, server.stderr()


def test_a_busy_address_is_named(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        address = f"127.0.0.1:{busy.getsockname()[1]}"
        done = subprocess.run([WARDEN, "server", "-dev", f"-dev-listen-address={address}"],
                              capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False)
    assert done.returncode != 0
    assert address in done.stderr and "address already in use" in done.stderr.lower(), done.stderr
    assert "Traceback" not in done.stderr


def test_dev_kv_v1_mounts_secret_as_kv_version_1(server_factory: Callable[..., ServerProcess]) -> None:
    """Seed 000's `vault write secret/...` works unchanged against `warden server -dev -dev-kv-v1`."""
    server = server_factory(extra_args=["-dev-kv-v1"]).start()
    wrote = server.cli("write", "secret/nyc1/etcd", "password=s3cr3t")
    assert wrote.returncode == 0, wrote.stderr
    read = server.cli("read", "-field=password", "secret/nyc1/etcd")
    assert read.stdout == "s3cr3t"
    mounts = server.client().sys.list_mounted_secrets_engines()["data"]
    assert mounts["secret/"]["type"] == "kv"
    assert mounts["secret/"]["options"]["version"] == "1"


def test_a_v1_style_write_to_kv_v2_suggests_kv_put(dev_server: ServerProcess) -> None:
    wrote = dev_server.cli("write", "secret/nyc1/etcd", "password=s3cr3t")
    assert wrote.returncode == 2
    assert "warden kv put" in wrote.stderr, wrote.stderr


def test_workers_that_cannot_work_are_refused_in_one_line(tmp_path: Path) -> None:
    inmem = tmp_path / "inmem.hcl"
    inmem.write_text(CONFIG.replace('storage "sqlite" { path = "data/warden.db" }',
                                    'storage "inmem" {}'))
    for args in (["-dev", "-workers=2"], [f"-config={inmem}", "-workers=2"],
                 [f"-config={inmem}", "-workers=0"]):
        done = subprocess.run([WARDEN, "server", *args], capture_output=True, text=True,
                              timeout=60, cwd=tmp_path, check=False)
        assert done.returncode == 1, (args, done.stderr)
        assert done.stderr.startswith("Error: ") and "workers" in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
