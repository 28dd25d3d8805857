"""Command-line options of ``python -m bench``."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from bench.workloads import WORKLOADS, Workload, select

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True, slots=True)
class Options:
    workloads: tuple[Workload, ...]
    rounds: int = 3
    duration_s: float = 15.0
    warmup_s: float = 3.0
    connections: int = 16
    agents: int = 1000
    rate: float = 5.0
    sample: int = 50
    settle_s: float = 5.0
    out: Path = DEFAULT_OUT
    plot: bool = False
    profile: bool = False
    storages: tuple[str, ...] = ("sqlite", "etcd")
    etcd_members: int = 1
    workers: tuple[int, ...] = (1, 2)  # warden's worker processes, a row each (SQLite)
    scale_certs: int = 1_000_000  # the scale workload's full store
    scale_rate: float = 50.0  # requests/s of the scale workload's fixed-rate (p99) runs


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=(
        "warden against cfssl serve, side by side, with the in-process crypto limit. "
        f"Workloads: {', '.join(WORKLOADS)} (scale only when named)."))
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: 1 round of 3 s after 1 s of warm-up, 100 storm agents")
    p.add_argument("--rounds", type=int, help="rounds per workload, alternating warden and cfssl (3)")
    p.add_argument("--duration", type=float, help="measured seconds per run (15)")
    p.add_argument("--warmup", type=float, help="seconds of warm-up before each measured run (3)")
    p.add_argument("--connections", type=int, default=16, help="concurrent connections (16)")
    p.add_argument("--agents", type=int, help="agents in the renewal storm (1000)")
    p.add_argument("--rate", type=float, default=5.0, help="requests/s of the rsa-issue workload (5)")
    p.add_argument("--sample", type=int, default=50, help="answers verified per run (50)")
    p.add_argument("--workloads", default="all", help="comma-separated workloads (all)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where results go (bench/results)")
    p.add_argument("--storage", default="sqlite,etcd",
                   help="warden's stores, each a row of the table: sqlite, etcd (sqlite,etcd)")
    p.add_argument("--etcd-members", type=int, default=1,
                   help="members of the etcd cluster warden-etcd uses, all on this machine (1)")
    p.add_argument("--workers", default="1,2",
                   help="warden's worker processes, each count a row of the table (1,2); "
                        "with etcd, only 1")
    p.add_argument("--scale-certs", type=int, default=1_000_000,
                   help="certificates in the scale workload's full store (1000000)")
    p.add_argument("--scale-rate", type=float, default=50.0,
                   help="requests/s of the scale workload's fixed-rate runs, for p99 (50)")
    p.add_argument("--plot", action="store_true", help="also draw a PNG (needs matplotlib: .[bench])")
    p.add_argument("--profile", action="store_true",
                   help="after the rounds, one extra warden run under py-spy (needs .[bench])")
    return p


def parse(argv: list[str]) -> Options:
    args = parser().parse_args(argv)
    quick = args.quick
    try:
        workloads = tuple(select(args.workloads))
    except ValueError as exc:
        parser().error(str(exc))
    storages = tuple(s.strip() for s in args.storage.split(",") if s.strip())
    if not storages or not set(storages) <= {"sqlite", "etcd"}:
        parser().error("--storage takes sqlite, etcd or both (sqlite,etcd)")
    try:
        workers = tuple(sorted({int(w) for w in args.workers.split(",") if w.strip()}))
    except ValueError:
        parser().error("--workers takes counts such as 1,2")
    if not workers or min(workers) < 1:
        parser().error("--workers takes counts such as 1,2")
    opts = Options(
        workloads=workloads,
        rounds=args.rounds or (1 if quick else 3),
        duration_s=args.duration or (3.0 if quick else 15.0),
        warmup_s=args.warmup if args.warmup is not None else (1.0 if quick else 3.0),
        connections=args.connections, agents=args.agents or (100 if quick else 1000),
        rate=args.rate, sample=args.sample, settle_s=1.0 if quick else 5.0,
        out=args.out, plot=args.plot, profile=args.profile, storages=storages,
        etcd_members=args.etcd_members, workers=workers, scale_certs=args.scale_certs,
        scale_rate=args.scale_rate,
    )
    if opts.etcd_members < 1:
        parser().error("--etcd-members must be at least 1")
    if opts.scale_certs < 1 or opts.scale_rate <= 0:
        parser().error("--scale-certs and --scale-rate must be positive")
    if opts.rounds < 1 or opts.duration_s <= 0 or opts.connections < 1 or opts.agents < 1 or opts.rate <= 0:
        parser().error("rounds, duration, connections, agents and rate must be positive")
    return opts
