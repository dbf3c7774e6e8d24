"""Benchmarks: commands that print figures (never timed tests)."""

from __future__ import annotations


def print_checks(checks: list[tuple[str, bool]]) -> int:
    """Print each floor as PASS or FAIL; the exit code is 0 only if all pass."""
    print()
    for name, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(ok for _, ok in checks) else 1
