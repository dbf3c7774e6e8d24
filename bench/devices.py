"""Benchmark: device and software sync through the simulator into Azurite.

    .venv/bin/python -m bench.devices [--scenario msp|large|both]
        [--tenants 200] [--devices 500] [--apps 300] [--per-device 60] [--latency 0.03]
        [--concurrency 8] [--tenants-in-flight 16] [--processes 2]
        [--large-devices 20000] [--large-apps 3000] [--large-budget 60]

``msp``: a partner with ``--tenants`` customers of ``--devices`` managed devices and
``--apps`` detected apps, each device with ``--per-device`` of them, 20 managed apps; a
simulated Graph latency and the documented Intune budgets; every customer synced twice
(the second time unchanged) in one child process, as a long-lived host would:
``--concurrency`` Graph requests in flight at most, ``--tenants-in-flight`` tenants at once
over ``--processes`` worker processes. Prints wall time, the lower bound (HTTP requests x
latency / concurrency, the longest tenant's chain of dependent requests x latency, the time
the Intune budget forces, whichever is largest), the ratio, Graph requests per tenant beside
the minimum, 429s, entities written and peak memory.

``large``: one tenant of ``--large-devices`` devices and ``--large-apps`` apps, each run cut
after ``--large-budget`` seconds of reading (TENANTSYNC_RUN_TIME_BUDGET_SECONDS) and resumed
until done. Prints the runs needed, the requests sent beside the minimum, the work each run
redid, and checks that the stored links are exactly the simulator's. Then the floors.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import cpu_seconds, peak_rss_mb, print_checks
from bench.fixtures import Minimum, budget_seconds, build

ROOT = Path(__file__).resolve().parent.parent


def sim_stats(sim: dict[str, str], *, reset: bool = False) -> dict[str, Any]:
    """The simulator's request counts (control API), reset after reading if asked."""
    import requests

    stats: dict[str, Any] = requests.get(f"{sim['url']}/_sim/stats", verify=sim["ca"],
                                         timeout=30).json()
    if reset:
        requests.post(f"{sim['url']}/_sim/stats/reset", verify=sim["ca"],
                      timeout=30).raise_for_status()
    return stats


def run_msp_child(tenants: list[str], peers: dict[str, int], sim: dict[str, str]) -> None:
    """Child process: sync every tenant twice, as one long-lived function worker would
    (MSAL's token cache and the secret cache are warm for the second run); prints each
    run's figures as a JSON line, with the CPU time this process (and its worker
    processes), the simulator and Azurite used meanwhile."""
    from functions.services import get_services

    services = get_services()
    services.runner.start_workers()  # as a function host's are: before the first sync, not in it
    for _ in range(2):
        sim_stats(sim, reset=True)
        before = {name: cpu_seconds(pid) for name, pid in peers.items()}
        before["tenantsync"] = cpu_seconds(children=True)
        figures = sync_all(services, tenants)
        stats = sim_stats(sim)
        figures["subrequests"] = stats["batch"]["subrequests"]
        figures["sim_throttled"] = stats["throttled"] + stats["batch"]["throttled"]
        figures["sim_service_ms"] = stats["graph_service_ms"]
        figures["cpu_s"] = {name: round(cpu_seconds(pid) - before[name], 1)
                            for name, pid in peers.items()}
        figures["cpu_s"]["tenantsync"] = round(
            cpu_seconds(children=True) - before["tenantsync"], 1)
        print(json.dumps(figures), flush=True)
    services.runner.close()


def sync_all(services: Any, tenants: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    runs = services.runner.run_many("devices", tenants, "cli")
    wall = time.perf_counter() - started
    statuses: dict[str, int] = {}
    for r in runs:
        statuses[r.status.value] = statuses.get(r.status.value, 0) + 1
    return {
        "wall_s": round(wall, 2), "statuses": statuses,
        "graph_requests": sum(r.graph_requests for r in runs),
        "longest": max(r.graph_requests for r in runs),
        "throttled": sum(r.throttled for r in runs),
        "transactions": sum(r.transactions for r in runs),
        "entities_written": sum(r.entities_written for r in runs),
        "devices": sum(r.devices.created + r.devices.unchanged + r.devices.updated for r in runs),
        "peak_rss_mb": peak_rss_mb(),
        "errors": sorted({r.error_code for r in runs if r.error_code})[:5],
    }


def start_stack(fixture: dict[str, Any], facts: dict[str, Any], tmp: str, env: dict[str, str]
                ) -> tuple[Any, list[str]]:
    """Azurite and the simulator on the fixture, the partner connected and its customers
    discovered; returns the stack and the customers."""
    from devstack import LocalStack
    from functions.core.config import Settings
    from functions.core.sensitive import SecretValue
    from functions.services import Services

    path = Path(tmp) / "fixture.json"
    path.write_text(json.dumps(fixture))
    stack = LocalStack(path).__enter__()
    services = Services(Settings.from_env({**stack.env, **env}))
    services.partners.add(
        facts["partner"], facts["partner_app"], SecretValue("p-" + facts["secret"]),
        facts["inventory_app"], SecretValue("i-" + facts["secret"]), source="gdap")
    discovery = services.partners.discover(facts["partner"])
    return stack, list(discovery.new)


def set_latency(stack: Any, seconds: float) -> None:
    import requests

    requests.put(f"{stack.simulator.base_url}/_sim/latency", json={"seconds": seconds},
                 verify=stack.simulator.ca_path, timeout=10).raise_for_status()


def msp(args: argparse.Namespace) -> list[tuple[str, bool]]:
    print(f"building an MSP of {args.tenants} customers x {args.devices} devices, "
          f"{args.apps} detected apps ({args.per_device} a device), 20 managed apps ...",
          flush=True)
    fixture, facts = build(args.tenants, args.devices, args.apps, args.per_device)
    env = {"TENANTSYNC_GRAPH_CONCURRENCY": str(args.concurrency),
           "TENANTSYNC_DEVICE_CONCURRENCY": str(args.tenants_in_flight),
           "TENANTSYNC_WORKER_PROCESSES": str(args.processes)}
    with tempfile.TemporaryDirectory() as tmp:
        stack, tenants = start_stack(fixture, facts, tmp, env)
        del fixture
        try:
            assert len(tenants) == args.tenants, tenants
            tenants_file = Path(tmp) / "tenants.json"
            tenants_file.write_text(json.dumps(tenants))
            set_latency(stack, args.latency)
            sim = {"url": stack.simulator.base_url, "ca": stack.simulator.ca_path}
            child = subprocess.run(
                [sys.executable, "-m", "bench.devices", "--child", str(tenants_file),
                 "--peers", json.dumps({"simulator": stack.simulator.pid,
                                        "azurite": stack.azurite.pid}),
                 "--sim", json.dumps(sim)],
                env={**stack.environ(), **env}, cwd=ROOT, capture_output=True, text=True,
                check=False)
        finally:
            stack.__exit__()
    if child.returncode != 0:
        print(child.stderr[-3000:], file=sys.stderr)
        return [("the MSP benchmark ran", False)]
    lines = child.stdout.strip().splitlines()[-2:]
    results = [(label, json.loads(line)) for label, line in
               zip(("first sync", "unchanged re-sync"), lines, strict=True)]
    return report_msp(args, results)


def report_msp(args: argparse.Namespace, results: list[tuple[str, dict[str, Any]]]
               ) -> list[tuple[str, bool]]:
    first_min = Minimum.of(args.devices, args.apps)
    again_min = Minimum.of(args.devices, args.apps, details=False)
    print(f"\nlatency {args.latency * 1000:.0f} ms a request (a $batch counts once), "
          f"{args.concurrency} Graph requests in flight ({args.tenants_in_flight} tenants, "
          f"{args.processes} processes), Intune budgets on (2,000 / 1,000 per 20 s per app "
          "and tenant)")
    print(f"{'run':<18} {'wall s':>7} {'bound s':>8} {'ratio':>6} {'HTTP/tenant':>12} "
          f"{'batched/tenant':>15} {'429s':>5} {'written':>8} {'peak MB':>8}  statuses")
    for (label, r), minimum in zip(results, (first_min, again_min), strict=True):
        bound = max(args.tenants * minimum.http * args.latency / args.concurrency,
                    minimum.chain * args.latency, budget_seconds(minimum.budgeted))
        r["ratio"] = r["wall_s"] / bound
        r["bound"] = bound
        per_tenant = r["graph_requests"] / args.tenants
        batched = r["subrequests"] / args.tenants
        print(f"{label:<18} {r['wall_s']:>7} {bound:>8.2f} {r['ratio']:>6.2f} "
              f"{per_tenant:>6.1f} ({minimum.http:>3}) {batched:>7.1f} ({minimum.subrequests:>4}) "
              f"{r['sim_throttled']:>5} {r['entities_written']:>8} {r['peak_rss_mb']:>8}  "
              f"{r['statuses']} {r['errors'] or ''}")
    cores = os.cpu_count() or 1
    print(f"\nCPU seconds used during each run ({cores} cores, so at most {cores} a second):")
    for label, r in results:
        cpu = r["cpu_s"]
        busy = sum(cpu.values()) / (r["wall_s"] * cores) if r["wall_s"] else 0.0
        per_tenant = cpu["tenantsync"] / args.tenants
        print(f"{label:<18} tenantsync {cpu['tenantsync']:>5} ({per_tenant:.3f} a tenant), "
              f"simulator {cpu['simulator']:>5}, Azurite {cpu['azurite']:>5}: the "
              f"cores were {busy:.0%} busy")
    print(f"\nThe simulator's time per Graph request, from its arrival to its answer (the "
          f"bound counts {args.latency * 1000:.0f} ms; more is the simulator's own work and "
          "waits for a core):")
    for label, r in results:
        print(f"{label:<18} {r['sim_service_ms']:>6.2f} ms on average")
    first, second = results[0][1], results[1][1]
    done = {"succeeded": args.tenants}
    return [
        ("MSP: every tenant succeeded, both runs", first["statuses"] == second["statuses"] == done),
        ("MSP: all devices synced", first["devices"] == args.tenants * args.devices),
        (f"MSP: Graph requests = {first_min.http} a tenant, {first_min.subrequests} batched "
         "(nothing read twice)",
         first["graph_requests"] - first["throttled"] <= args.tenants * first_min.http
         and first["subrequests"] <= args.tenants * first_min.subrequests),
        ("MSP: zero 429s (our pacing)", first["sim_throttled"] == second["sim_throttled"] == 0),
        ("MSP: unchanged re-sync writes 0 entities", second["entities_written"] == 0),
        ("MSP: peak memory < 500 MB",
         max(first["peak_rss_mb"], second["peak_rss_mb"]) < 500),
        ("MSP: first sync wall <= 1.5x lower bound", first["ratio"] <= 1.5),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=["msp", "large", "both"], default="both")
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--apps", type=int, default=300)
    parser.add_argument("--per-device", type=int, default=60)
    parser.add_argument("--latency", type=float, default=0.03)
    parser.add_argument("--concurrency", type=int, default=8,
                        help="Graph requests in flight at once (TENANTSYNC_GRAPH_CONCURRENCY)")
    parser.add_argument("--tenants-in-flight", type=int, default=16,
                        help="tenants syncing at once (TENANTSYNC_DEVICE_CONCURRENCY)")
    parser.add_argument("--processes", type=int, default=2,
                        help="worker processes sharing both (TENANTSYNC_WORKER_PROCESSES)")
    parser.add_argument("--large-devices", type=int, default=20_000)
    parser.add_argument("--large-apps", type=int, default=3_000)
    parser.add_argument("--large-budget", type=float, default=60.0,
                        help="seconds of reading a run (TENANTSYNC_RUN_TIME_BUDGET_SECONDS)")
    parser.add_argument("--child", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--large-child", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--peers", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--sim", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_msp_child(json.loads(Path(args.child).read_text()), json.loads(args.peers),
                      json.loads(args.sim))
        return 0
    from bench.large import large, run_large_child

    if args.large_child:
        run_large_child(Path(args.large_child), json.loads(args.sim))
        return 0
    sys.path.insert(0, str(ROOT))
    checks: list[tuple[str, bool]] = []
    if args.scenario in ("msp", "both"):
        checks += msp(args)
    if args.scenario in ("large", "both"):
        checks += large(args)
    return print_checks(checks)


if __name__ == "__main__":
    sys.exit(main())
