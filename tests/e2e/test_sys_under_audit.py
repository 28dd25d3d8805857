"""Every sys endpoint, with a file audit device on: no 5xx, and the log still verifies.

The endpoints come from the system backend's own path table (read from a real core), so a
path added later is swept too; each named group and field gets a plausible value. The
edge's own sys paths (init, seal-status, unseal, health, leader) are added by hand.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from support.corekit import unsealed_core
from support.server import ServerProcess
from warden.framework import Path as ApiPath
from warden.logical.operation import Operation

METHODS = {Operation.READ: "GET", Operation.LIST: "LIST", Operation.UPDATE: "POST",
           Operation.DELETE: "DELETE"}
# Updates twice: the second pass finds what the first created (a mount to tune, ...).
PHASES = (Operation.UPDATE, Operation.READ, Operation.LIST, Operation.UPDATE, Operation.DELETE)
LAST = {"seal"}  # sealing ends the sweep


def _sys_paths() -> list[ApiPath]:
    async def table() -> list[ApiPath]:
        kit = await unsealed_core()
        found = kit.core.router.match("sys/mounts")
        assert found is not None
        return list(found[0].backend.paths)  # type: ignore[attr-defined]
    return asyncio.run(table())


class Sweep:
    """Plausible values for every group and field of the sys paths."""

    def __init__(self, server: ServerProcess, tmp: Path) -> None:
        self.server = server
        self.http = server.http()
        self.tmp = tmp
        root = self.http.get("/v1/auth/token/lookup-self").json()["data"]
        self.accessor = root["accessor"]
        self.lease_id = self._leased_certificate()

    def _leased_certificate(self) -> str:
        http = self.http
        http.post("/v1/sys/mounts/pki", json={"type": "pki"})
        http.post("/v1/pki/root/generate/internal", json={"common_name": "ca", "key_type": "ec"})
        http.post("/v1/pki/roles/r", json={"allow_any_name": True, "generate_lease": True,
                                            "key_type": "ec"})
        issued = http.post("/v1/pki/issue/r", json={"common_name": "a.example", "ttl": "1h"})
        assert issued.status_code == 200, issued.text
        return str(issued.json()["lease_id"])

    def wrapping_token(self) -> str:
        wrapped = self.http.post("/v1/sys/wrapping/wrap", json={"k": "v"})
        return str(wrapped.json()["wrap_info"]["token"])

    def group(self, pattern: str, name: str) -> str:
        if name == "path":
            for prefix, value in (("mounts/", "sweep-kv"), ("auth/", "sweep-approle"),
                                  ("audit/", "sweep-audit"), ("audit-hash/", "main"),
                                  ("internal/ui/mounts/", "secret/data/x")):
                if pattern.startswith(prefix):
                    return value
        return {"name": "sweep-policy", "prefix": "pki/", "url_lease_id": self.lease_id,
                "migration_id": "no-such-migration"}[name]

    def field(self, pattern: str, name: str) -> Any:
        if name == "type":
            return {"mounts/": "kv", "auth/": "approle", "audit/": "file"}[pattern.split("/")[0]
                                                                           + "/"]
        if name == "options":
            if pattern.startswith("audit/"):
                return {"file_path": str(self.tmp / "sweep-audit.log")}
            return {"version": "2"} if pattern.startswith("mounts/") else {}
        if name == "token":
            return self.server.root_token if pattern.startswith("capabilities") else (
                self.wrapping_token())
        values: dict[str, Any] = {
            "accessor": self.accessor, "lease_id": self.lease_id, "url_lease_id": self.lease_id,
            "increment": "1h",
            "input": "hello", "format": "prometheus", "description": "sweep",
            "policy": 'path "secret/*" { capabilities = ["read"] }', "rules": "",
            "paths": ["secret/data/x", "sys/mounts"], "path": "secret/data/x",
            "default_lease_ttl": "1h", "max_lease_ttl": "2h", "listing_visibility": "unauth",
            "passthrough_request_headers": ["X-Sweep"], "audit_non_hmac_request_keys": ["a"],
            "audit_non_hmac_response_keys": ["b"], "config": {"default_lease_ttl": "1h"},
            "local": False, "seal_wrap": False, "plugin_name": "",
            "token_type": "default-service", "from": "sweep-absent", "to": "sweep-moved",
        }
        return values[name]


def concrete(pattern: str, value: Callable[[str], str]) -> str:
    """The pattern with each named group replaced by a value and its regex syntax dropped."""
    path = re.sub(r"\(\?:/\(\?P<(\w+)>[^)]*\)\)\?", lambda m: "/" + value(m.group(1)), pattern)
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: value(m.group(1)), path)
    path = path.removesuffix("/?")
    assert re.fullmatch(pattern, path), (pattern, path)
    return path


def _calls(paths: list[ApiPath], sweep: Sweep) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for phase in PHASES:
        for api in paths:
            if phase not in api.operations or api.pattern in LAST:
                continue
            groups = set(re.findall(r"\?P<(\w+)>", api.pattern))
            path = concrete(api.pattern, lambda g, p=api.pattern: sweep.group(p, g))
            body = {f: sweep.field(api.pattern, f) for f in api.fields if f not in groups}
            yield METHODS[phase], "sys/" + path, body


def test_every_sys_endpoint_answers_without_a_5xx_under_audit(
        server_factory: Callable[..., ServerProcess], tmp_path: Path) -> None:
    server = server_factory().start()
    log = tmp_path / "audit.log"
    http = server.http()
    assert http.post("/v1/sys/audit/main", json={"type": "file", "options": {
        "file_path": str(log)}}).status_code == 204
    paths = _sys_paths()
    assert {"key-status", "rotate", "metrics", "seal"} <= {p.pattern for p in paths}
    sweep = Sweep(server, tmp_path)
    failures, served = [], 0
    for method, path, body in _calls(paths, sweep):
        if method in ("GET", "LIST"):
            params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
            resp = http.request(method, "/v1/" + path, params=params)
        else:
            resp = http.request(method, "/v1/" + path, json=body)
        served += resp.status_code < 400
        if resp.status_code >= 500:
            failures.append((resp.status_code, method, path, resp.text[:200]))
    key = next(line.split(": ", 1)[1] for line in server.stdout_lines if "Unseal Key" in line)
    edge = [("GET", "sys/init", None), ("GET", "sys/seal-status", None),
            ("GET", "sys/health", None), ("GET", "sys/leader", None),
            ("POST", "sys/seal", None), ("GET", "sys/health", None),
            ("PUT", "sys/unseal", {"key": key}), ("GET", "sys/key-status", None)]
    for method, path, body in edge:
        resp = httpx.request(method, f"{server.url}/v1/{path}", json=body,
                             headers={"X-Vault-Token": server.root_token})
        if resp.status_code >= 500 and not (path == "sys/health" and resp.status_code == 503):
            failures.append((resp.status_code, method, path, resp.text[:200]))
    assert not failures, failures
    print(f"\n{len(paths)} sys patterns swept; {served} calls succeeded")
    audited_paths = {json.loads(line)["request"]["path"] for line in log.read_text().splitlines()}
    assert {"sys/key-status", "sys/rotate", "sys/seal"} <= audited_paths
    verified = server.cli("audit", "verify", str(log))
    assert verified.returncode == 0, verified.stdout + verified.stderr
