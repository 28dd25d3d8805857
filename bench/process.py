"""Starting and stopping a server process that belongs to the harness."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from bench.keys import KeyType


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (for servers that cannot report one they chose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} during start-up")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listened on {host}:{port} after {timeout:.0f}s")


class ManagedProcess:
    """A child process with its output in a log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, argv: Sequence[str], workdir: Path, log_name: str, *, cwd: Path | None = None) -> None:
        self.argv = list(argv)
        self.workdir = workdir
        self.cwd = cwd or workdir
        self.log_path = workdir / log_name
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, *, stdout: int | None = None) -> subprocess.Popen[bytes]:
        self._log = open(self.log_path, "ab")  # closed in stop()
        self.proc = subprocess.Popen(self.argv, cwd=self.cwd, stdout=stdout or self._log,
                                     stderr=self._log, stdin=subprocess.DEVNULL)
        return self.proc

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class SpawnedServer:
    """What the servers the harness launches itself beside warden (cfssl, the floor) share: a
    work directory, the key type they sign with, a loopback port, their CA, their process."""

    name = ""

    def __init__(self, workdir: Path, key: KeyType) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.key = key
        self.host = "127.0.0.1"
        self.port = 0
        self.ca_pem = ""
        self.process: ManagedProcess | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
