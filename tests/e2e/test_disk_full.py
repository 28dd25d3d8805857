"""A full filesystem, without root: RLIMIT_FSIZE set in the server process makes every file
it writes stop growing at a limit, the way a full disk does (EFBIG, with SIGXFSZ ignored as
Python ignores it); ``prlimit`` lifts it again later, as if space had been freed."""

from __future__ import annotations

import json
import resource
from collections.abc import Callable
from pathlib import Path

from support.server import ServerProcess

INMEM = """
storage "inmem" {}
listener "tcp" {
  address     = "127.0.0.1:0"
  tls_disable = true
}
"""


def _file_size_limit(limit: int) -> Callable[[], None]:
    def preexec() -> None:
        _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    return preexec


def _lift_file_size_limit(server: ServerProcess) -> None:
    assert server.proc is not None
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.prlimit(server.proc.pid, resource.RLIMIT_FSIZE, (hard, hard))


def _init(server: ServerProcess) -> None:
    client = server.client(token="")
    init = client.sys.initialize(secret_shares=1, secret_threshold=1)
    client.sys.submit_unseal_key(init["keys"][0])
    server.root_token = init["root_token"]


def test_a_full_disk_never_tears_the_audit_log(
        server_factory: Callable[..., ServerProcess], tmp_path: Path) -> None:
    limit = 128 * 1024
    server = server_factory(dev=False, config_text=INMEM,
                            preexec_fn=_file_size_limit(limit)).start()
    _init(server)
    log = tmp_path / "audit.log"
    root = server.http()
    enabled = root.post("/v1/sys/audit/main", json={"type": "file",
                                                    "options": {"file_path": str(log)}})
    assert enabled.status_code == 204, enabled.text
    served = 0
    for _ in range(5000):
        resp = root.get("/v1/auth/token/lookup-self")
        if resp.status_code != 200:
            break
        served += 1
    assert resp.status_code == 500, resp.text  # fail closed: unaudited means unserved
    assert "no audit device could record" in resp.json()["errors"][0]
    assert root.get("/v1/auth/token/lookup-self").status_code == 500  # still full
    data = log.read_bytes()
    assert 0 < len(data) <= limit and data.endswith(b"\n"), "a torn line was left behind"
    assert all(json.loads(line) for line in data.splitlines())
    print(f"\n{served} requests served before the disk filled; log {len(data)} of {limit} bytes")

    _lift_file_size_limit(server)
    for _ in range(5):
        assert root.get("/v1/auth/token/lookup-self").status_code == 200
    verified = server.cli("audit", "verify", str(log))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "chain intact" in verified.stdout


SQLITE = """
storage "sqlite" { path = "data/warden.db" }
listener "tcp" {
  address     = "127.0.0.1:0"
  tls_disable = true
}
"""


def _full_disk_from_now_on(server: ServerProcess) -> None:
    """Restart with a file size limit SQLite cannot open a store under (its shared-memory
    index alone needs 32 KiB), and a fresh stderr file the limit leaves room in."""
    server.preexec_fn = _file_size_limit(16 * 1024)
    server.stderr_path = server.workdir / "full-disk.stderr"


def _prepared_store(server: ServerProcess) -> str:
    """Initialise, unseal, store a secret; returns the unseal key."""
    client = server.client(token="")
    init = client.sys.initialize(secret_shares=1, secret_threshold=1)
    client.sys.submit_unseal_key(init["keys"][0])
    server.root_token = init["root_token"]
    http = server.http()
    assert http.post("/v1/sys/mounts/kv", json={"type": "kv"}).status_code == 204
    assert http.post("/v1/kv/app", json={"password": "s3cr3t"}).status_code == 204
    return str(init["keys"][0])


def test_a_full_database_disk_starts_read_only_and_says_so(
        server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory(dev=False, config_text=SQLITE)
    server.start()
    key = _prepared_store(server)
    assert server.stop() == 0
    _full_disk_from_now_on(server)
    server.start()
    said = "\n".join(server.stdout_lines) + server.stderr()
    assert "read-only" in said.lower() and "disk is full" in said, said
    assert "Traceback" not in said
    assert "opened read-only: the disk is full" in server.stderr()
    client = server.client(token="")
    assert not client.sys.submit_unseal_key(key)["sealed"]
    http = server.http()
    assert http.get("/v1/kv/app").json()["data"] == {"password": "s3cr3t"}
    assert http.get("/v1/auth/token/lookup-self").status_code == 200
    refused = http.post("/v1/kv/other", json={"a": "b"})
    assert refused.status_code == 503, refused.text
    assert "read-only" in refused.json()["errors"][0]
    assert http.get("/v1/sys/health").status_code == 200
    assert "Traceback" not in server.stderr()


def test_a_full_disk_with_unapplied_changes_refuses_to_start_in_one_line(
        server_factory: Callable[..., ServerProcess]) -> None:
    import signal

    server = server_factory(dev=False, config_text=SQLITE)
    server.start()
    _prepared_store(server)
    server.stop(signal.SIGKILL)  # the write-ahead log keeps changes not yet in the database
    wal = server.workdir / "data" / "warden.db-wal"
    assert wal.exists() and wal.stat().st_size > 0
    _full_disk_from_now_on(server)
    try:
        server.start()
        raise AssertionError("the server started on a store it could not read correctly")
    except RuntimeError as exc:
        said = str(exc)
    errors = [line for line in said.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "disk is full" in errors[0], said
    assert "Traceback" not in said
