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
