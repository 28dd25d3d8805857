"""Running the command configured for a block after its files changed.

A list is executed directly; a string goes through ``sh -c``, as consul-template does.
The command gets ``command_timeout`` (default 30s) before its process group is killed.
Its exit status is logged; its output is logged (shortened) only when it fails.
``CommandRunner`` lets a started command finish even when the agent is stopping or
reloading: a service restart is never cut off half-way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass, field

from warden.agent.config_sections import CommandSpec
from warden.agent.logs import AgentLog
from warden.agent.metrics import AgentMetrics

OUTPUT_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class CommandResult:
    ok: bool
    exit_code: int | None = None
    timed_out: bool = False
    output: str = ""


async def run_command(spec: CommandSpec, target: str, log: AgentLog,
                      metrics: AgentMetrics | None = None) -> CommandResult:
    result = await _execute(spec)
    outcome = "ok" if result.ok else ("timeout" if result.timed_out else "failed")
    if metrics is not None:
        metrics.commands.labels(target=target, result=outcome).inc()
    if result.ok:
        log.info("command finished", target=target, command=spec.display, exit_code=result.exit_code)
    elif result.timed_out:
        log.error("command timed out and was killed", target=target, command=spec.display,
                  timeout=spec.timeout)
    else:
        log.error("command failed", target=target, command=spec.display,
                  exit_code=result.exit_code, output=result.output[-OUTPUT_LIMIT:])
    return result


async def _execute(spec: CommandSpec) -> CommandResult:
    try:
        proc = await asyncio.create_subprocess_exec(
            *spec.argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    except OSError as exc:
        return CommandResult(False, output=f"cannot start {spec.argv[0]!r}: {exc.strerror or exc}")
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), spec.timeout)
    except TimeoutError:
        _kill_group(proc.pid)
        await proc.wait()
        return CommandResult(False, proc.returncode, timed_out=True)
    except asyncio.CancelledError:
        _kill_group(proc.pid)
        raise
    text = output.decode("utf-8", "replace").strip()
    return CommandResult(proc.returncode == 0, proc.returncode, output=text)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


@dataclass(slots=True)
class CommandRunner:
    log: AgentLog
    metrics: AgentMetrics | None = None
    _running: set[asyncio.Task[CommandResult]] = field(default_factory=set)

    async def run(self, spec: CommandSpec, target: str) -> CommandResult:
        task = asyncio.ensure_future(run_command(spec, target, self.log, self.metrics))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return await asyncio.shield(task)

    async def drain(self) -> None:
        """Wait for commands still running (each is bounded by its own timeout)."""
        if self._running:
            self.log.info("waiting for running commands to finish", count=len(self._running))
            await asyncio.gather(*self._running, return_exceptions=True)
