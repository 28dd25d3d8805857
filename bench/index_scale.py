"""How fast the dashboard's expiring view answers over a store of a million certificates.

    .venv/bin/python -m bench.index_scale                 # 1,000,000 certificates (~10 minutes to fill)
    .venv/bin/python -m bench.index_scale --count 100000  # a quicker look

1. A production-mode ``warden server`` (SQLite, barrier) is initialised and unsealed; a PKI
   mount ``c1/pki/k8s`` gets a root, a role, and one real issued certificate.
2. The server stops, and the store is filled in bulk *in the engine's own storage format*:
   the same ``certstore.record_ops`` an issuance writes (record + every index entry, each
   value through the barrier's AES-GCM), for ``--count`` certificates: a quarter as many
   identities (each renewed four times), 100 roles, 1,000 node names as SANs, expiries
   spread evenly from 30 days ago to 90 days ahead.
3. The server starts again and each of the dashboard's calls is timed over HTTP with a
   non-root token (so the token lookup and the ACL check are paid), ``--repeat`` times.

The JSON result goes to stdout and ``bench/results/index_scale.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.process import ManagedProcess
from bench.warden_server import _await_banner, _ok, server_config, warden_executable
from warden.composition import build_core
from warden.core.view import StorageView
from warden.engines.pki import certstore
from warden.engines.pki.certstore import CertRecord
from warden.server.config import ServerConfig
from warden.storage.sqlite import SQLiteBackend

MOUNT = "c1/pki/k8s"
NODES = 1000
ROLES = 100
RENEWALS = 4
DAY = 86400
BATCH = 2000
POLICY = f'path "{MOUNT}/*" {{ capabilities = ["read", "list"] }}\n'


def _start(workdir: Path) -> tuple[ManagedProcess, str]:
    process = ManagedProcess([warden_executable(), "server", f"-config={workdir / 'warden.hcl'}"],
                             workdir, "warden.log")
    url = _await_banner(process.start(stdout=subprocess.PIPE))
    return process, url


def prepare(workdir: Path) -> dict[str, Any]:
    (workdir / "warden.hcl").write_text(server_config(workdir / "warden.db"))
    process, url = _start(workdir)
    try:
        with httpx.Client(base_url=url, timeout=60) as http:
            init = _ok(http.put("/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1}))
            _ok(http.put("/v1/sys/unseal", json={"key": init["keys"][0]}))
            http.headers["X-Vault-Token"] = init["root_token"]
            _ok(http.post(f"/v1/sys/mounts/{MOUNT}",
                          json={"type": "pki", "config": {"max_lease_ttl": "87600h"}}))
            root = _ok(http.post(f"/v1/{MOUNT}/root/generate/internal",
                                 json={"common_name": "kubernetes", "key_type": "ec", "ttl": "87600h"}))
            _ok(http.post(f"/v1/{MOUNT}/roles/kubelet", json={
                "allow_any_name": True, "key_type": "ec", "enforce_hostnames": False, "max_ttl": "8760h"}))
            leaf = _ok(http.post(f"/v1/{MOUNT}/issue/kubelet", json={"common_name": "system:node:node0",
                                                                    "ttl": "8760h"}))
            _ok(http.put("/v1/sys/policies/acl/dashboard", json={"policy": POLICY}))
            token = _ok(http.post("/v1/auth/token/create", json={"policies": ["dashboard"], "ttl": "24h"}))
            return {"key": init["keys"][0], "token": token["auth"]["client_token"],
                    "issuer_id": root["data"]["issuer_id"], "pem": leaf["data"]["certificate"]}
    finally:
        process.stop()


async def fill(workdir: Path, setup: dict[str, Any], count: int, now: float) -> float:
    physical = SQLiteBackend(workdir / "warden.db")
    core = build_core(ServerConfig(storage={"path": str(workdir / "warden.db")}), physical)
    try:
        await core.unseal(bytes.fromhex(setup["key"]))
        entry = core.mounts.secrets.entries[MOUNT + "/"]
        view = StorageView(core.barrier, entry.storage_prefix)
        began = time.perf_counter()
        span = 120 * DAY
        identities = max(1, count // RENEWALS)
        for start in range(0, count, BATCH):
            ops = []
            for n in range(start, min(start + BATCH, count)):
                ident = n % identities  # each identity renewed RENEWALS times over the span
                node = f"node{ident % NODES}"
                not_after = int(now - 30 * DAY + span * n / count)
                issued_at = not_after - 365 * DAY
                ops += certstore.record_ops(CertRecord(
                    serial_number=(n + 2**40).to_bytes(8, "big").hex(":"), certificate=setup["pem"],
                    issuer_id=setup["issuer_id"], not_before=issued_at, not_after=not_after,
                    subject=f"CN=w{ident}.{node}", common_name=f"w{ident}.{node}", dns_names=(node,),
                    role=f"role{ident % ROLES}", mount=MOUNT + "/", accessor="bench", issued_at=issued_at,
                    issued_by="token-bench"))
            await view.batch(ops)
            if start % 100_000 == 0:
                print(f"  {start:>9,} stored ({time.perf_counter() - began:.0f} s)", file=sys.stderr)
        return time.perf_counter() - began
    finally:
        await core.shutdown()
        await physical.close()


def measure(workdir: Path, setup: dict[str, Any], repeat: int) -> dict[str, Any]:
    process, url = _start(workdir)
    try:
        with httpx.Client(base_url=url, timeout=120) as http:
            _ok(http.put("/v1/sys/unseal", json={"key": setup["key"]}))
            http.headers["X-Vault-Token"] = setup["token"]
            first = _time(http, "LIST", "certs/expiring", {"within": "720h", "limit": "100"}, 1)
            page = http.request("LIST", f"/v1/{MOUNT}/certs/expiring",
                                params={"within": "720h", "limit": "100"}).json()["data"]
            month = {"within": "720h", "limit": "100"}
            calls = {
                "expiring 30 days, first page of 100": ("LIST", "certs/expiring", month),
                "expiring 30 days, next page": ("LIST", "certs/expiring",
                                                {**month, "cursor": page["next_cursor"]}),
                "expiring 30 days, current only": ("LIST", "certs/expiring",
                                                   {**month, "hide_renewed": "true"}),
                "expiring 90 days, one role": ("LIST", "certs/expiring",
                                               {"within": "2160h", "role": "role7"}),
                "expiring 90 days, one node name": ("LIST", "certs/expiring",
                                                    {"within": "2160h", "name": "node7"}),
                "expiry counts, 90 days": ("READ", "certs/expiry-counts", {"days": "90"}),
                "recent issuance, 100": ("LIST", "certs/recent", {"limit": "100"}),
            }
            results = {name: _time(http, method, path, params, repeat)
                       for name, (method, path, params) in calls.items()}
            results["first call after start"] = first
            return {"window_total_30d": page["total"], "timings": results}
    finally:
        process.stop()


def _time(http: httpx.Client, method: str, path: str, params: dict[str, str],
          repeat: int) -> dict[str, float]:
    seconds = []
    for _ in range(repeat):
        began = time.perf_counter()
        response = http.request("LIST" if method == "LIST" else "GET", f"/v1/{MOUNT}/{path}", params=params)
        seconds.append(time.perf_counter() - began)
        if response.status_code not in (200, 404):  # 404: an empty listing, as Vault answers
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
    ordered = sorted(seconds)
    return {"median_s": round(statistics.median(seconds), 4), "max_s": round(ordered[-1], 4),
            "runs": repeat}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.index_scale", description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--dir", default="", help="Work here (kept) instead of a temporary directory.")
    parser.add_argument("--reuse", action="store_true", help="Measure the store already filled in --dir.")
    args = parser.parse_args(argv)
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="warden-index-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    saved = workdir / "setup.json"
    if args.reuse:
        setup = json.loads(saved.read_text())
        fill_seconds = 0.0
    else:
        setup = prepare(workdir)
        saved.write_text(json.dumps(setup))
        print(f"filling {args.count:,} certificates into {workdir}", file=sys.stderr)
        fill_seconds = asyncio.run(fill(workdir, setup, args.count, time.time()))
    size = sum(p.stat().st_size for p in workdir.glob("warden.db*"))
    result = {"certificates": args.count, "fill_seconds": round(fill_seconds, 1),
              "store_bytes": size, **measure(workdir, setup, args.repeat)}
    text = json.dumps(result, indent=2)
    print(text)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "index_scale.json").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
