"""Benchmark: a fleet of tenants on K stand-in Function instances sharing one job queue.

    .venv/bin/python -m bench.fleet [--directory-tenants 200] [--device-tenants 20]
        [--k 1,2] [--latency 0.03] [--fanout-tenants 2000] [--seed 21]
        [--graph-app-budget 1000] [--unpaced]
    full size: --directory-tenants 2000 --device-tenants 200 --k 1,2,4,8 --fanout-tenants 10000

For each K, on a fresh Azurite and simulator: onboards every tenant (directory tenants of
20-2,000 users and device tenants of 50-1,000 devices under two partners; half of each with
a client secret, half federated through the managed identity), sets 30 ms of latency on
every simulated request, starts K worker processes (``bench.fleet_worker``: each its own
services and caches, draining the queues as the Functions host does, at the concurrency
host.json and infra/ set), then runs two cycles: the timers' fan-out
(``Scheduler.schedule``, the code the timer functions call) for directory and devices while
the workers hold, then the workers drain every queued job; the second cycle with nothing
changed. Prints per K and cycle: fan-out and drain time, tenants a second while draining,
scaling against K = 1, Graph / token / Key Vault requests a tenant (the simulator's
counters), storage operations a tenant (tenantsync's own meter), CPU seconds a tenant
(workers, simulator and Azurite apart), CPU use, peak memory an instance, and the
exactly-once accounting from the runs table. Separately, the timer's fan-out over
``--fanout-tenants`` tenant rows. Then the floors, FAIL where one is missed.

Graph's identity and access budget per app across all tenants is on in the simulator at
``--graph-app-budget`` requests per 20 s (Graph's is about 50,000, the infra's pacing 45,000).
By default 1,000: above what the default fleet sends in a window (the busiest about 400 at
K = 2), so that the instances, not the budget, bound the drain and the K = 2 scaling floor
measures them; ``--graph-app-budget 100`` makes the budget bind (the deployment's directory
app, which half the directory tenants share, meets it: the drain is then paced to the
budget at every K, and the floor to check is that no window exceeds it), and the
workers draw on the shared budget record at the same figure (``--unpaced``: they do not, and
learn of the budget from 429s only). Per K and cycle: the busiest app's most requests in one
window, across all instances, against the budget, and the 429s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from functions.core.model import SyncKind

from bench import cpu_seconds, print_checks
from bench.devices import set_latency, sim_stats
from bench.fleet_budget import budget_floors, print_budget
from bench.fleet_fanout import InstanceShape, instance_shape, measure_fanout
from bench.fleet_report import Cycle, check_floors, print_cycles, print_fanout
from bench.fleet_world import Fleet, build, onboard, write_fixture

ROOT = Path(__file__).resolve().parent.parent
CYCLE_TIMEOUT = 1800.0
BUDGET_WINDOW_S = 20.0  # Graph's identity and access window (the simulator's too)


class Workers:
    """K worker processes and the commands the controller sends them."""

    def __init__(self, k: int, env: dict[str, str], shape: InstanceShape) -> None:
        import json

        self._json = json
        self.procs = [subprocess.Popen(
            [sys.executable, "-m", "bench.fleet_worker", str(shape.threads), str(shape.batch),
             str(shape.threshold)],
            env=env, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for _ in range(k)]
        for proc in self.procs:
            self._read(proc)  # {"ready": true}

    def _read(self, proc: subprocess.Popen[str]) -> dict[str, Any]:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {proc.pid} ended (exit code {proc.wait()})")
        answer: dict[str, Any] = self._json.loads(line)
        return answer

    def ask(self, command: str) -> list[dict[str, Any]]:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(command + "\n")
            proc.stdin.flush()
        return [self._read(proc) for proc in self.procs]

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                assert proc.stdin is not None
                proc.stdin.write("stop\n")
                proc.stdin.close()
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()


def wait_until_drained(workers: Workers, queues: Mapping[SyncKind, Any], expected: int,
                       timeout: float) -> bool:
    """Until the queues are empty and no worker has anything in flight, twice with nothing
    done in between (a run that ends may queue its own continuation), and at least
    ``expected`` runs recorded; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        first = workers.ask("status")
        done = sum(s["done"] for s in first)
        if done >= expected and not any(s["in_flight"] for s in first):
            waiting = sum(q.peek_count() for q in queues.values())
            second = workers.ask("status")
            if not waiting and sum(s["done"] for s in second) == done and not any(
                    s["in_flight"] for s in second):
                return True
        time.sleep(0.25)
    return False


def run_k(fleet: Fleet, k: int, args: argparse.Namespace, shape: InstanceShape
          ) -> list[Cycle]:
    from devstack import LocalStack
    from functions.core.config import Settings
    from functions.core.model import SyncKind, Trigger, utcnow
    from functions.services import Services
    from functions.storage.meter import storage_operations

    fleet.fixture["throttling"]["directory_app_requests_per_window"] = args.graph_app_budget
    with tempfile.TemporaryDirectory() as tmp, LocalStack(write_fixture(fleet, Path(tmp))) as stack:
        # The managed identity's endpoint is read from the environment (azure-identity).
        os.environ.update(stack.env)
        services = Services(Settings.from_env(stack.env))
        print(f"K={k}: onboarding {len(fleet.directory)} directory tenants and "
              f"{len(fleet.devices)} device tenants ...", flush=True)
        errors = onboard(services, fleet)
        for error in errors[:5]:
            print(f"  onboarding failed: {error}", file=sys.stderr)
        set_latency(stack, args.latency)
        # Onboarding's connection tests read Graph as the same apps, unpaced (not the sync's
        # work): let them leave Graph's window before the first cycle counts it.
        time.sleep(BUDGET_WINDOW_S)
        sim = {"url": stack.simulator.base_url, "ca": stack.simulator.ca_path}
        peers = {"simulator": stack.simulator.pid or 0, "azurite": stack.azurite.pid or 0}
        environ = stack.environ()
        if not args.unpaced:  # every instance draws on one budget record, as the infra sets
            environ["TENANTSYNC_GRAPH_APP_BUDGET"] = str(args.graph_app_budget)
            environ["TENANTSYNC_GRAPH_APP_WINDOW_SECONDS"] = str(BUDGET_WINDOW_S)
        workers = Workers(k, environ, shape)
        cycles: list[Cycle] = []
        try:
            for number in (1, 2):
                sim_stats(sim, reset=True)
                before = workers.ask("report")
                peer_cpu = {name: cpu_seconds(pid, children=True) for name, pid in peers.items()}
                timer_cpu, timer_ops = cpu_seconds(), storage_operations()
                since = utcnow()  # the runs of this cycle are queued from now on
                # The instances wait while the timer fans out: the drain is timed on its own
                # (in Azure the two overlap; the fan-out has its own floor).
                workers.ask("hold")
                started = time.perf_counter()
                enqueued = sum(services.scheduler.schedule(kind, Trigger.TIMER)[0]
                               for kind in (SyncKind.DIRECTORY, SyncKind.DEVICES))
                fanout_s = time.perf_counter() - started
                timer = {"cpu_s": cpu_seconds() - timer_cpu,
                         "ops": storage_operations() - timer_ops}
                workers.ask("go")
                drained = wait_until_drained(workers, services.queues, enqueued, CYCLE_TIMEOUT)
                wall = time.perf_counter() - started - fanout_s
                after = workers.ask("report")
                cycle = Cycle(k=k, number=number, wall_s=wall, fanout_s=fanout_s,
                              enqueued=enqueued, drained=drained, sim=sim_stats(sim),
                              before=before, after=after, timer=timer,
                              peers={name: cpu_seconds(pid, children=True) - peer_cpu[name]
                                     for name, pid in peers.items()})
                cycle.account(services.runs, fleet, since)  # a tenant not onboarded: missed
                cycles.append(cycle)
                print(f"  cycle {number}: fan-out {fanout_s:.1f} s, then {enqueued} jobs in "
                      f"{wall:.1f} s, drained={drained}", flush=True)
        finally:
            workers.close()
    return cycles


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directory-tenants", type=int, default=200)
    parser.add_argument("--device-tenants", type=int, default=20)
    parser.add_argument("--k", default="1,2",
                        help="instance counts, comma-separated (empty: the fan-out alone)")
    parser.add_argument("--latency", type=float, default=0.03)
    parser.add_argument("--fanout-tenants", type=int, default=2000,
                        help="tenant rows for the separate fan-out measurement (0: none)")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--graph-app-budget", type=int, default=1000,
                        help="directory requests per 20 s per app across all tenants and "
                             "instances, in the simulator and the workers' shared budget")
    parser.add_argument("--unpaced", action="store_true",
                        help="the workers do not draw on the shared budget record")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    ks = [int(k) for k in args.k.split(",") if k]  # --k "": the fan-out measurement alone
    shape = instance_shape()
    print(f"building {args.directory_tenants} directory tenants and {args.device_tenants} "
          "device tenants ...", flush=True)
    fleet = build(args.directory_tenants, args.device_tenants, args.seed)
    cycles = [c for k in ks for c in run_k(fleet, k, args, shape)]
    fanout = measure_fanout(args.fanout_tenants) if args.fanout_tenants else None
    if cycles:
        print_cycles(cycles, fleet, shape, os.cpu_count() or 1)
        print_budget(cycles, args.graph_app_budget, not args.unpaced, os.cpu_count() or 1)
    if fanout:
        print_fanout(fanout)
    return print_checks(check_floors(cycles, fleet, shape, fanout)
                        + budget_floors(cycles, args.graph_app_budget))


if __name__ == "__main__":
    sys.exit(main())
