"""Reading CPU time and peak memory of a process from /proc."""

from __future__ import annotations

import os

from bench.procstat import (
    CLOCK_TICKS,
    cpu_times,
    descendants,
    machine_busy_s,
    memory_kib,
    parse_machine_stat,
    parse_stat,
    parse_status_kib,
)


def test_parse_stat_counts_from_the_closing_paren_of_a_name_with_spaces() -> None:
    fields = ["S", "1", "1", "1", "0", "-1", "4194560", "0", "0", "0", "0",
              str(3 * CLOCK_TICKS), str(CLOCK_TICKS), str(CLOCK_TICKS), "0", "20", "0", "4"]
    times = parse_stat(f"1234 (warden server) x) {' '.join(fields)}")
    assert times.user == 4.0  # utime + cutime
    assert times.system == 1.0
    assert times.total == 5.0


def test_status_fields_in_kib() -> None:
    text = "Name:\tpython\nVmHWM:\t  123456 kB\nVmRSS:\t  100000 kB\n"
    assert parse_status_kib(text, "VmHWM") == 123456
    assert parse_status_kib(text, "VmSwap") == 0


def test_own_process_reads() -> None:
    assert cpu_times(os.getpid()).total > 0
    assert memory_kib(os.getpid()) > 0
    assert memory_kib(os.getpid(), "VmRSS") > 0


def test_machine_busy_excludes_idle_and_iowait() -> None:
    t = CLOCK_TICKS
    busy, total = parse_machine_stat(f"cpu  {t} {t} {t} {5 * t} {t} 0 0 0 0 0\ncpu0 1 2 3 4\n")
    assert (busy, total) == (3.0, 9.0)
    assert machine_busy_s() > 0


def test_a_servers_cpu_includes_its_live_children() -> None:
    """warden's workers and storage writer are children of the process the bench started."""
    import subprocess
    import sys
    import time

    child = subprocess.Popen([sys.executable, "-c", "import time\nt=time.process_time()\n"
                              "while time.process_time() - t < 0.5: pass\ntime.sleep(30)"])
    try:
        deadline = time.monotonic() + 20
        while cpu_times(child.pid).total < 0.4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child.pid in descendants(os.getpid())
        from bench.procstat import _own_cpu_times

        assert cpu_times(os.getpid()).total >= _own_cpu_times(os.getpid()).total + 0.4
        assert memory_kib(os.getpid()) > memory_kib(child.pid)
    finally:
        child.kill()
        child.wait()
