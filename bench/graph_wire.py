"""Benchmark: tenantsync's own CPU a Graph request, through the real clients, against the
simulator (in its own process, so its CPU is not counted).

    .venv/bin/python -m bench.graph_wire [--rounds 100] [--devices 500]

One customer tenant of ``--devices`` managed devices (the MSP benchmark's shapes, Intune
budgets off so nothing waits), signed in once with MSAL; then, each ``--rounds`` times:

- ``GET single``: one device's details (``$select``), a small answer;
- ``GET page``: the device listing, every device on one page (the MSP run's biggest
  answer, about half a MB at 500 devices);
- ``$batch apps``: ``detectedApps/{id}/managedDevices`` reads, 20 a ``$batch``, 10
  batches a ``GraphBatch.run`` (3 in flight, as the device read sends them), an app's
  device ids each;
- ``$batch details``: device-detail reads, 20 a ``$batch``, 10 batches a call.

Prints the CPU milliseconds (user + system, this process only) a request or a ``$batch``
costs. A figure for comparing code back to back on one machine; the same script runs on an
older checkout from that checkout's directory (it imports ``functions`` from the working
directory).
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

sys.path.insert(0, os.getcwd())  # the checkout being measured, whichever script this is

from bench.fixtures import build

_CALL = 10  # batches a GraphBatch.run call sends (a tenant's details are 25)


def _window(reads: list[Any], n: int) -> list[Any]:
    """The ``n``-th call's requests: 20 x ``_CALL`` of them, from the list taken round."""
    start = n * 20 % len(reads)
    return (reads + reads)[start:start + 20 * _CALL]


def _serve(fixture: dict[str, Any], tmp: str) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    path, ready = Path(tmp) / "fixture.json", Path(tmp) / "ready.json"
    path.write_text(json.dumps(fixture))
    proc = subprocess.Popen([sys.executable, "-m", "simulator", "serve", "--fixture", str(path),
                             "--ready-file", str(ready)], cwd=os.getcwd())
    for _ in range(600):
        if ready.exists():
            return proc, json.loads(ready.read_text())
        time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("the simulator did not start")


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


def measure(args: argparse.Namespace) -> dict[str, float]:
    import msal
    import requests

    from functions.clients.batch import GraphBatch, SubRequest
    from functions.clients.graph import GraphClient
    from functions.clients.identity import TrustingSession

    fixture, facts = build(1, args.devices, 300, 60)
    fixture["throttling"]["enabled"] = False
    tenant = facts["customers"][0]
    intune = fixture["tenants"][tenant]["intune"]
    devices = list(intune["managed_devices"])
    apps = list(intune["detected_apps"])
    with tempfile.TemporaryDirectory() as tmp:
        proc, ready = _serve(fixture, tmp)
        try:
            session = TrustingSession(ready["ca_path"])
            session.mount("https://", requests.adapters.HTTPAdapter(pool_connections=16,
                                                                    pool_maxsize=32))
            app = msal.ConfidentialClientApplication(
                facts["inventory_app"], client_credential="i-" + facts["secret"],
                authority=f"{ready['base_url']}/{tenant}", instance_discovery=False,
                http_client=session)
            token = app.acquire_token_for_client(["https://graph.microsoft.com/.default"])
            bearer = token["access_token"]
            graph = GraphClient(f"{ready['base_url']}/v1.0", lambda: bearer, session)
            batch = GraphBatch(graph, in_flight=3)
            select = "id,deviceName,serialNumber,lastSyncDateTime,complianceState"

            def single(n: int) -> None:
                graph.get(f"/deviceManagement/managedDevices/{devices[n % len(devices)]}",
                          {"$select": select})

            def page(_: int) -> None:
                graph.get("/deviceManagement/managedDevices", {"$top": "1000"})

            # As the device read sends them: every app (every device) in one call.
            app_reads = [SubRequest(a, f"/deviceManagement/detectedApps/{a}/managedDevices"
                                       "?$select=id&$top=1000") for a in apps]
            detail_reads = [SubRequest(d, f"/deviceManagement/managedDevices/{d}"
                                          f"?$select={select}") for d in devices]

            def app_batch(n: int) -> None:
                batch.run(_window(app_reads, n))

            def detail_batch(n: int) -> None:
                batch.run(_window(detail_reads, n))

            figures = {}
            for label, call in (("GET single", single), ("GET page", page),
                                ("$batch apps", app_batch), ("$batch details", detail_batch)):
                for n in range(5):  # warm: connections, imports, caches
                    call(n)
                started = _cpu()
                for n in range(args.rounds):
                    call(n)
                per = _CALL if label.startswith("$batch") else 1
                figures[label] = (_cpu() - started) * 1000 / (args.rounds * per)
            return figures
        finally:
            proc.terminate()
            proc.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--devices", type=int, default=500)
    args = parser.parse_args()
    figures = measure(args)
    print(f"tenantsync CPU a request ({args.rounds} rounds, {args.devices} devices):")
    for label, ms in figures.items():
        print(f"  {label:<16} {ms:7.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
