"""From runs to summaries, ratios and the printed table."""

from __future__ import annotations

from typing import Any

from bench.report import render
from bench.stats import Histogram
from bench.summary import summarize, system_summary

META = {"started": "now", "machine": {"cpu": "cpu", "cores": 2},
        "options": {"connections": 16, "agents": 10, "rounds": 2, "duration_s": 15.0}}


def _run(throughput: float, latencies: list[float], cpu: float, ok: int, **extra: Any) -> dict[str, Any]:
    hist = Histogram()
    for v in latencies:
        hist.record(v)
    return {"throughput": throughput, "latency": hist.to_dict(), "ok": ok, "errors": 0,
            "server_cpu_s": cpu, "client_cpu_s": 0.1, "total_ok": ok, "window_s": 10.0,
            "background_cpu_s": 5.0, "peak_rss_kib": 2048,
            "verify": {"checked": 2, "passed": 2, "failures": []}, **extra}


def _raw(mode: str = "closed") -> dict[str, Any]:
    return {"workload": "p256-issue", "title": "issue", "key": "P-256", "mode": mode, "rate": None,
            "runs": {"warden": [_run(300, [0.01] * 10, 3.0, 3000), _run(100, [0.03] * 10, 1.0, 1000)],
                     "cfssl": [_run(100, [0.02] * 10, 1.0, 1000)],
                     "limit/issue": [_run(1000, [0.0001] * 10, 1.0, 10000)]},
            "checks": {"certificates_returned": 4000, "certificates_stored": 4000, "audit_lines": 8000,
                       "all_stored": True, "all_audited": True}}


def test_system_summary_pools_rounds() -> None:
    s = system_summary(_raw()["runs"]["warden"])
    assert s["throughput"] == {"median": 200.0, "low": 100.0, "high": 300.0}
    assert s["cpu_s_per_1000"] == 1.0  # 4 s over 4000 certificates
    assert s["certificates"] == 4000
    assert s["peak_rss_mib"] == 2.0
    assert s["verified"]["passed"] == 4
    assert s["background_cores"] == 0.5  # 10 s of others' CPU over 20 s of windows


def test_ratios() -> None:
    ratios = summarize(_raw())["ratios"]
    assert ratios["warden/cfssl"]["throughput"] == 2.0
    assert ratios["warden/limit/issue"]["throughput"] == 0.2
    assert ratios["warden/cfssl"]["cpu_per_cert"] == 1.0


def test_no_throughput_ratio_under_a_fixed_rate() -> None:
    ratios = summarize(_raw("open"))["ratios"]
    assert ratios["warden/cfssl"]["throughput"] is None
    assert ratios["warden/cfssl"]["p50"] is not None


def test_etcd_rows_and_their_ratios() -> None:
    raw = _raw()
    raw["runs"]["warden-etcd"] = [_run(150, [0.02] * 10, 3.0, 1500)]
    raw["checks"] = {"warden": raw["checks"], "warden-etcd": {
        "certificates_returned": 1500, "certificates_stored": 1500, "audit_lines": 3000,
        "all_stored": True, "all_audited": True}}
    summary = summarize(raw)
    assert summary["ratios"]["warden-etcd/warden"]["throughput"] == 0.75
    assert summary["ratios"]["warden-etcd/cfssl"]["throughput"] == 1.5
    text = render({"meta": META, "workloads": [summary]})
    assert "warden-etcd kept: 1500 of 1500 certificates stored" in text
    assert "warden-etcd/warden: throughput 0.75x" in text


def test_render_has_a_row_per_system_and_the_ratios() -> None:
    text = render({"meta": META, "workloads": [summarize(_raw())]})
    assert "== p256-issue" in text
    for name in ("warden", "cfssl", "limit/issue", "warden/cfssl: throughput 2.00x"):
        assert name in text
    assert "4000 of 4000 certificates stored" in text


def test_a_row_per_worker_count_with_its_ratios() -> None:
    raw = _raw()
    raw["runs"]["warden-2w"] = [_run(360, [0.01] * 10, 4.4, 4000)]
    summary = summarize(raw)
    assert summary["ratios"]["warden-2w/warden"]["throughput"] == 1.8
    assert summary["ratios"]["warden-2w/cfssl"]["cpu_per_cert"] == 1.1
    assert "warden-2w/limit/issue" not in summary["ratios"]


def test_workers_option() -> None:
    from bench.options import parse

    assert parse(["--workers", "2,1,2"]).workers == (1, 2)
    assert parse([]).workers == (1, 2)


def test_the_floor_row_and_its_ratios() -> None:
    raw = _raw()
    raw["runs"]["floor"] = [_run(250, [0.01] * 10, 2.0, 2500)]  # 0.8 s/1k against warden's 1.0
    raw["checks"] = {"warden": raw["checks"], "floor": {
        "certificates_returned": 2500, "certificates_stored": 2500, "audit_lines": 5000,
        "all_stored": True, "all_audited": True}}
    summary = summarize(raw)
    assert summary["ratios"]["floor/cfssl"]["cpu_per_cert"] == 0.8
    assert summary["ratios"]["warden/floor"]["cpu_per_cert"] == 1.25
    assert "floor/limit/issue" not in summary["ratios"]
    text = render({"meta": META, "workloads": [summary]})
    assert "floor kept: 2500 of 2500 certificates stored, 5000 audit lines (ok)" in text
    assert "warden/floor: throughput 0.80x" in text
