"""CPU time and memory of another process, read from /proc (Linux)."""

from __future__ import annotations

import os
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class CpuTimes:
    """utime + stime of all threads of a process, plus its reaped children, in seconds."""

    user: float
    system: float

    @property
    def total(self) -> float:
        return self.user + self.system

    def __sub__(self, other: CpuTimes) -> CpuTimes:
        return CpuTimes(self.user - other.user, self.system - other.system)


def parse_stat(text: str) -> CpuTimes:
    """Parse /proc/<pid>/stat; fields after the ``(comm)`` are counted from its closing paren."""
    fields = text[text.rindex(")") + 2:].split()
    # After comm: state(3) ... utime(14) stime(15) cutime(16) cstime(17) in proc(5)'s numbering.
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return CpuTimes((utime + cutime) / CLOCK_TICKS, (stime + cstime) / CLOCK_TICKS)


def _own_cpu_times(pid: int) -> CpuTimes:
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        return parse_stat(fh.read())


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (warden's workers and its storage writer process)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as fh:
                text = fh.read()
        except OSError:
            continue
        ppid = int(text[text.rindex(")") + 2:].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    found, stack = [], [pid]
    while stack:
        for child in parents.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def cpu_times(pid: int) -> CpuTimes:
    """A server's CPU: the process, its reaped children and every live descendant."""
    total = _own_cpu_times(pid)
    for child in descendants(pid):
        try:
            times = _own_cpu_times(child)
        except OSError:
            continue  # it exited meanwhile: the parent's cutime/cstime now holds it
        total = CpuTimes(total.user + times.user, total.system + times.system)
    return total


def parse_status_kib(text: str, field: str) -> int:
    """A ``Vm*`` line of /proc/<pid>/status in KiB (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def memory_kib(pid: int, field: str = "VmHWM") -> int:
    """Peak (VmHWM) or current (VmRSS) resident memory of a process and its descendants,
    summed (pages they share are counted in each)."""
    total = 0
    for each in (pid, *descendants(pid)):
        try:
            with open(f"/proc/{each}/status", encoding="ascii") as fh:
                total += parse_status_kib(fh.read(), field)
        except OSError:
            continue
    return total


def parse_machine_stat(text: str) -> tuple[float, float]:
    """(busy, total) CPU seconds of all cores since boot, from the first line of /proc/stat."""
    ticks = [int(f) for f in text.split("\n", 1)[0].split()[1:9]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks) - idle) / CLOCK_TICKS, sum(ticks) / CLOCK_TICKS


def machine_busy_s() -> float:
    """CPU seconds all processes of the machine have used since boot."""
    with open("/proc/stat", encoding="ascii") as fh:
        return parse_machine_stat(fh.read())[0]
