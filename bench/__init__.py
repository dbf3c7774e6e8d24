"""Benchmarks: commands that print figures (never timed tests)."""

from __future__ import annotations

import os
from pathlib import Path


def print_checks(checks: list[tuple[str, bool]]) -> int:
    """Print each floor as PASS or FAIL; the exit code is 0 only if all pass."""
    print()
    for name, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(ok for _, ok in checks) else 1


def peak_rss_mb() -> float:
    """This process's peak resident set plus each live child's (the worker processes).

    VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over an exec, so a child
    started by the bench (which holds the whole fixture) would report the bench's size.
    """
    def high_water_kb(proc: Path) -> int:
        status = (proc / "status").read_text()
        return next((int(line.split()[1]) for line in status.splitlines()
                     if line.startswith("VmHWM:")), 0)

    total_kb = high_water_kb(Path("/proc/self"))
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == os.getpid():
                total_kb += high_water_kb(stat.parent)
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    return round(total_kb / 1024, 1)


def cpu_seconds(pid: int | str = "self", *, children: bool = False) -> float:
    """CPU time (user + system) a process has used so far, with its live children's if asked
    (from /proc: getrusage counts children only once they have been waited for)."""
    tick = os.sysconf("SC_CLK_TCK")

    def used(stat: str) -> float:
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    me = Path(f"/proc/{pid}/stat").read_text()
    total = used(me)
    if children:
        own = int(me.split()[0])
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
                if int(text.rsplit(")", 1)[1].split()[1]) == own:
                    total += used(text)
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile
    return total

