"""The scale workload's plumbing, with a tiny store: the bulk fill writes what the PKI engine
itself reads (listing, revocations, tidy, CRL), options and selection, and the summary table."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bench.options import parse
from bench.report import render
from bench.scale import REVOKES, Template, fill_storage, summarize_scale
from bench.stats import Histogram
from bench.workloads import WORKLOADS, select
from cryptography import x509

from support.pki import PkiKit
from warden.logical.operation import Operation

N = 40  # 20 expired, 20 valid; 4 revoked (2 expired, 2 valid)


def test_scale_runs_only_when_named_and_takes_its_size() -> None:
    assert "scale" not in [w.name for w in select("all")]
    assert [w.name for w in select("scale")] == ["scale"]
    assert [w.name for w in select("all,scale")] == [*(n for n in WORKLOADS if n != "scale"), "scale"]
    opts = parse(["--workloads", "scale", "--scale-certs", "20000", "--scale-rate", "20"])
    assert (opts.scale_certs, opts.scale_rate) == (20000, 20.0)
    assert parse([]).scale_certs == 1_000_000


async def test_the_bulk_fill_is_read_by_the_engine_as_issued_certificates() -> None:
    kit = PkiKit()
    root = await kit.root("ec")
    await kit.write("roles/bench", allow_any_name=True, key_type="ec")
    leaf = await kit.data("issue/bench", common_name="template.bench.local", ttl="1h")
    before = set(await kit.list("certs"))
    now = kit.clock.time()
    totals = await fill_storage(kit.storage, N, now, Template("pki/", root["issuer_id"], leaf["certificate"]))
    assert totals == {"certificates": N, "revoked": 4, "expired": 20, "expired_revoked": 2}

    listed = set(await kit.list("certs")) - before
    assert len(listed) == N
    revoked = await kit.call(Operation.LIST, "certs/revoked")
    assert revoked is not None and len(revoked.data["keys"]) == 4  # type: ignore[index]
    one = await kit.get(f"cert/{sorted(listed)[0]}")
    assert one["certificate"] == leaf["certificate"]
    expiring = await kit.call(Operation.LIST, "certs/expiring", after="2000-01-01T00:00:00Z",
                              before=dt.datetime.fromtimestamp(now, dt.UTC).isoformat())
    assert expiring is not None and len(expiring.data["keys"]) == 20  # type: ignore[index]

    resp = await kit.write("tidy", tidy_cert_store=True, tidy_revoked_certs=True)
    assert resp.status == 202 and kit.pki.tidy_job is not None
    await kit.pki.tidy_job
    status = await kit.get("tidy-status")
    assert (status["state"], status["cert_store_deleted_count"], status["revoked_cert_deleted_count"]) == (
        "Finished", 20, 2)
    assert len(set(await kit.list("certs")) - before) == 20
    crl = await kit.read("crl")
    assert crl is not None and crl.raw is not None
    assert len(list(x509.load_der_x509_crl(crl.raw.body))) == 2  # the valid revoked ones


def _summary(p50: float, p99: float, cpu: float) -> dict[str, Any]:
    hist = Histogram()
    for v in (p50, p50, p50, p99):
        hist.record(v)
    return {"throughput": {"median": 100.0, "low": 90.0, "high": 110.0}, "latency_ms": {
        "p50": p50, "p99": p99}, "cpu_s_per_1000": cpu, "errors": 0,
        "verified": {"checked": 2, "passed": 2, "failures": []}}


def test_the_summary_compares_full_with_empty_and_fits_100_columns() -> None:
    fill = {"certificates": 20000, "revoked": 2000, "expired": 10000, "expired_revoked": 1000,
            "fill_s": 12.5, "store_bytes": 50_000_000}
    raw = {"workload": "scale", "title": WORKLOADS["scale"].title, "key": "ECDSA P-256", "mode": "scale",
           "certificates": 20000, "rate": 50.0,
           "empty": {"issue": {"closed": _summary(10.0, 30.0, 1.0), "rate": _summary(5.0, 12.0, 1.0)},
                     "revoke": {"median_s": 0.01, "max_s": 0.02, "first_s": 0.02, "runs": REVOKES},
                     "store_bytes": 1_000_000},
           "fill": fill,
           "start": {"first": {"listening_s": 0.5, "unsealed_s": 2.0},
                     "again": {"listening_s": 0.5, "unsealed_s": 1.0}},
           "full": {"issue": {"closed": _summary(11.0, 33.0, 1.1), "rate": _summary(5.0, 14.0, 1.0)},
                    "revoke": {"median_s": 0.2, "max_s": 0.4, "first_s": 0.4, "runs": REVOKES},
                    "crl": {"fetch_s": 0.01, "bytes": 40000, "entries": 1000 + 2 * REVOKES},
                    "list": {"page": 1000, "first_page_s": 0.02, "walk_s": 1.5, "pages": 21, "listed": 20001},
                    "tidy": {"rate": _summary(6.0, 21.0, 1.0), "running_through_window": True,
                             "state": "Finished", "error": None, "tidy_s": 40.0,
                             "cert_store_deleted_count": 10000, "revoked_cert_deleted_count": 1000},
                    "store_bytes_after_tidy": 50_000_000}}
    s = summarize_scale(raw)
    rows = {r["metric"]: r for r in s["rows"]}
    assert rows["issue p50 ms"]["ratio"] == 1.1 and rows["issue CPU s/1k"]["ratio"] == 1.1
    assert rows["bytes/cert"]["full"] == round(49_000_000 / 20000)
    assert s["tidy"]["p99_ratio"] == 1.5 and s["crl"]["expected_entries"] == 2000 + 2 * REVOKES
    text = render({"meta": {"started": "now", "machine": {"cpu": "test", "cores": 2},
                            "options": {}}, "workloads": [s]})
    assert "issue p99 during tidy: 21.00 ms, without 14.00 ms (1.50x; goal <= 2x)" in text
    assert max(len(line) for line in text.splitlines()) <= 100
