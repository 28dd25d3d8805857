"""Deeply nested JSON is refused at the edge with a 400, before authentication, the audit
log or any backend sees it; up to the limit it is stored, audited and read back."""

from __future__ import annotations

from pathlib import Path

import httpx

from support.server import ServerProcess

LIMIT = 100  # the default max_json_depth


def nested(depth: int) -> bytes:
    """A request body whose JSON nests exactly ``depth`` levels (the outer object is 1)."""
    return b'{"data":' + b'{"k":' * (depth - 1) + b'"leaf"' + b"}" * depth


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


def test_nesting_is_limited_at_the_edge(dev_server: ServerProcess, tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    root = dev_server.http()
    assert root.post("/v1/sys/audit/deep", json={"type": "file",
                                                "options": {"file_path": str(log)}}).status_code == 204
    try:
        for depth in (LIMIT + 1, 252, 254, 1000, 5000):
            anonymous = httpx.put(dev_server.url + "/v1/secret/data/deep", content=nested(depth))
            assert anonymous.status_code == 400, (depth, anonymous.text)
            assert "nesting depth" in anonymous.json()["errors"][0]
            authed = root.put("/v1/secret/data/deep", content=nested(depth))
            assert authed.status_code == 400, (depth, authed.text)
            unseal = httpx.put(dev_server.url + "/v1/sys/unseal", content=nested(depth))
            assert unseal.status_code == 400, (depth, unseal.text)
        lines_before = len(log.read_bytes().splitlines())
        assert root.put("/v1/secret/data/deep", content=nested(LIMIT)).status_code == 200
        read = root.get("/v1/secret/data/deep")
        assert read.status_code == 200 and _depth(read.json()["data"]["data"]) == LIMIT - 1
        assert len(log.read_bytes().splitlines()) == lines_before + 4  # request+response, twice
        verified = dev_server.cli("audit", "verify", str(log))
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert root.get("/v1/sys/health").status_code == 200
    finally:
        root.delete("/v1/sys/audit/deep")
