"""A PNG of throughput and latency per workload and system (needs matplotlib: ``.[bench]``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

COLOURS = {"warden": "#1f77b4", "warden-etcd": "#2ca02c", "cfssl": "#ff7f0e"}


def plot(report: Mapping[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = [w for w in report["workloads"] if w["mode"] != "scale"]  # scale: a table only
    fig, axes = plt.subplots(2, len(workloads), figsize=(3.6 * len(workloads), 7), squeeze=False)
    for col, w in enumerate(workloads):
        names = list(w["systems"])
        colours = [COLOURS.get(n, "#7f7f7f") for n in names]
        labels = [n.replace("limit/", "limit\n") for n in names]
        top, bottom = axes[0][col], axes[1][col]
        tp = [w["systems"][n]["throughput"] for n in names]
        bars = top.bar(labels, [t["median"] for t in tp], color=colours,
                       yerr=[[t["median"] - t["low"] for t in tp], [t["high"] - t["median"] for t in tp]])
        top.bar_label(bars, fmt="%.0f", fontsize=7)
        top.set_title(f"{w['workload']}\n({w['key']}, {w['mode']})", fontsize=9)
        top.set_ylabel("certificates/s (median, range over rounds)" if col == 0 else "")
        x = range(len(names))
        p50 = [w["systems"][n]["latency_ms"]["p50"] for n in names]
        p99 = [w["systems"][n]["latency_ms"]["p99"] for n in names]
        solid = bottom.bar([i - 0.2 for i in x], p50, width=0.4, color=colours, label="p50")
        light = bottom.bar([i + 0.2 for i in x], p99, width=0.4, color=colours, alpha=0.45, label="p99")
        bottom.bar_label(solid, fmt="%.3g", fontsize=6)
        bottom.bar_label(light, fmt="%.3g", fontsize=6)
        bottom.set_xticks(list(x), labels)
        bottom.set_yscale("log")
        bottom.set_ylabel("latency ms (log): p50 solid, p99 light" if col == 0 else "")
        for ax in (top, bottom):
            ax.tick_params(axis="x", labelsize=7)
    fig.suptitle(f"warden vs cfssl vs in-process limit - {report['meta']['started']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
