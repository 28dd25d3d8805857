"""Several worker processes on one set of listeners: fork them, forward signals, wait.

The supervisor binds the listeners, starts what the workers share (the SQLite writer
process, the shared memory of ``core.shared``) and forks the workers before any thread or
event loop exists in it. Every worker accepts on the same listening sockets (the kernel
hands each connection to one of them) and serves with its own core. SIGTERM and SIGINT
are passed on (each worker finishes its requests in flight), SIGHUP too (audit files are
reopened). A worker that dies unexpectedly stops the whole server, with a non-zero exit,
so a service manager restarts it cleanly: nothing half-done is left behind, because every
guarantee lives in the shared store.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger("warden.supervisor")

_PR_SET_PDEATHSIG = 1
STOP_GRACE_S = 30.0  # after that, workers still running are killed


@dataclass(frozen=True, slots=True)
class Worker:
    index: int
    pid: int


def die_with_parent() -> None:
    """In a worker: be killed if the supervisor is (SIGKILL leaves no one to tell us)."""
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def fork_workers(count: int, run: Callable[[int], int]) -> list[Worker]:
    """Fork ``count`` workers; each runs ``run(index)`` and exits with its result."""
    workers = []
    for index in range(count):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which never returns here
            code = 1
            try:
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
                    signal.signal(sig, signal.SIG_DFL)
                die_with_parent()
                code = run(index)
            except BaseException:
                log.exception("worker %d failed", index)
            finally:
                os._exit(code)
        workers.append(Worker(index, pid))
    return workers


def supervise(workers: Sequence[Worker], *, alive: Callable[[], bool] = lambda: True) -> int:
    """Wait for the workers, passing signals on; the server's exit status. ``alive`` says
    whether what they share (the storage writer process) still runs."""
    stopping = False
    status = 0
    pending = {w.pid: w for w in workers}

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        if signum in (signal.SIGTERM, signal.SIGINT):
            stopping = True
            signum = signal.SIGTERM
        for pid in pending:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def stop(why: str) -> None:
        nonlocal status
        log.error("%s; stopping the server", why)
        status = 1
        forward(signal.SIGTERM, None)

    previous = {sig: signal.signal(sig, forward)
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    deadline = 0.0
    try:
        while pending:
            for pid, worker in list(pending.items()):
                done, wait_status = os.waitpid(pid, os.WNOHANG)
                if not done:
                    continue
                del pending[pid]
                code = os.waitstatus_to_exitcode(wait_status)
                if not stopping:
                    stop(f"worker {worker.index} (pid {pid}) exited with status {code}")
                elif code != 0:
                    status = status or 1
            if not stopping and not alive():
                stop("the storage writer process exited")
            if stopping and not deadline:
                deadline = time.monotonic() + STOP_GRACE_S
            if deadline and time.monotonic() > deadline:
                _kill_all(pending)
            if pending:
                time.sleep(0.05)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status


def _kill_all(pending: dict[int, Worker]) -> None:
    for pid in pending:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
