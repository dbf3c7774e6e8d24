"""The large tenant of the device benchmark: one tenant too large for one run, read in runs
cut at a time limit and resumed until done (see bench/devices.py)."""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench import cpu_seconds, peak_rss_mb
from bench.fixtures import Minimum, budget_seconds, build, links_of
from functions.core.model import Run, SyncKind

ROOT = Path(__file__).resolve().parent.parent
_KINDS = ("graph.managedDevices", "graph.detectedApps", "graph.detectedAppDevices",
          "graph.managedDevice")


def links_digest(pairs: Iterable[tuple[str, tuple[str, ...]]]) -> str:
    """A digest of (device, its apps) pairs, whatever their order."""
    digest = hashlib.sha256()
    for device, apps in sorted(pairs):
        digest.update(f"{device}:{','.join(sorted(apps))};".encode())
    return digest.hexdigest()


def _kinds(stats: dict[str, Any]) -> dict[str, int]:
    found = dict.fromkeys(_KINDS, 0)
    for counts in (stats["by_path_kind"], stats["batch"]["by_path_kind"]):
        for key, count in counts.items():
            kind = key.split(" ", 1)[-1]
            if kind in found:
                found[kind] += count
    return found


def run_large_child(facts_file: Path, sim: dict[str, str]) -> None:
    """Child process: run the tenant's sync until a run ends the read; print each run's
    figures, then what is stored (a digest of its links) and the peak memory."""
    from bench.devices import sim_stats
    from functions.devices.staging import CheckpointStore
    from functions.services import get_services

    tenant = json.loads(facts_file.read_text())["tenant"]
    services = get_services()
    checkpoints = CheckpointStore(services.tables)
    sim_stats(sim, reset=True)
    # One command-line sync: it goes on run after run until the read is done (the starter's
    # resume); each run's figures are taken as it ends.
    at: dict[str, Any] = {"before": _kinds(sim_stats(sim)), "started": time.perf_counter(),
          "read": {"apps": 0, "details": 0}, "cpu": cpu_seconds(children=True)}

    def ended(run: Run) -> None:
        wall = time.perf_counter() - at["started"]
        stats = sim_stats(sim)
        sent = {k: v - at["before"][k] for k, v in _kinds(stats).items()}
        checkpoint, _ = checkpoints.load(tenant)
        now = ({"apps": checkpoint.apps_read, "details": checkpoint.details_read}
               if checkpoint else None)
        print(json.dumps({
            "status": run.status.value, "code": run.error_code, "wall_s": round(wall, 1),
            "http": run.graph_requests, "sent": sent, "read_before": dict(at["read"]),
            "read_after": now, "throttled": stats["throttled"] + stats["batch"]["throttled"],
            "written": run.entities_written, "progress": run.error[:200],
            "cpu_s": round(cpu_seconds(children=True) - at["cpu"], 2)}), flush=True)
        at.update(before=_kinds(stats), started=time.perf_counter(), read=now or at["read"],
                  cpu=cpu_seconds(children=True))

    services.runner.run_one(SyncKind.DEVICES, tenant, "cli", on_run=ended)
    pairs = [(s.id, s.apps) for s in services.inventory.software(tenant)]
    print(json.dumps({"digest": links_digest(pairs), "links": sum(len(a) for _, a in pairs),
                      "peak_rss_mb": peak_rss_mb()}), flush=True)


def large(args: argparse.Namespace) -> list[tuple[str, bool]]:
    devices, apps = args.large_devices, args.large_apps
    print(f"\nbuilding a tenant of {devices:,} devices and {apps:,} detected apps "
          f"({args.per_device} a device) ...", flush=True)
    fixture, facts = build(1, devices, apps, args.per_device, seed=12)
    tenant = facts["customers"][0]
    expected = links_digest(links_of(fixture, tenant).items())
    env = {"TENANTSYNC_RUN_TIME_BUDGET_SECONDS": str(args.large_budget),
           "TENANTSYNC_GRAPH_CONCURRENCY": str(args.concurrency),
           "TENANTSYNC_WORKER_PROCESSES": "1"}
    from bench.devices import set_latency, start_stack

    with tempfile.TemporaryDirectory() as tmp:
        stack, _ = start_stack(fixture, facts, tmp, env)
        del fixture
        try:
            facts_file = Path(tmp) / "large.json"
            facts_file.write_text(json.dumps({"tenant": tenant}))
            set_latency(stack, args.latency)
            sim = {"url": stack.simulator.base_url, "ca": stack.simulator.ca_path}
            started = time.perf_counter()
            child = subprocess.run(
                [sys.executable, "-m", "bench.devices", "--large-child", str(facts_file),
                 "--sim", json.dumps(sim)],
                env={**stack.environ(), **env}, cwd=ROOT, capture_output=True, text=True,
                check=False)
            wall = time.perf_counter() - started
        finally:
            stack.__exit__()
    if child.returncode != 0:
        print(child.stderr[-3000:], file=sys.stderr)
        return [("the large tenant benchmark ran", False)]
    *runs, final = [json.loads(line) for line in child.stdout.strip().splitlines()]
    return report_large(args, runs, final, expected, facts["links"], wall)


def report_large(args: argparse.Namespace, runs: list[dict[str, Any]], final: dict[str, Any],
                 expected: str, links: int, wall: float) -> list[tuple[str, bool]]:
    minimum = Minimum.of(args.large_devices, args.large_apps)
    print(f"\none tenant, {args.large_devices:,} devices x {args.large_apps:,} apps "
          f"({links:,} links), {args.latency * 1000:.0f} ms latency, Intune budgets on; "
          f"each run reads for {args.large_budget:.0f} s at most")
    print(f"{'run':>4} {'status':<9} {'wall s':>7} {'HTTP':>6} {'app reads':>10} "
          f"{'detail reads':>13} {'redone':>7} {'429s':>5}  progress")
    redone_total = 0
    sent_total = dict.fromkeys(_KINDS, 0)
    for n, run in enumerate(runs, start=1):
        sent = run["sent"]
        for kind in _KINDS:
            sent_total[kind] += sent[kind]
        before, after = run["read_before"], run["read_after"] or {
            "apps": args.large_apps, "details": args.large_devices}
        redone = (sent["graph.detectedAppDevices"] - (after["apps"] - before["apps"])
                  + sent["graph.managedDevice"] - (after["details"] - before["details"]))
        redone_total += redone
        print(f"{n:>4} {run['status']:<9} {run['wall_s']:>7} {run['http']:>6} "
              f"{sent['graph.detectedAppDevices']:>10} {sent['graph.managedDevice']:>13} "
              f"{redone:>7} {run['throttled']:>5}  {run['progress'][:90]}")
    pages = sent_total["graph.managedDevices"] + sent_total["graph.detectedApps"]
    min_pages = minimum.pages - 2  # but organization (every run reads it) and mobileApps
    subrequests = sent_total["graph.detectedAppDevices"] + sent_total["graph.managedDevice"]
    bound = max(minimum.http * args.latency / args.concurrency, minimum.chain * args.latency,
                budget_seconds(minimum.budgeted))
    print(f"\nruns needed {len(runs)}; HTTP requests {sum(r['http'] for r in runs):,} (minimum "
          f"{minimum.http:,}, plus the organization once a run); listing pages {pages} "
          f"(minimum {min_pages}); batched reads {subrequests:,} (minimum "
          f"{minimum.subrequests:,}); redone {redone_total}; wall {wall:.0f} s against "
          f"{bound:.0f} s that Intune's budget forces ({wall / bound:.2f}x); "
          f"links stored {final['links']:,}; peak memory {final['peak_rss_mb']} MB; "
          f"tenantsync CPU {sum(r['cpu_s'] for r in runs):.1f} s (the one tenant, all runs)")
    last = runs[-1]
    return [
        ("large: resumed until done (the last run succeeded, every other one in progress)",
         last["status"] == "succeeded"
         and all(r["code"] == "inventory_in_progress" for r in runs[:-1])),
        ("large: work redone after the cuts is zero", redone_total == 0
         and pages == min_pages and subrequests == minimum.subrequests),
        ("large: zero 429s (our pacing)", all(r["throttled"] == 0 for r in runs)),
        ("large: ends with exactly the simulator's links",
         final["digest"] == expected and final["links"] == links),
        ("large: peak memory < 400 MB", final["peak_rss_mb"] < 400),
    ]
