"""The ``scale`` workload: does warden's cost stay flat as the store grows? (issue 16)

1. A production-mode warden (``WardenServer``: SQLite, barrier, file audit, P-256 root and
   role, a non-root token) is measured on its empty store: issue throughput, p50 and CPU per
   certificate (closed loop), issue p99 at a fixed rate, and revoke latency.
2. The server stops and its store is filled in bulk, in the engine's own storage format
   (``certstore.record_ops``: the record and every index entry, each value through the
   barrier's AES-GCM, as an issuance writes them; revocations as ``revoked/<serial>``
   records) to ``--scale-certs`` certificates: half expired (4 to 30 days ago, past tidy's
   72 h safety buffer), half valid for up to 90 days, 10% revoked (as many expired as valid).
3. The server starts again (start and unseal timed, twice: the first start may upgrade
   what the bulk fill left), and the same measurements run on the full store; then the CRL
   is fetched and its entries counted, ``LIST certs`` is timed for its first page and a full
   paged walk, and a tidy of the expired half runs in the background while issuance goes on
   at the fixed rate (its p99 against the same rate without a tidy).
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
from cryptography import x509

from bench.items import CertRequest
from bench.options import Options
from bench.runner import items_for, log, measure_server
from bench.summary import system_summary
from bench.warden_server import MOUNT, WardenServer, _ok
from bench.workloads import Workload
from warden.composition import build_core
from warden.core.view import StorageView
from warden.engines.pki import certstore, crlindex
from warden.engines.pki.certstore import CertRecord, RevokedEntry
from warden.engines.pki.store import format_serial
from warden.logical.storage import BatchOp, Put, Storage
from warden.server.config import ServerConfig
from warden.storage.sqlite import SQLiteBackend

DAY = 86400
FILL_BATCH = 2000
REVOKED_EVERY = 10  # one certificate in ten is revoked
REVOKES = 10  # revocations timed on each store
LIST_PAGE = 1000
TIDY_TIMEOUT_S = 4 * 3600.0
SERIAL_BASE = 2**158  # 20-byte serials, as issued ones (below 2**159)


@dataclasses.dataclass(frozen=True, slots=True)
class Template:
    """What every bulk certificate copies from a real one issued by the server."""

    mount: str
    issuer_id: str
    pem: str


def bulk_certificates(count: int, now: float, template: Template) -> Iterator[tuple[CertRecord, bool]]:
    """The fill, certificate by certificate: (record, revoked?). Even numbers have expired
    (4 to 30 days ago), odd ones are valid (1 to 90 days ahead); of every 20, number 0
    (expired) and number 1 (valid) are revoked."""
    for n in range(count):
        share = (n // 2) / max(1, (count + 1) // 2)
        not_after = int(now - 4 * DAY - 26 * DAY * share if n % 2 == 0 else now + DAY + 89 * DAY * share)
        issued_at = not_after - 30 * DAY
        cn = f"bulk-{n}.bench.local"
        record = CertRecord(
            serial_number=format_serial(SERIAL_BASE + n), certificate=template.pem,
            issuer_id=template.issuer_id, not_before=issued_at, not_after=not_after, subject=f"CN={cn}",
            common_name=cn, dns_names=(cn,), role="bench", mount=template.mount, accessor="bench",
            issued_at=issued_at, issued_by="token-bench")
        yield record, n % (2 * REVOKED_EVERY) in (0, 1)


def fill_ops(record: CertRecord, revoked: bool) -> list[BatchOp]:
    """The writes of one issuance, and of its revocation when ``revoked``."""
    ops = certstore.record_ops(record)
    if revoked:
        entry = RevokedEntry(serial_number=record.serial_number, revocation_time=record.issued_at + DAY,
                             issuer_id=record.issuer_id, not_after=record.not_after,
                             certificate=record.certificate)
        ops.append(Put(certstore.REVOKED_PREFIX + record.key, orjson.dumps(dataclasses.asdict(entry))))
    return ops


async def fill_storage(storage: Storage, count: int, now: float, template: Template,
                       progress: bool = False) -> dict[str, int]:
    """Write ``count`` bulk certificates into a mount's storage view, a batch at a time."""
    totals = {"certificates": 0, "revoked": 0, "expired": 0, "expired_revoked": 0}
    ops: list[BatchOp] = []
    for record, revoked in bulk_certificates(count, now, template):
        ops += fill_ops(record, revoked)
        expired = record.not_after < now
        totals["certificates"] += 1
        totals["revoked"] += revoked
        totals["expired"] += expired
        totals["expired_revoked"] += revoked and expired
        if totals["certificates"] % FILL_BATCH == 0:
            await storage.batch(ops)
            ops = []
            if progress and totals["certificates"] % 100_000 == 0:
                log(f"  scale: {totals['certificates']:>9,} certificates stored")
    if ops:
        await storage.batch(ops)
    return totals


async def fill(db: Path, unseal_key: str, count: int, now: float, template: Template) -> dict[str, Any]:
    """Open the stopped server's store as the server does (unsealed barrier) and fill it."""
    physical = SQLiteBackend(db)
    core = build_core(ServerConfig(storage={"path": str(db)}), physical)
    try:
        await core.unseal(bytes.fromhex(unseal_key))
        entry = core.mounts.secrets.entries[template.mount]
        began = time.perf_counter()
        view = StorageView(core.barrier, entry.storage_prefix)
        totals = await fill_storage(view, count, now, template, progress=True)
        await crlindex.reindex(view)  # the CRL entries real revocations would have appended
        return {**totals, "fill_s": round(time.perf_counter() - began, 1)}
    finally:
        await core.shutdown()
        await physical.close()


# -- measurements against the running server --------------------------------------------------

def _closed(workload: Workload) -> Workload:
    return dataclasses.replace(workload, mode="closed")


def _open(workload: Workload) -> Workload:
    return dataclasses.replace(workload, mode="open")


def issue_runs(server: WardenServer, workload: Workload, items: list[CertRequest], opts: Options,
               scratch: Path, tag: str) -> dict[str, Any]:
    """Closed loop (throughput, p50, CPU per certificate) and the fixed rate (p99)."""
    closed = measure_server(server, _closed(workload), items, opts, scratch, f"scale-{tag}-closed")
    log(f"  scale/{tag}: closed loop {closed['throughput']:.1f} req/s")
    fixed = measure_server(server, _open(workload), items, dataclasses.replace(opts, rate=opts.scale_rate),
                           scratch, f"scale-{tag}-rate")
    return {"closed": system_summary([closed]), "rate": system_summary([fixed])}


def _root(server: WardenServer, timeout: float = 600) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=timeout, headers={"X-Vault-Token": server.root_token})


def template_of(server: WardenServer) -> Template:
    with _root(server) as http:
        issuer = _ok(http.get(f"/v1/{MOUNT}/issuer/default"))["data"]["issuer_id"]
        leaf = _ok(http.post(f"/v1/{MOUNT}/issue/bench", json={"common_name": "template.bench.local"}))
    return Template(mount=f"{MOUNT}/", issuer_id=issuer, pem=leaf["data"]["certificate"])


def revoke_latency(server: WardenServer, count: int = REVOKES) -> dict[str, Any]:
    """Revoke ``count`` fresh certificates one after another; each answer follows the CRL update."""
    seconds = []
    with _root(server) as http:
        serials = [_ok(http.post(f"/v1/{MOUNT}/issue/bench", json={"common_name": f"revoke-{i}.bench.local"}))
                   ["data"]["serial_number"] for i in range(count)]
        for serial in serials:
            began = time.perf_counter()
            _ok(http.post(f"/v1/{MOUNT}/revoke", json={"serial_number": serial}))
            seconds.append(time.perf_counter() - began)
    return {"runs": count, "median_s": round(statistics.median(seconds), 4), "first_s": round(seconds[0], 4),
            "max_s": round(max(seconds), 4)}


def crl_check(server: WardenServer) -> dict[str, Any]:
    with _root(server) as http:
        began = time.perf_counter()
        response = http.get(f"/v1/{MOUNT}/crl")
        elapsed = time.perf_counter() - began
    if response.status_code != 200:
        return {"status": response.status_code, "error": response.text[:200]}
    crl = x509.load_der_x509_crl(response.content)
    return {"fetch_s": round(elapsed, 4), "bytes": len(response.content), "entries": len(list(crl))}


def list_walk(server: WardenServer) -> dict[str, Any]:
    """LIST certs: the first page of LIST_PAGE, and every page until the end."""
    with _root(server) as http:
        began = time.perf_counter()
        first = http.request("LIST", f"/v1/{MOUNT}/certs", params={"limit": LIST_PAGE})
        first_s = time.perf_counter() - began
        keys: list[str] = first.json()["data"]["keys"]
        total, pages = len(keys), 1
        while len(keys) == LIST_PAGE:
            page = http.request("LIST", f"/v1/{MOUNT}/certs", params={"limit": LIST_PAGE, "after": keys[-1]})
            keys = page.json()["data"]["keys"] if page.status_code == 200 else []
            total, pages = total + len(keys), pages + 1
        walk_s = time.perf_counter() - began
    return {"page": LIST_PAGE, "first_page_s": round(first_s, 4), "walk_s": round(walk_s, 2),
            "pages": pages, "listed": total}


def tidy_during_issuance(server: WardenServer, workload: Workload, items: list[CertRequest], opts: Options,
                         scratch: Path) -> dict[str, Any]:
    """Start a tidy of everything expired, issue at the fixed rate meanwhile, then wait for it."""
    with _root(server) as http:
        started = http.post(f"/v1/{MOUNT}/tidy", json={"tidy_cert_store": True, "tidy_revoked_certs": True})
        if started.status_code != 202:
            raise RuntimeError(f"tidy did not start: {started.status_code} {started.text[:200]}")
        began = time.perf_counter()
        at_rate = dataclasses.replace(opts, rate=opts.scale_rate)
        during = measure_server(server, _open(workload), items, at_rate, scratch, "scale-tidy-rate")
        state_after_window = http.get(f"/v1/{MOUNT}/tidy-status").json()["data"]["state"]
        deadline = time.monotonic() + TIDY_TIMEOUT_S
        while (status := http.get(f"/v1/{MOUNT}/tidy-status").json()["data"])["state"] == "Running":
            if time.monotonic() > deadline:
                raise RuntimeError(f"tidy still running after {TIDY_TIMEOUT_S:.0f} s: {status}")
            time.sleep(1.0)
        took = time.perf_counter() - began
    return {"rate": system_summary([during]), "running_through_window": state_after_window == "Running",
            "state": status["state"], "error": status["error"], "tidy_s": round(took, 1),
            "cert_store_deleted_count": status["cert_store_deleted_count"],
            "revoked_cert_deleted_count": status["revoked_cert_deleted_count"]}


def store_bytes(workdir: Path) -> int:
    return sum(p.stat().st_size for p in workdir.glob("warden.db*"))


def run_scale(workload: Workload, opts: Options, scratch: Path) -> dict[str, Any]:
    """The whole workload; the raw result that ``summarize_scale`` turns into the table."""
    items = items_for(_closed(workload), opts)
    workdir = scratch / "scale-warden"
    server = WardenServer(workdir, workload.key)
    raw: dict[str, Any] = {"workload": workload.name, "title": workload.title, "key": workload.key.label,
                           "mode": workload.mode, "certificates": opts.scale_certs, "rate": opts.scale_rate}
    try:
        log(f"scale: empty store in {workdir}")
        server.start()
        time.sleep(opts.settle_s)
        template = template_of(server)
        raw["empty"] = {"issue": issue_runs(server, workload, items, opts, scratch, "empty"),
                        "revoke": revoke_latency(server)}
        server.stop()
        raw["empty"]["store_bytes"] = store_bytes(workdir)  # stopped, as after the fill
        log(f"scale: filling {opts.scale_certs:,} certificates")
        raw["fill"] = asyncio.run(fill(workdir / "warden.db", server.unseal_key, opts.scale_certs,
                                       time.time(), template))
        raw["fill"]["store_bytes"] = store_bytes(workdir)
        first_start = server.restart()
        server.stop()
        raw["start"] = {"first": first_start, "again": server.restart()}
        time.sleep(opts.settle_s)
        log("scale: measuring the full store")
        loaded: dict[str, Any] = {"issue": issue_runs(server, workload, items, opts, scratch, "full"),
                                  "revoke": revoke_latency(server)}
        loaded["crl"] = crl_check(server)
        loaded["list"] = list_walk(server)
        log("scale: tidy while issuing")
        loaded["tidy"] = tidy_during_issuance(server, workload, items, opts, scratch)
        loaded["store_bytes_after_tidy"] = store_bytes(workdir)
        raw["full"] = loaded
    finally:
        server.stop()
    return raw


# -- the summary and its table ------------------------------------------------------------

def _ratio(a: float | None, b: float | None) -> float | None:
    return None if not a or not b else round(a / b, 3)


def summarize_scale(raw: dict[str, Any]) -> dict[str, Any]:
    """The figures the issue asks for, each with its empty-store counterpart and goal."""
    empty, full, fill_ = raw["empty"], raw["full"], raw["fill"]
    e_closed, f_closed = empty["issue"]["closed"], full["issue"]["closed"]
    f_rate, tidy_rate = full["issue"]["rate"], full["tidy"]["rate"]
    certs = fill_["certificates"]
    expected_crl = fill_["revoked"] + 2 * REVOKES  # the bulk ones and those timed on each store
    rows = [
        ("issue p50 ms", e_closed["latency_ms"]["p50"], f_closed["latency_ms"]["p50"], "<= 1.2x"),
        ("issue CPU s/1k", e_closed["cpu_s_per_1000"], f_closed["cpu_s_per_1000"], "<= 1.2x"),
        ("issue req/s", e_closed["throughput"]["median"], f_closed["throughput"]["median"], ""),
        ("revoke median s", empty["revoke"]["median_s"], full["revoke"]["median_s"], "< 1 s"),
        ("revoke max s", empty["revoke"]["max_s"], full["revoke"]["max_s"], "< 1 s"),
        ("issue p99 ms at rate", empty["issue"]["rate"]["latency_ms"]["p99"], f_rate["latency_ms"]["p99"],
         ""),
        ("start+unseal s", None, raw["start"]["again"]["unsealed_s"], "< 3 s"),
        ("first start s", None, raw["start"]["first"]["unsealed_s"], ""),
        ("LIST page 1 s", None, full["list"]["first_page_s"], ""),
        ("LIST walk s", None, full["list"]["walk_s"], ""),
        ("bytes/cert", None, round((fill_["store_bytes"] - empty["store_bytes"]) / max(1, certs)), ""),
    ]
    return {
        "workload": raw["workload"], "title": raw["title"], "key": raw["key"], "mode": raw["mode"],
        "certificates": certs, "rate": raw["rate"],
        "rows": [{"metric": m, "empty": e, "full": f, "ratio": _ratio(f, e), "goal": g}
                 for m, e, f, g in rows],
        "fill": fill_, "start": raw["start"], "crl": {**full["crl"], "expected_entries": expected_crl},
        "list": full["list"],
        "tidy": {**{k: v for k, v in full["tidy"].items() if k != "rate"},
                 "p99_ms": tidy_rate["latency_ms"]["p99"], "p99_without_ms": f_rate["latency_ms"]["p99"],
                 "p99_ratio": _ratio(tidy_rate["latency_ms"]["p99"], f_rate["latency_ms"]["p99"])},
        "errors": {"empty": e_closed["errors"] + empty["issue"]["rate"]["errors"],
                   "full": f_closed["errors"] + f_rate["errors"] + tidy_rate["errors"]},
        "verified": {name: s["verified"] for name, s in (("empty", e_closed), ("full", f_closed),
                                                         ("tidy", tidy_rate))},
        "store_bytes_after_tidy": full["store_bytes_after_tidy"],
    }
