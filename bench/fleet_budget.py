"""The fleet benchmark's Graph budget figures: Graph's identity and access budget is per app
across all tenants and all instances, so what K instances send together is what counts."""

from __future__ import annotations

from bench.fleet_report import Cycle

THROTTLED_STATUSES = ("partial", "failed")


def peak(cycle: Cycle) -> tuple[str, int]:
    """The app with the most directory requests in one window (the simulator's sliding
    window, over every instance), and that figure."""
    peaks: dict[str, int] = cycle.sim.get("app_window_peak") or {}
    if not peaks:
        return "", 0
    app = max(peaks, key=lambda a: peaks[a])
    return app, peaks[app]


def throttled_runs(cycle: Cycle) -> int:
    """Runs of the cycle that ended partial or failed because Graph kept throttling."""
    return sum(1 for runs in cycle.worker_runs() for r in runs
               if r[3] in THROTTLED_STATUSES and "throttl" in r[4])


def print_budget(cycles: list[Cycle], budget: int, paced: bool, cores: int) -> None:
    how = ("the instances draw on one shared record" if paced
           else "unpaced: each instance learns of it from 429s")
    print(f"\nGraph's directory budget per app across all tenants and instances: {budget} "
          f"requests per 20 s ({how})")
    print(f"{'K':>2} {'cycle':>5} {'busiest app, peak window':>24} {'budget':>6} "
          f"{'directory 429s':>14} {'all 429s':>8} {'runs throttled':>14} {'CPU use':>7}")
    for c in cycles:
        _, most = peak(c)
        directory = int((c.sim.get("budget_throttled") or {}).get("directory", 0))
        every = int(c.sim["throttled"]) + int(c.sim["batch"]["throttled"])
        print(f"{c.k:>2} {c.number:>5} {most:>24} {budget:>6} {directory:>14} {every:>8} "
              f"{throttled_runs(c):>14} {c.cpu_use(cores):>7.0%}")


def budget_floors(cycles: list[Cycle], budget: int) -> list[tuple[str, bool]]:
    checks = []
    for c in cycles:
        _, most = peak(c)
        directory = int((c.sim.get("budget_throttled") or {}).get("directory", 0))
        bad = throttled_runs(c) + sum(c.statuses[s] for s in THROTTLED_STATUSES)
        checks.append((f"K={c.k} cycle {c.number}: Graph's per-app budget held by all "
                       f"instances together (peak window {most} <= {budget}, {directory} "
                       f"429s for it, {bad} runs partial or failed)",
                       most <= budget and directory == 0 and bad == 0))
    return checks
