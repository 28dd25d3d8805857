"""Start a real ``warden server`` process on an ephemeral port and talk to it."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

import httpx
import hvac

BIN = Path(sys.executable).parent
WARDEN = str(BIN / "warden")
STARTUP_TIMEOUT = 30.0


class ServerProcess:
    """One server process. ``dev=True`` gives an unsealed dev server with a known root token."""

    def __init__(
        self,
        workdir: Path,
        *,
        dev: bool = True,
        root_token: str = "root-token",
        config_text: str | None = None,
        config_suffix: str = ".hcl",
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        preexec_fn: Callable[[], None] | None = None,
    ) -> None:
        self.workdir = workdir
        self.preexec_fn = preexec_fn  # run in the child before exec (e.g. to set rlimits)
        self.dev = dev
        self.root_token = root_token
        self.config_text = config_text
        self.config_suffix = config_suffix
        self.extra_args = list(extra_args)
        self.env = dict(env or {})
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.stdout_lines: list[str] = []
        self.stderr_path = workdir / "server.stderr"
        self._lines: queue.Queue[str | None] = queue.Queue()

    def command(self) -> list[str]:
        if self.dev:
            return [WARDEN, "server", "-dev", "-dev-listen-address=127.0.0.1:0",
                    f"-dev-root-token-id={self.root_token}", *self.extra_args]
        config = self.workdir / f"server{self.config_suffix}"
        config.write_text(self.config_text or "")
        return [WARDEN, "server", f"-config={config}", *self.extra_args]

    def start(self) -> ServerProcess:
        env = {**os.environ, **self.env}
        self._lines = queue.Queue()
        self.stdout_lines = []
        self.proc = subprocess.Popen(
            self.command(), stdout=subprocess.PIPE, stderr=open(self.stderr_path, "a"),
            text=True, env=env, cwd=self.workdir, preexec_fn=self.preexec_fn,
        )
        assert self.proc.stdout is not None
        # Bound to this process's pipe and queue: the pump of a previous run of this server
        # may still be draining, and its end-of-output must not end this run's start-up.
        threading.Thread(target=_pump, args=(self.proc.stdout, self._lines), daemon=True).start()
        self._await_banner()
        self._await_health()
        return self

    def _await_banner(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError("server exited during start-up:\n" + self.stderr())
            self.stdout_lines.append(line)
            if m := re.search(r"Api Address: (\S+)", line):
                self.url = m.group(1)
            if m := re.search(r"Root Token: (\S+)", line):
                self.root_token = m.group(1)
            if "server started" in line:
                return
        raise RuntimeError("server did not start in time:\n" + self.stderr())

    def _await_health(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/v1/sys/health", timeout=2, verify=False)
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("server never answered /v1/sys/health:\n" + self.stderr())

    def stderr(self) -> str:
        return self.stderr_path.read_text() if self.stderr_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def client(self, token: str | None = None, **kwargs: object) -> hvac.Client:
        return hvac.Client(url=self.url, token=self.root_token if token is None else token,
                           **kwargs)  # type: ignore[arg-type]

    def http(self, token: str | None = None) -> httpx.Client:
        headers = {"X-Vault-Token": self.root_token if token is None else token}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, verify=False)

    def cli(
        self,
        *args: str,
        token: str | None = None,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """Run the installed ``warden`` CLI against this server."""
        full_env = {
            **os.environ,
            "WARDEN_ADDR": self.url,
            "WARDEN_TOKEN": self.root_token if token is None else token,
            "HOME": str(self.workdir),
            **(env or {}),
        }
        full_env.pop("VAULT_ADDR", None)
        full_env.pop("VAULT_TOKEN", None)
        return subprocess.run(
            [WARDEN, *args], input=input, capture_output=True, text=True, env=full_env,
            cwd=cwd or self.workdir, timeout=timeout, check=False,
        )


def _pump(stdout: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stdout:
        lines.put(line.rstrip("\n"))
    lines.put(None)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """A finished command's standard output; the test fails with all its output if it failed."""
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout
