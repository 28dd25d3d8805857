"""One workload: start both servers, alternate them over the rounds, measure the limit, check answers."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from bench.cfssl_server import CfsslServer
from bench.etcd_server import EtcdCluster
from bench.floor_server import FloorServer
from bench.items import CertRequest, cert_requests
from bench.keys import KeyType
from bench.limit import LimitSpec
from bench.limit import extract as limit_extract
from bench.loadspec import HttpRequest, LoadSpec
from bench.options import Options
from bench.procstat import memory_kib
from bench.verify import verify_samples
from bench.warden_server import WardenServer
from bench.workloads import Workload

DISTINCT_REQUESTS = 128
PAUSE_S = 1.0


class Server(Protocol):
    name: str
    host: str
    port: int
    ca_pem: str

    @property
    def pid(self) -> int: ...

    def start(self) -> Server: ...

    def stop(self) -> None: ...

    def request(self, operation: str, item: CertRequest) -> HttpRequest: ...

    def extract(self, body: str) -> tuple[str, str]: ...

    def checks(self) -> dict[str, int]: ...


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def items_for(workload: Workload, opts: Options) -> list[CertRequest]:
    count = opts.agents if workload.mode == "storm" else DISTINCT_REQUESTS
    return cert_requests(count, with_csr=workload.operation == "sign", short_ttl=workload.mode == "storm")


def load_spec(server: Server, workload: Workload, items: list[CertRequest], opts: Options) -> LoadSpec:
    return LoadSpec(
        host=server.host, port=server.port, server_pid=server.pid,
        requests=tuple(server.request(workload.operation, item) for item in items),
        mode=workload.mode, connections=opts.connections, warmup_s=opts.warmup_s,
        duration_s=opts.duration_s, rate=opts.rate if workload.mode == "open" else 0.0,
        agents=opts.agents if workload.mode == "storm" else 0, sample=opts.sample,
    )


def run_child(module: str, spec: LoadSpec | LimitSpec, scratch: Path, tag: str) -> dict[str, Any]:
    """Run ``python -m <module> SPEC OUT`` in its own process and read what it wrote."""
    spec_path, out_path = scratch / f"{tag}.spec.json", scratch / f"{tag}.out.json"
    spec.save(spec_path)
    subprocess.run([sys.executable, "-m", module, str(spec_path), str(out_path)], check=True,
                   cwd=Path(__file__).resolve().parent.parent)
    result: dict[str, Any] = json.loads(out_path.read_text())
    out_path.unlink()
    return result


def measure_server(server: Server, workload: Workload, items: list[CertRequest], opts: Options,
                   scratch: Path, tag: str) -> dict[str, Any]:
    result = run_child("bench.loadgen", load_spec(server, workload, items, opts), scratch, tag)
    result["verify"] = verify_samples(result.pop("samples"), extract=server.extract, ca_pem=server.ca_pem,
                                      items=items, key=workload.key).to_dict()
    return result


def measure_limit(kind: str, key: KeyType, items: list[CertRequest], opts: Options, scratch: Path,
                  tag: str) -> dict[str, Any]:
    spec = LimitSpec(kind, key, tuple(items), duration_s=opts.duration_s,
                     warmup_s=min(opts.warmup_s, 1.0), sample=opts.sample)
    result = run_child("bench.limit", spec, scratch, tag)
    result["verify"] = verify_samples(result.pop("samples"), extract=limit_extract,
                                      ca_pem=result.pop("ca_pem"), items=items, key=key).to_dict()
    return result


def _line(name: str, result: dict[str, Any]) -> str:
    lat = result["latency_ms"]
    return (f"  {name:<20} {result['throughput']:9.1f} req/s  p50 {lat['p50']:8.2f} ms  "
            f"p99 {lat['p99']:8.2f} ms  errors {result['errors']}  "
            f"verified {result['verify']['passed']}/{result['verify']['checked']}")


def run_workload(workload: Workload, opts: Options, scratch: Path,
                 profile: Callable[[WardenServer, LoadSpec, Path], dict[str, Any]] | None = None,
                 ) -> dict[str, Any]:
    items = items_for(workload, opts)
    etcd = (EtcdCluster(scratch / f"{workload.name}-etcd", opts.etcd_members)
            if "etcd" in opts.storages else None)
    wardens = [WardenServer(scratch / f"{workload.name}-warden-{kind}", workload.key,
                            etcd_address=etcd.address if kind == "etcd" and etcd else "")
               for kind in opts.storages]
    if "sqlite" in opts.storages:  # more workers: rows of their own (SQLite; see README)
        wardens += [WardenServer(scratch / f"{workload.name}-warden-{n}w", workload.key, workers=n)
                    for n in opts.workers if n > 1]
    cfssl = CfsslServer(scratch / f"{workload.name}-cfssl", workload.key)
    floors = [FloorServer(scratch / f"{workload.name}-floor", workload.key)] if workload.floor else []
    servers: list[Server] = [*wardens, *floors, cfssl]
    runs: dict[str, list[dict[str, Any]]] = {s.name: [] for s in servers}
    runs.update({f"limit/{k}": [] for k in workload.limit_kinds})
    try:
        if etcd is not None:
            etcd.start()
        for server in servers:
            server.start()
        time.sleep(opts.settle_s)  # warden's key pool fills; every server idle
        before = {w.name: w.checks() for w in wardens}
        for rnd in range(opts.rounds):
            log(f"{workload.name}: round {rnd + 1}/{opts.rounds}")
            for server in servers:
                result = measure_server(server, workload, items, opts, scratch, f"{server.name}-{rnd}")
                runs[server.name].append(result)
                log(_line(server.name, result))
                time.sleep(PAUSE_S)
            for kind in workload.limit_kinds:
                result = measure_limit(kind, workload.key, items, opts, scratch, f"limit-{rnd}")
                runs[f"limit/{kind}"].append(result)
                log(_line(f"limit/{kind}", result))
        peak = {s.name: memory_kib(s.pid) for s in servers}
        checks = {w.name: _warden_checks(before[w.name], w.checks(), runs[w.name]) for w in wardens}
        empty = {"stored_certificates": 0, "audit_lines": 0}  # a floor starts from nothing
        checks |= {f.name: _warden_checks(empty, f.checks(), runs[f.name]) for f in floors}
        first = wardens[0]
        profiles = profile(first, load_spec(first, workload, items, opts), scratch) if profile else {}
    finally:
        for server in servers:
            server.stop()
        if etcd is not None:
            etcd.stop()
    for name, results in runs.items():
        for result in results:
            result.setdefault("peak_rss_kib", peak.get(name, 0))
    return {"workload": workload.name, "title": workload.title, "key": workload.key.label,
            "mode": workload.mode, "rate": opts.rate if workload.mode == "open" else None,
            "runs": runs, "checks": checks, "profiles": profiles}


def _warden_checks(before: dict[str, int], after: dict[str, int],
                   results: list[dict[str, Any]]) -> dict[str, Any]:
    """Every certificate warden handed out is stored, and every request audited (request + response)."""
    issued = sum(r["total_ok"] + r.get("enrolled", 0) for r in results)
    stored = after["stored_certificates"] - before["stored_certificates"]
    audited = after["audit_lines"] - before["audit_lines"]
    return {"certificates_returned": issued, "certificates_stored": stored, "audit_lines": audited,
            "all_stored": stored >= issued, "all_audited": audited >= 2 * issued}
