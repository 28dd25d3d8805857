"""From raw runs to the numbers of the table: per system over all rounds, and the ratios."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.stats import Histogram, Spread, ratio


def system_summary(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Median throughput over rounds (with its range); latency percentiles over all rounds pooled."""
    hist = Histogram()
    for r in results:
        hist.merge(Histogram.from_dict(r["latency"]))
    ok = sum(r["ok"] for r in results)
    cpu = sum(r["server_cpu_s"] for r in results)
    client_cpu = sum(r.get("client_cpu_s", 0.0) for r in results)
    checked = sum(r["verify"]["checked"] for r in results)
    passed = sum(r["verify"]["passed"] for r in results)
    failures = [f for r in results for f in r["verify"]["failures"]][:5]
    out: dict[str, Any] = {
        "rounds": len(results),
        "throughput": Spread.of(r["throughput"] for r in results).to_dict(),
        "latency_ms": hist.summary_ms(),
        "certificates": ok,
        "errors": sum(r["errors"] for r in results),
        "cpu_s_per_1000": round(cpu / ok * 1000, 3) if ok else None,
        "client_cpu_s_per_1000": round(client_cpu / ok * 1000, 3) if ok and client_cpu else None,
        # Cores busy with anything else during the measured windows: the machine's noise.
        "background_cores": round(sum(r.get("background_cpu_s", 0.0) for r in results)
                                  / (sum(r.get("window_s", 0.0) for r in results) or 1.0), 2),
        "peak_rss_mib": round(max((r.get("peak_rss_kib", 0) for r in results), default=0) / 1024, 1),
        "verified": {"checked": checked, "passed": passed, "failures": failures},
    }
    if any("makespan_s" in r for r in results):
        out["makespan_s"] = Spread.of(r["makespan_s"] for r in results).to_dict()
    error_kinds: dict[str, int] = {}
    for r in results:
        for kind, n in r.get("error_kinds", {}).items():
            error_kinds[kind] = error_kinds.get(kind, 0) + n
    if error_kinds:
        out["error_kinds"] = error_kinds
    return out


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def compare(a: Mapping[str, Any], b: Mapping[str, Any], *, fixed_rate: bool = False,
            ) -> dict[str, float | None]:
    """a/b for throughput, latency and CPU per certificate (None where b has nothing).

    Under a fixed rate both deliver the rate, so only latency and CPU are compared.
    """
    throughput = None if fixed_rate else ratio(a["throughput"]["median"], b["throughput"]["median"])
    return {
        "throughput": _rounded(throughput),
        "p50": _rounded(ratio(a["latency_ms"]["p50"], b["latency_ms"]["p50"])),
        "p99": _rounded(ratio(a["latency_ms"]["p99"], b["latency_ms"]["p99"])),
        "cpu_per_cert": _rounded(ratio(a["cpu_s_per_1000"] or 0.0, b["cpu_s_per_1000"] or 0.0)),
    }


def summarize(raw: Mapping[str, Any]) -> dict[str, Any]:
    systems = {name: system_summary(results) for name, results in raw["runs"].items() if results}
    ratios: dict[str, dict[str, float | None]] = {}
    fixed = raw["mode"] == "open"
    wardens = [name for name in systems if name.startswith("warden")]
    for name in wardens:
        if "cfssl" in systems:
            ratios[f"{name}/cfssl"] = compare(systems[name], systems["cfssl"], fixed_rate=fixed)
    for name in wardens:
        if name != "warden" and "warden" in systems:
            ratios[f"{name}/warden"] = compare(systems[name], systems["warden"], fixed_rate=fixed)
    if "floor" in systems:  # the least any Python server keeping warden's promises costs
        if "cfssl" in systems:
            ratios["floor/cfssl"] = compare(systems["floor"], systems["cfssl"], fixed_rate=fixed)
        if "warden" in systems:
            ratios["warden/floor"] = compare(systems["warden"], systems["floor"], fixed_rate=fixed)
    for name in systems:
        if name.startswith("limit/") and wardens:
            ratios[f"{wardens[0]}/{name}"] = compare(systems[wardens[0]], systems[name],
                                                     fixed_rate=fixed)
    return {"workload": raw["workload"], "title": raw["title"], "key": raw["key"], "mode": raw["mode"],
            "rate": raw.get("rate"), "systems": systems, "ratios": ratios, "checks": raw.get("checks", {}),
            "profiles": raw.get("profiles", {})}
