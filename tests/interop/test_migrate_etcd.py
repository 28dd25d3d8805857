"""``warden operator migrate``: SQLite -> etcd -> SQLite with real servers in between.

The store stays sealed during the copy; the copy unseals with the same key and serves the
same secrets and tokens. A non-empty destination and a source with an active HA node are
refused with a clear message.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import httpx
import pytest

from support.etcd_cluster import EtcdCluster, free_port
from support.server import WARDEN, ServerProcess

pytestmark = pytest.mark.interop

ROOT = "migrate-root"


def migrate(config: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "WARDEN_"))}
    return subprocess.run([WARDEN, "operator", "migrate", f"-config={config}"], capture_output=True,
                          text=True, env=env, timeout=120, check=False)


def sqlite_block(kind: str, path: Path) -> str:
    return f'{kind} "sqlite" {{\n  path = "{path}"\n}}\n'


def etcd_block(kind: str, etcd: EtcdCluster, path: str) -> str:
    return etcd.storage_block(path).replace('storage "etcd"', f'{kind} "etcd"', 1)


def server_on(workdir: Path, storage: str) -> ServerProcess:
    port = free_port("127.0.0.1")
    config = storage + f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n'
    workdir.mkdir(parents=True, exist_ok=True)
    return ServerProcess(workdir, dev=False, config_text=config).start()


def unseal(server: ServerProcess, key: str) -> None:
    answer = httpx.put(server.url + "/v1/sys/unseal", json={"key": key}, timeout=30)
    assert answer.status_code == 200 and answer.json()["sealed"] is False, answer.text


def read_secret(server: ServerProcess, name: str) -> dict[str, object]:
    answer = httpx.get(f"{server.url}/v1/secret/data/{name}", headers={"X-Vault-Token": ROOT},
                       timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["data"]["data"])


def test_sqlite_to_etcd_and_back(etcd_cluster: EtcdCluster, tmp_path: Path) -> None:
    original = tmp_path / "original.db"
    dev = ServerProcess(tmp_path / "dev", root_token=ROOT,
                        extra_args=[f"-dev-storage-path={original}"])
    (tmp_path / "dev").mkdir()
    dev.start()
    try:
        assert dev.client().secrets.kv.v2.create_or_update_secret("app", {"password": "s3cr3t"})
    finally:
        dev.stop()
    key = Path(str(original) + ".devkey").read_text().strip()
    prefix = f"/migrated-{secrets.token_hex(4)}/"

    there = tmp_path / "to-etcd.hcl"
    there.write_text(sqlite_block("storage_source", original)
                     + etcd_block("storage_destination", etcd_cluster, prefix))
    done = migrate(there)
    assert done.returncode == 0, done.stderr
    assert "Success! All of the keys have been migrated" in done.stdout
    assert "verified" in done.stdout

    again = migrate(there)
    assert again.returncode == 2 and "destination is not empty" in again.stderr
    assert "Traceback" not in again.stderr

    on_etcd = server_on(tmp_path / "etcd-server", etcd_cluster.storage_block(prefix))
    try:
        assert httpx.get(on_etcd.url + "/v1/sys/health").status_code == 503  # sealed, as copied
        unseal(on_etcd, key)
        assert read_secret(on_etcd, "app") == {"password": "s3cr3t"}
        written = httpx.post(f"{on_etcd.url}/v1/secret/data/added-on-etcd",
                             headers={"X-Vault-Token": ROOT}, json={"data": {"n": 1}})
        assert written.status_code == 200, written.text
    finally:
        on_etcd.stop()

    back_file = tmp_path / "back.db"
    back = tmp_path / "to-sqlite.hcl"
    back.write_text(etcd_block("storage_source", etcd_cluster, prefix)
                    + sqlite_block("storage_destination", back_file))
    done = migrate(back)
    assert done.returncode == 0, done.stderr
    on_sqlite = server_on(tmp_path / "sqlite-server", sqlite_block("storage", back_file))
    try:
        unseal(on_sqlite, key)
        assert read_secret(on_sqlite, "app") == {"password": "s3cr3t"}
        assert read_secret(on_sqlite, "added-on-etcd") == {"n": 1}
    finally:
        on_sqlite.stop()


def test_refuses_an_empty_source_and_a_bad_file(tmp_path: Path) -> None:
    config = tmp_path / "m.hcl"
    config.write_text(sqlite_block("storage_source", tmp_path / "none.db")
                      + sqlite_block("storage_destination", tmp_path / "dest.db"))
    done = migrate(config)
    assert done.returncode == 2 and "no warden store" in done.stderr
    config.write_text(sqlite_block("storage_source", tmp_path / "none.db"))
    done = migrate(config)
    assert done.returncode == 2 and "missing storage_destination" in done.stderr
    assert "Traceback" not in done.stderr
