"""The load generator: a separate process, so its CPU is not charged to either server.

``python -m bench.loadgen SPEC.json OUT.json``: runs the spec (see ``LoadSpec``) and writes
counts, a latency histogram, the server's CPU seconds over the measured window (from /proc)
and a sample of the certificates it got back, for checking afterwards.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.httpwire import Connection, ProtocolError, RawResponse, encode_request
from bench.loadspec import LoadSpec
from bench.procstat import CpuTimes, cpu_times, machine_busy_s
from bench.stats import Histogram

CERT_MARKER = b"BEGIN CERTIFICATE"


@dataclass
class Recorder:
    """Counts what happened inside the measured window; keeps a uniform sample of answers."""

    sample_size: int
    rng: random.Random
    hist: Histogram = field(default_factory=Histogram)
    ok: int = 0
    errors: int = 0
    total_ok: int = 0
    status: dict[str, int] = field(default_factory=dict)
    error_kinds: dict[str, int] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)

    def outcome(self, index: int, response: RawResponse, latency: float, *, counted: bool) -> bool:
        good = response.status == 200 and CERT_MARKER in response.body
        self.total_ok += good
        if not counted:
            return good
        self.status[str(response.status)] = self.status.get(str(response.status), 0) + 1
        if not good:
            self.fail(f"http {response.status}: {response.body[:200].decode('utf-8', 'replace')}")
            return False
        self.ok += 1
        self.hist.record(latency)
        self._keep(index, response.body)
        return True

    def fail(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1

    def _keep(self, index: int, body: bytes, **extra: Any) -> None:
        item = {"index": index, "body": body.decode(), **extra}
        if len(self.samples) < self.sample_size:
            self.samples.append(item)
            return
        slot = self.rng.randrange(self.ok)  # reservoir sampling: every answer equally likely
        if slot < self.sample_size:
            self.samples[slot] = item


class Window:
    """The measured interval, with the server's and our own CPU time at both ends."""

    def __init__(self, server_pid: int, start: float, end: float) -> None:
        self.pid = server_pid
        self.start = start
        self.end = end
        self.cpu: list[CpuTimes] = []
        self.own_cpu: list[float] = []
        self.machine: list[float] = []

    def snapshot(self) -> None:
        self.cpu.append(cpu_times(self.pid))
        self.own_cpu.append(time.process_time())
        self.machine.append(machine_busy_s())

    def report(self) -> dict[str, float]:
        """CPU seconds of the server, of this client, and of everything else on the machine (noise)."""
        if len(self.cpu) != 2:
            return {"server_cpu_s": 0.0, "client_cpu_s": 0.0, "background_cpu_s": 0.0}
        server = self.cpu[-1] - self.cpu[0]
        client = self.own_cpu[-1] - self.own_cpu[0]
        machine = self.machine[-1] - self.machine[0]
        return {"server_cpu_s": server.total, "server_user_s": server.user,
                "server_system_s": server.system, "client_cpu_s": client,
                "background_cpu_s": max(0.0, machine - server.total - client)}


async def _send(conn: Connection, raw: bytes, rec: Recorder, *, counted: bool) -> RawResponse | None:
    try:
        return await conn.request(raw)
    except (OSError, ProtocolError) as exc:
        if counted:
            rec.fail(type(exc).__name__)
        await asyncio.sleep(0.01)
        return None


async def run_closed(spec: LoadSpec, raws: list[bytes], rec: Recorder) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    start = loop.time() + spec.warmup_s
    window = Window(spec.server_pid, start, start + spec.duration_s)
    loop.call_at(window.start, window.snapshot)
    loop.call_at(window.end, window.snapshot)
    counter = iter(range(10**12))

    async def worker() -> None:
        conn = Connection(spec.host, spec.port)
        while loop.time() < window.end:
            index = next(counter) % len(raws)
            t0 = loop.time()
            response = await _send(conn, raws[index], rec, counted=t0 >= window.start)
            t1 = loop.time()
            if response is not None:
                rec.outcome(index, response, t1 - t0, counted=window.start <= t1 < window.end)
        await conn.close()

    await asyncio.gather(*(worker() for _ in range(spec.connections)))
    return {"window_s": spec.duration_s, **window.report()}


async def run_open(spec: LoadSpec, raws: list[bytes], rec: Recorder) -> dict[str, Any]:
    """Requests due at a fixed rate; those due inside the window are counted, however late."""
    loop = asyncio.get_running_loop()
    begin = loop.time()
    start = begin + spec.warmup_s
    window = Window(spec.server_pid, start, start + spec.duration_s)
    loop.call_at(window.start, window.snapshot)
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()

    async def dispatch() -> None:
        n = 0
        while (due := begin + n / spec.rate) < window.end:
            await asyncio.sleep(max(0.0, due - loop.time()))
            queue.put_nowait((n, due))
            n += 1
        for _ in range(spec.connections):
            queue.put_nowait(None)

    async def worker() -> None:
        conn = Connection(spec.host, spec.port)
        while (item := await queue.get()) is not None:
            n, due = item
            counted = due >= window.start
            response = await _send(conn, raws[n % len(raws)], rec, counted=counted)
            if response is not None:
                rec.outcome(n, response, loop.time() - due, counted=counted)
        await conn.close()

    await asyncio.wait_for(asyncio.gather(dispatch(), *(worker() for _ in range(spec.connections))),
                           spec.warmup_s + spec.duration_s + spec.grace_s)
    window.snapshot()
    return {"window_s": spec.duration_s, **window.report()}


async def run_storm(spec: LoadSpec, raws: list[bytes], rec: Recorder) -> dict[str, Any]:
    """Every agent gets a certificate, then all renew at once; the storm lasts until the last has one."""
    first: dict[int, bytes] = {}
    limit = asyncio.Semaphore(spec.connections)
    initial = Recorder(0, rec.rng)

    async def enrol(agent: int) -> None:
        async with limit:
            conn = Connection(spec.host, spec.port)
            response = await _send(conn, raws[agent % len(raws)], initial, counted=True)
            await conn.close()
        if response is not None and initial.outcome(agent, response, 0.0, counted=True):
            first[agent] = response.body

    await asyncio.gather(*(enrol(a) for a in range(spec.agents)))
    loop = asyncio.get_running_loop()
    gate = asyncio.Event()
    window = Window(spec.server_pid, 0.0, 0.0)
    finished: list[float] = []

    async def renew(agent: int) -> None:
        conn = Connection(spec.host, spec.port)
        await gate.wait()
        response = await _send(conn, raws[agent % len(raws)], rec, counted=True)
        finished.append(loop.time())
        await conn.close()
        if response is not None and rec.outcome(agent, response, loop.time() - window.start,
                                                 counted=True):
            _pair_with_first(rec, agent, first)

    tasks = [asyncio.ensure_future(renew(a)) for a in sorted(first)]
    await asyncio.sleep(0.2)  # let every agent reach the gate
    window.snapshot()
    window.start = loop.time()
    gate.set()
    await asyncio.wait_for(asyncio.gather(*tasks), spec.grace_s)
    window.snapshot()
    makespan = max(finished, default=window.start) - window.start
    return {"window_s": makespan, "makespan_s": makespan, "agents": spec.agents,
            "enrolled": len(first), "enrol_errors": initial.errors, **window.report()}


def _pair_with_first(rec: Recorder, agent: int, first: dict[int, bytes]) -> None:
    for item in rec.samples:
        if item["index"] == agent and "previous" not in item:
            item["previous"] = first[agent].decode()


async def run(spec: LoadSpec) -> dict[str, Any]:
    host = f"{spec.host}:{spec.port}"
    raws = [encode_request(r.method, host, r.path, r.body.encode(), r.headers) for r in spec.requests]
    rec = Recorder(spec.sample, random.Random(spec.seed))
    runner = {"closed": run_closed, "open": run_open, "storm": run_storm}[spec.mode]
    extra = await runner(spec, raws, rec)
    window = extra["window_s"] or 1e-9
    return {
        "mode": spec.mode, "ok": rec.ok, "errors": rec.errors, "total_ok": rec.total_ok,
        "throughput": rec.ok / window, "status": rec.status,
        "error_kinds": dict(sorted(rec.error_kinds.items(), key=lambda kv: -kv[1])[:5]),
        "latency": rec.hist.to_dict(), "latency_ms": rec.hist.summary_ms(),
        "samples": rec.samples, **extra,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m bench.loadgen SPEC.json OUT.json", file=sys.stderr)
        return 2
    spec = LoadSpec.load(Path(argv[0]))
    try:
        import uvloop

        result = uvloop.run(run(spec))
    except ImportError:  # pragma: no cover - uvloop ships with warden on Linux
        result = asyncio.run(run(spec))
    Path(argv[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
