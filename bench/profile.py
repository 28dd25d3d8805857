"""Where warden's time goes under load: py-spy on the running server, grouped by layer.

One extra warden run per workload after the measured rounds (so the sampler never slows a
counted run): py-spy records Python stacks (raw, for the breakdown), native stacks (to see
socket writes, thread wake-ups and OpenSSL) and a flame graph SVG, all under bench/results/.
"""

from __future__ import annotations

import collections
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bench.loadspec import LoadSpec

MAIN_THREAD = "MainThread"
_AUDIT = ("warden/audit/", "warden/core/audit.py", "_Audit.", "_audit_response")
_STORAGE = ("warden/storage/", "warden/core/barrier.py", "warden/core/view.py", "InstrumentedPhysical")
# Leaf-first: the innermost frame that matches one of these names the layer.
_LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("crypto (cryptography / OpenSSL)",
     ("cryptography/", "x509util.py", "x509util/", "_rust.abi3.so", "libcrypto")),
    ("HTTP (uvicorn: httptools or h11)", ("h11/", "uvicorn/", "httptools")),
    ("ASGI edge (warden/server: translate, JSON out)", ("warden/server/",)),
    ("PKI engine logic", ("warden/engines/",)),
    ("core pipeline (tokens, ACL, router, metrics)",
     ("warden/core/", "warden/logical/", "warden/framework/", "warden/auth/", "prometheus_client")),
    ("event loop (uvloop/asyncio, epoll)", ("asyncio/", "uvloop", "epoll", "Runner.run")),
)
AUDIT = "audit (records, HMAC, hash chain, file write)"
STORAGE = "storage on the loop (barrier AES-GCM, codecs, thread hand-offs)"
OTHER = "other"
THREADS_NOTE = ("main_thread is the event loop, which bounds throughput; 'threads' counts py-spy samples "
                "of threads it saw running, and it counts a thread blocked in fsync or in a queue wait "
                "as running, so read it as wall time, not CPU")


def parse_collapsed(text: str) -> list[tuple[list[str], int]]:
    """py-spy's raw format: ``frame;frame;... count`` per line, root first."""
    out = []
    for line in text.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            out.append((stack.split(";"), int(count)))
    return out


def thread_group(root: str) -> str:
    """``thread (123): warden-sqlite-reader_0`` -> ``sqlite readers``."""
    name = root.split(":", 1)[-1].strip()
    if name == MAIN_THREAD:
        return MAIN_THREAD
    if "sqlite-writer" in name:
        return "thread: sqlite writer (group commit)"
    if "sqlite-reader" in name:
        return "thread: sqlite readers"
    if "keypool" in name:
        return "thread: key pool"
    return "thread: other"


def classify(frames: Sequence[str]) -> str:
    """The layer one main-thread sample is charged to."""
    joined = ";".join(frames)
    if any(marker in joined for marker in _AUDIT):
        return AUDIT
    if any(marker in joined for marker in _STORAGE):
        return STORAGE
    for frame in reversed(frames[1:]):
        for layer, markers in _LAYERS:
            if any(marker in frame for marker in markers):
                return layer
    return OTHER


def breakdown(stacks: Iterable[tuple[list[str], int]]) -> dict[str, Any]:
    """Percentages of the main thread's samples per layer, and of all samples per thread."""
    layers: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    for frames, count in stacks:
        group = thread_group(frames[0]) if frames[0].startswith("thread") else MAIN_THREAD
        threads[group] += count
        if group == MAIN_THREAD:
            layers[classify(frames)] += count
    main, total = sum(layers.values()), sum(threads.values())
    return {
        "main_thread_samples": main,
        "main_thread": {k: round(100 * v / main, 1) for k, v in layers.most_common()} if main else {},
        "threads": {k: round(100 * v / total, 1) for k, v in threads.most_common()} if total else {},
    }


def top_frames(stacks: Iterable[tuple[list[str], int]], n: int = 25) -> list[tuple[str, float]]:
    """The innermost frames of the main thread that the most samples ended in."""
    leaves: collections.Counter[str] = collections.Counter()
    for frames, count in stacks:
        if MAIN_THREAD in frames[0]:
            leaves[frames[-1]] += count
    total = sum(leaves.values()) or 1
    return [(frame, round(100 * c / total, 1)) for frame, c in leaves.most_common(n)]


class Profiler:
    def __init__(self, out_dir: Path, duration_s: float) -> None:
        self.out_dir = out_dir
        self.duration_s = duration_s
        self.py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")

    def _record(self, pid: int, path: Path, fmt: str, *extra: str) -> None:
        subprocess.run([self.py_spy, "record", "--pid", str(pid), "--duration", str(int(self.duration_s)),
                        "--rate", "200", "--format", fmt, "--threads", "--output", str(path), *extra],
                       check=True, capture_output=True)

    def run(self, warden: Any, spec: LoadSpec, scratch: Path) -> dict[str, Any]:
        """Three sampled passes (Python stacks, native stacks, flame graph) under the same load."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        name = f"{warden.workdir.name}"
        passes = {"raw": ("raw", "--nonblocking"), "native": ("raw", "--native"),
                  "svg": ("flamegraph", "--nonblocking")}
        load_time = spec.warmup_s + 3 * (self.duration_s + 2)
        spec_path = scratch / "profile.spec.json"
        LoadSpec(**{**_fields(spec), "duration_s": load_time}).save(spec_path)
        loadgen = subprocess.Popen([sys.executable, "-m", "bench.loadgen", str(spec_path),
                                    str(scratch / "profile.out.json")],
                                   cwd=Path(__file__).resolve().parent.parent)
        paths: dict[str, str] = {}
        try:
            time.sleep(spec.warmup_s)
            for key, (fmt, flag) in passes.items():
                path = self.out_dir / (f"{name}.flame.svg" if fmt == "flamegraph" else f"{name}.{key}.txt")
                self._record(warden.pid, path, fmt, flag)
                paths[key] = str(path)
        finally:
            loadgen.wait()
        result: dict[str, Any] = {"files": paths, "note": THREADS_NOTE}
        for key in ("raw", "native"):
            stacks = parse_collapsed(Path(paths[key]).read_text())
            result[key] = {**breakdown(stacks), "top_frames": top_frames(stacks)}
        (self.out_dir / f"{name}.breakdown.json").write_text(json.dumps(result, indent=1))
        return result


def _fields(spec: LoadSpec) -> dict[str, Any]:
    return {f: getattr(spec, f) for f in spec.__dataclass_fields__}


def main(argv: list[str]) -> int:
    """``python -m bench.profile STACKS.txt``: the breakdown of saved py-spy raw stacks."""
    if len(argv) != 1:
        print("usage: python -m bench.profile STACKS.txt", file=sys.stderr)
        return 2
    stacks = parse_collapsed(Path(argv[0]).read_text())
    print(json.dumps({**breakdown(stacks), "top_frames": top_frames(stacks)}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
