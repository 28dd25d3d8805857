"""The tables printed at the end of a run, and the JSON file they come from."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

HEADER = (f"{'system':<20} {'req/s':>8} {'(low-high)':<17} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'CPU s/1k':>9} {'RSS MiB':>8} {'errors':>7} {'verified':>9} {'bg cores':>8}")


def _num(value: float | None, width: int, digits: int = 1) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def system_row(name: str, s: Mapping[str, Any]) -> str:
    tp, lat, ver = s["throughput"], s["latency_ms"], s["verified"]
    spread = f"({tp['low']:.1f}-{tp['high']:.1f})"
    return (f"{name:<20} {tp['median']:>8.1f} {spread:<17} {lat['p50']:>8.2f} {lat['p99']:>8.2f} "
            f"{_num(s['cpu_s_per_1000'], 9, 2)} {s['peak_rss_mib']:>8.1f} {s['errors']:>7} "
            f"{ver['passed']:>4}/{ver['checked']:<4} {s.get('background_cores', 0.0):>8.2f}")


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def ratio_line(name: str, r: Mapping[str, float | None]) -> str:
    return (f"  {name}: throughput {_ratio(r['throughput'])}, p50 {_ratio(r['p50'])}, "
            f"p99 {_ratio(r['p99'])}, CPU per certificate {_ratio(r['cpu_per_cert'])}")


def describe_load(w: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    opts = meta["options"]
    if w["mode"] == "open":
        load = f"{w['rate']:g} requests/s due on a fixed schedule, up to {opts['connections']} connections"
    elif w["mode"] == "storm":
        load = f"{opts['agents']} agents renewing at once, each on a fresh connection"
    else:
        load = f"{opts['connections']} connections, closed loop"
    return f"{w['key']}; {load}; {opts['rounds']} rounds x {opts['duration_s']:g} s"


def workload_table(w: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    lines = [f"== {w['workload']}: {w['title']}", f"   [{describe_load(w, meta)}]", HEADER]
    lines += [system_row(name, s) for name, s in w["systems"].items()]
    if w["mode"] == "storm":
        for name, s in w["systems"].items():
            if "makespan_s" in s:
                m = s["makespan_s"]
                lines.append(f"  {name}: storm over in {m['median']:.2f} s "
                             f"(range {m['low']:.2f}-{m['high']:.2f})")
    lines += [ratio_line(name, r) for name, r in w["ratios"].items()]
    for name, checks in _checks_by_system(w.get("checks") or {}).items():
        lines.append(f"  {name} kept: {checks['certificates_stored']} of "
                     f"{checks['certificates_returned']} certificates stored, {checks['audit_lines']} "
                     f"audit lines ({'ok' if checks['all_stored'] and checks['all_audited'] else 'MISSING'})")
    for name, s in w["systems"].items():
        if s["verified"]["failures"]:
            lines.append(f"  {name} WRONG ANSWERS: {s['verified']['failures'][0]}")
        if s.get("error_kinds"):
            lines.append(f"  {name} errors: {s['error_kinds']}")
    return "\n".join(lines)


def _checks_by_system(checks: Mapping[str, Any]) -> Mapping[str, Mapping[str, Any]]:
    """``{system: checks}``; results written before etcd runs hold one flat "warden" entry."""
    return {"warden": checks} if "all_stored" in checks else checks


def _cell(value: float | None, width: int) -> str:
    if value is None:
        return f"{'-':>{width}}"
    return f"{value:>{width},.0f}" if abs(value) >= 1000 else f"{value:>{width}.3g}"


def scale_table(s: Mapping[str, Any]) -> str:
    lines = [f"== {s['workload']}: {s['title']}",
             f"   [{s['key']}; {s['certificates']:,} certificates, 10% revoked, half expired; "
             f"fixed rate {s['rate']:g}/s for p99]",
             f"{'metric':<22} {'empty':>10} {'full':>10} {'full/empty':>10}  goal"]
    for row in s["rows"]:
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}x"
        lines.append(f"{row['metric']:<22} {_cell(row['empty'], 10)} {_cell(row['full'], 10)} "
                     f"{ratio:>10}  {row['goal']}")
    fill_, crl, tidy, lst = s["fill"], s["crl"], s["tidy"], s["list"]
    lines.append(f"  fill: {fill_['certificates']:,} certificates ({fill_['revoked']:,} revoked, "
                 f"{fill_['expired']:,} expired) in {fill_['fill_s']:.0f} s; "
                 f"store {fill_['store_bytes'] / 2**20:,.0f} MiB")
    lines.append(f"  CRL: {crl.get('entries', '?')} entries (expected {crl['expected_entries']}), "
                 f"{crl.get('bytes', 0) / 1024:,.0f} KiB, fetched in {crl.get('fetch_s', 0):.3f} s")
    lines.append(f"  LIST certs: {lst['listed']:,} listed in {lst['pages']} pages of {lst['page']}")
    lines.append(f"  tidy: {tidy['state']} in {tidy['tidy_s']:.0f} s, {tidy['cert_store_deleted_count']:,} "
                 f"certificates and {tidy['revoked_cert_deleted_count']:,} revocations removed")
    through = "yes" if tidy["running_through_window"] else "NO"
    lines.append(f"  tidy ran through the whole issue window: {through}")
    ratio = "-" if tidy["p99_ratio"] is None else f"{tidy['p99_ratio']:.2f}x"
    lines.append(f"  issue p99 during tidy: {tidy['p99_ms']:.2f} ms, without {tidy['p99_without_ms']:.2f} ms "
                 f"({ratio}; goal <= 2x)")
    lines.append(f"  errors: empty {s['errors']['empty']}, full {s['errors']['full']}")
    for name, v in s["verified"].items():
        if v["failures"]:
            lines.append(f"  {name} WRONG ANSWERS: {v['failures'][0]}")
    return "\n".join(lines)


def wrong_answers(w: Mapping[str, Any]) -> bool:
    if w["mode"] == "scale":
        return any(v["failures"] for v in w["verified"].values())
    return any(s["verified"]["failures"] for s in w["systems"].values())


def table(w: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    return scale_table(w) if w["mode"] == "scale" else workload_table(w, meta)


def render(report: Mapping[str, Any]) -> str:
    meta = report["meta"]
    machine = meta["machine"]
    head = (f"warden {machine.get('revision', '?')} vs cfssl {machine.get('cfssl', '?')} on "
            f"{machine['cpu']} ({machine['cores']} cores); {meta['started']}\n"
            "bg cores: CPU used by other processes during the measured windows (noise)")
    return "\n\n".join([head, *(table(w, meta) for w in report["workloads"])])


def write_json(report: Mapping[str, Any], out_dir: Path, stamp: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{stamp}.json"
    path.write_text(json.dumps(report, indent=1, default=str))
    return path


def workloads_of(report: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    return list(report["workloads"])
