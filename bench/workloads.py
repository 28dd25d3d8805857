"""The workloads of issue 7, as data: what is asked, of which key type, under which load."""

from __future__ import annotations

from dataclasses import dataclass

from bench.keys import P256, RSA2048, KeyType


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    title: str
    key: KeyType
    operation: str  # "issue" (the server makes the key) or "sign" (a client CSR)
    mode: str  # "closed" (throughput), "open" (a fixed rate; latency) or "storm"
    limit_kinds: tuple[str, ...]  # in-process ceilings to measure beside it (bench.limit.KINDS)
    rate: float = 0.0
    in_all: bool = True  # part of "all" (scale, which fills a large store, runs only when named)
    floor: bool = False  # also run bench/floor_app.py: warden's guarantees in the plainest Python


WORKLOADS: dict[str, Workload] = {w.name: w for w in (
    Workload("p256-issue", "issue with a server-generated ECDSA P-256 key", P256, "issue", "closed",
             ("issue",), floor=True),
    Workload("p256-sign", "sign a client's P-256 CSR", P256, "sign", "closed", ("sign",),
             floor=True),
    Workload("rsa-issue", "issue with RSA-2048 keys at a sustained rate (latency)", RSA2048, "issue",
             "open", ("issue", "issue-pooled"), rate=5.0),
    Workload("rsa-issue-max", "issue with RSA-2048 keys, as fast as it goes", RSA2048, "issue",
             "closed", ("issue", "issue-pooled")),
    Workload("storm", "renewal storm: every agent's 5-minute P-256 certificate renewed at once", P256,
             "issue", "storm", ("issue",)),
    Workload("scale", "flat cost as the store grows: empty store against a full one (bench/scale.py)",
             P256, "issue", "scale", (), in_all=False),
)}


def select(names: str) -> list[Workload]:
    """``a,b`` -> those workloads, in the order given; "all" or "" -> every one but those run
    only when named (scale); "all" may be combined with names ("all,scale")."""
    wanted: list[str] = []
    for name in [n.strip() for n in (names or "all").split(",") if n.strip()] or ["all"]:
        more = [w.name for w in WORKLOADS.values() if w.in_all] if name == "all" else [name]
        wanted += [n for n in more if n not in wanted]
    unknown = [n for n in wanted if n not in WORKLOADS]
    if unknown:
        raise ValueError(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")
    return [WORKLOADS[n] for n in wanted]
