"""``python -m bench`` (``make bench``): warden vs cfssl serve vs the crypto limit; see bench/README.md."""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import machine, report
from bench.options import Options, parse
from bench.runner import log, run_workload
from bench.scale import run_scale, summarize_scale
from bench.summary import summarize


def _meta(opts: Options, started: str) -> dict[str, Any]:
    options = {k: v for k, v in asdict(opts).items() if k != "workloads"}
    options["workloads"] = [w.name for w in opts.workloads]
    return {"started": started, "machine": machine.describe(), "options": options}


def main(argv: list[str]) -> int:
    opts = parse(argv)
    now = dt.datetime.now().astimezone()
    stamp = now.strftime("%Y%m%d-%H%M%S")
    result: dict[str, Any] = {"meta": _meta(opts, now.isoformat(timespec="seconds")), "workloads": []}
    profiler = None
    if opts.profile:
        from bench.profile import Profiler

        profiler = Profiler(opts.out / f"{stamp}-profiles", opts.duration_s)
    with tempfile.TemporaryDirectory(prefix="warden-bench-") as scratch:
        for workload in opts.workloads:
            if workload.mode == "scale":
                raw = run_scale(workload, opts, Path(scratch))
                result["workloads"].append({**summarize_scale(raw), "raw": raw})
            else:
                raw = run_workload(workload, opts, Path(scratch), profiler.run if profiler else None)
                result["workloads"].append({**summarize(raw), "rounds": raw["runs"]})
            path = report.write_json(result, opts.out, stamp)  # after each workload: nothing is lost
    summary = {"meta": result["meta"], "workloads": result["workloads"]}
    print(report.render(summary))
    print(f"\nresults: {path}")
    if opts.plot and any(w["mode"] != "scale" for w in summary["workloads"]):
        from bench.plot import plot

        print(f"plot: {plot(summary, opts.out / f'{stamp}.png')}")
    failed = [w["workload"] for w in result["workloads"] if report.wrong_answers(w)]
    if failed:
        log(f"wrong answers in: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
