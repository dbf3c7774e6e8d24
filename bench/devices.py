"""Benchmark: device and software sync of an MSP's customers through the simulator into Azurite.

    .venv/bin/python -m bench.devices [--tenants 200] [--devices 500] [--apps 300]
                                      [--latency 0.03] [--concurrency 8]
                                      [--tenants-in-flight 16] [--processes 2]

Builds a partner with ``--tenants`` customer tenants of ``--devices`` managed devices,
``--apps`` detected apps and 20 managed apps each; turns on a simulated Graph latency and the
documented Intune throttling budgets; discovers the customers; syncs them all twice (the
second time unchanged) in one child process, as a long-lived host would: ``--concurrency``
Graph requests in flight at most (the lower bound's concurrency), ``--tenants-in-flight``
tenants at once, shared out between ``--processes`` worker processes started before the
clock. Prints wall time, the lower bound for the work, their ratio, Graph requests, 429s,
table transactions, table rows written, peak memory (the process's and its workers'
high-water marks added up) and the CPU time tenantsync, the simulator and Azurite used,
then checks the issue's floors.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench import cpu_seconds, peak_rss_mb, print_checks

ROOT = Path(__file__).resolve().parent.parent
DEVICE_PAGE, DETECTED_PAGE, MOBILE_PAGE = 1000, 50, 100
MOBILE_APPS = 20
ROLES = ["Organization.Read.All", "DeviceManagementManagedDevices.Read.All",
         "DeviceManagementApps.Read.All"]


def build_fixture(tenants: int, devices: int, apps: int, seed: int = 11) -> tuple[dict[str, Any],
                                                                                 dict[str, Any]]:
    rng = random.Random(seed)

    def new() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    partner, partner_app, inventory_app, operator = new(), new(), new(), new()
    secret = uuid.UUID(int=rng.getrandbits(128)).hex
    fx: dict[str, Any] = {
        "applications": {
            partner_app: {"home_tenant": partner, "display_name": "partner app",
                          "secrets": [{"id": new(), "value": "p-" + secret,
                                       "expires": "2099-01-01T00:00:00Z"}]},
            inventory_app: {"home_tenant": partner, "display_name": "inventory app",
                            "multitenant": True,
                            "secrets": [{"id": new(), "value": "i-" + secret,
                                         "expires": "2099-01-01T00:00:00Z"}]},
            operator: {"home_tenant": partner, "display_name": "operator",
                       "secrets": [{"id": new(), "value": "o-" + secret,
                                    "expires": "2099-01-01T00:00:00Z"}]},
        },
        "tenants": {partner: {
            "display_name": "MSP", "users": {}, "groups": {}, "devices": {}, "contacts": {},
            "service_principals": {
                partner_app: {"roles": ["DelegatedAdminRelationship.Read.All"]},
                inventory_app: {"roles": ROLES}, operator: {"roles": []}},
            "gdap": {"customers": [], "relationships": []},
        }},
        "key_vault": {"principals": [operator], "secrets": {}},
        "throttling": {"enabled": True, "window_seconds": 20,
                       "intune_devices_per_window": 2000, "intune_apps_per_window": 1000},
    }
    customers = []
    for t in range(tenants):
        tid = new()
        customers.append(tid)
        managed = {}
        for d in range(devices):
            did = new()
            managed[did] = {
                "id": did, "deviceName": f"T{t:03d}-PC{d:04d}", "serialNumber": f"SN{t:03d}{d:05d}",
                "manufacturer": "Contoso", "model": "Laptop 9", "operatingSystem": "Windows",
                "osVersion": "10.0.22631", "managedDeviceOwnerType": "company",
                "enrolledDateTime": "2026-01-05T10:00:00Z",
                "lastSyncDateTime": "2026-11-20T08:00:00Z",
                "complianceState": "compliant", "managementAgent": "mdm",
                "azureADDeviceId": new(), "userId": new(),
                "userPrincipalName": f"user{d}@t{t}.example",
                "emailAddress": f"user{d}@t{t}.example",
                "userDisplayName": f"User {d}", "wiFiMacAddress": f"{d:012X}",
                "totalStorageSpaceInBytes": 256_000_000_000,
                "freeStorageSpaceInBytes": 100_000_000_000, "isEncrypted": True,
            }
        detected = {}
        for a in range(apps):
            aid = uuid.UUID(int=rng.getrandbits(128)).hex + f"{a:012x}"
            detected[aid] = {"id": aid, "displayName": f"App {a:03d}", "version": "1.0",
                             "publisher": "Fabrikam", "platform": "windows",
                             "deviceCount": a % devices + 1 if devices else 0,
                             "sizeInByte": 1000}
        mobile = {}
        for m in range(MOBILE_APPS):
            mid = new()
            mobile[mid] = {"id": mid, "@odata.type": "#microsoft.graph.win32LobApp",
                           "displayName": f"Mobile {m}", "publisher": "Fabrikam"}
        fx["tenants"][tid] = {
            "display_name": f"Customer {t:03d}", "users": {}, "groups": {}, "devices": {},
            "contacts": {}, "service_principals": {inventory_app: {"roles": ROLES}},
            "intune": {"licensed": True, "managed_devices": managed, "detected_apps": detected,
                       "mobile_apps": mobile},
        }
        gdap = fx["tenants"][partner]["gdap"]
        gdap["relationships"].append({
            "id": f"{new()}-{new()}", "displayName": f"GDAP {t}", "status": "active",
            "customer": {"tenantId": tid, "displayName": f"Customer {t:03d}"},
            "endDateTime": "2027-06-01T00:00:00Z"})
        gdap["customers"].append({"id": tid, "tenantId": tid, "displayName": f"Customer {t:03d}"})
    per_tenant = (1 + max(1, math.ceil(devices / DEVICE_PAGE))
                  + max(1, math.ceil(apps / DETECTED_PAGE))
                  + max(1, math.ceil(MOBILE_APPS / MOBILE_PAGE)))
    facts = {"partner": partner, "partner_app": partner_app, "inventory_app": inventory_app,
             "secret": secret, "customers": customers, "graph_per_tenant": per_tenant}
    return fx, facts


def run_child(tenants: list[str], peers: dict[str, int]) -> None:
    """Child process: sync every tenant twice, as one long-lived function worker would
    (MSAL's token cache and the secret cache are warm for the second run); prints each
    run's figures as a JSON line, with the CPU time this process (and its worker
    processes), the simulator and Azurite used meanwhile."""
    from functions.services import get_services

    services = get_services()
    services.runner.start_workers()  # as a function host's are: before the first sync, not in it
    for _ in range(2):
        before = {name: cpu_seconds(pid) for name, pid in peers.items()}
        before["tenantsync"] = cpu_seconds(children=True)
        figures = sync_all(services, tenants)
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
        "longest_chain": max(r.graph_requests for r in runs),
        "throttled": sum(r.throttled for r in runs),
        "transactions": sum(r.transactions for r in runs),
        "entities_written": sum(r.entities_written for r in runs),
        "devices": sum(r.devices.created + r.devices.unchanged + r.devices.updated for r in runs),
        "peak_rss_mb": peak_rss_mb(),
        "errors": sorted({r.error_code for r in runs if r.error_code})[:5],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--apps", type=int, default=300)
    parser.add_argument("--latency", type=float, default=0.03)
    parser.add_argument("--concurrency", type=int, default=8,
                        help="Graph requests in flight at once (TENANTSYNC_GRAPH_CONCURRENCY)")
    parser.add_argument("--tenants-in-flight", type=int, default=16,
                        help="tenants syncing at once (TENANTSYNC_DEVICE_CONCURRENCY)")
    parser.add_argument("--processes", type=int, default=2,
                        help="worker processes sharing both (TENANTSYNC_WORKER_PROCESSES)")
    parser.add_argument("--child", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--peers", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(json.loads(Path(args.child).read_text()), json.loads(args.peers))
        return 0

    sys.path.insert(0, str(ROOT))
    import requests

    from devstack import LocalStack
    from functions.core.config import Settings
    from functions.core.sensitive import SecretValue
    from functions.services import Services

    print(f"building an MSP of {args.tenants} customers x {args.devices} devices, "
          f"{args.apps} detected apps, {MOBILE_APPS} managed apps ...", flush=True)
    fixture, facts = build_fixture(args.tenants, args.devices, args.apps)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "msp.json"
        path.write_text(json.dumps(fixture))
        del fixture
        with LocalStack(path) as stack:
            concurrency = {"TENANTSYNC_GRAPH_CONCURRENCY": str(args.concurrency),
                           "TENANTSYNC_DEVICE_CONCURRENCY": str(args.tenants_in_flight),
                           "TENANTSYNC_WORKER_PROCESSES": str(args.processes)}
            services = Services(Settings.from_env({**stack.env, **concurrency}))
            services.partners.add(
                facts["partner"], facts["partner_app"], SecretValue("p-" + facts["secret"]),
                facts["inventory_app"], SecretValue("i-" + facts["secret"]), source="gdap")
            discovery = services.partners.discover(facts["partner"])
            assert len(discovery.new) == args.tenants, discovery
            tenants_file = Path(tmp) / "tenants.json"
            tenants_file.write_text(json.dumps(discovery.new))
            requests.put(f"{stack.simulator.base_url}/_sim/latency",
                         json={"seconds": args.latency}, verify=stack.simulator.ca_path,
                         timeout=10).raise_for_status()
            child = subprocess.run(
                [sys.executable, "-m", "bench.devices", "--child", str(tenants_file),
                 "--peers", json.dumps({"simulator": stack.simulator.pid,
                                        "azurite": stack.azurite.pid})],
                env={**stack.environ(), **concurrency},
                cwd=ROOT, capture_output=True, text=True, check=False,
            )
            if child.returncode != 0:
                print(child.stderr[-3000:], file=sys.stderr)
                return 1
            lines = child.stdout.strip().splitlines()[-2:]
            results = [(label, json.loads(line)) for label, line in
                       zip(("first sync", "unchanged re-sync"), lines, strict=True)]
    return report(args, facts, results)


def report(args: argparse.Namespace, facts: dict[str, Any],
           results: list[tuple[str, dict[str, Any]]]) -> int:
    print(f"\nlatency {args.latency * 1000:.0f} ms a request, {args.concurrency} Graph requests "
          f"in flight ({args.tenants_in_flight} tenants), "
          f"throttling budgets on (2,000 / 1,000 requests per 20 s per app and tenant)")
    print(f"{'run':<18} {'wall s':>7} {'bound s':>8} {'ratio':>6} {'requests':>9} {'429s':>5} "
          f"{'transactions':>12} {'written':>8} {'peak MB':>8}  statuses")
    checks = []
    for label, r in results:
        bound = max(r["graph_requests"] * args.latency / args.concurrency,
                    r["longest_chain"] * args.latency)
        ratio = r["wall_s"] / bound if bound else float("inf")
        r["ratio"] = ratio
        print(f"{label:<18} {r['wall_s']:>7} {bound:>8.2f} {ratio:>6.2f} {r['graph_requests']:>9} "
              f"{r['throttled']:>5} {r['transactions']:>12} {r['entities_written']:>8} "
              f"{r['peak_rss_mb']:>8}  {r['statuses']} {r['errors'] or ''}")
    cores = os.cpu_count() or 1
    print(f"\nCPU seconds used during each run ({cores} cores, so at most {cores} a second):")
    for label, r in results:
        cpu = r["cpu_s"]
        busy = sum(cpu.values()) / (r["wall_s"] * cores) if r["wall_s"] else 0.0
        print(f"{label:<18} tenantsync {cpu['tenantsync']:>5}, simulator {cpu['simulator']:>5}, "
              f"Azurite {cpu['azurite']:>5}: the cores were {busy:.0%} busy")
    first, second = results[0][1], results[1][1]
    expected = args.tenants * facts["graph_per_tenant"]
    checks = [
        ("every tenant succeeded, both runs",
         first["statuses"] == second["statuses"] == {"succeeded": args.tenants}),
        ("all devices synced", first["devices"] == args.tenants * args.devices),
        (f"Graph requests = {expected} (no wasted pages)",
         first["graph_requests"] - first["throttled"] <= expected),
        ("unchanged run writes 0 entities", second["entities_written"] == 0),
        ("peak memory < 500 MB", max(first["peak_rss_mb"], second["peak_rss_mb"]) < 500),
        ("unchanged run wall <= 1.5x lower bound", second["ratio"] <= 1.5),
        ("first run wall <= 1.5x lower bound", first["ratio"] <= 1.5),
    ]
    return print_checks(checks)


if __name__ == "__main__":
    sys.exit(main())
