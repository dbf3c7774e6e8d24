"""The README's first command: a directory sync end to end, offline.

Starts Azurite and the Microsoft simulator with the seed's example tenant, onboards it
through the real ``tenantsync`` command line, syncs, shows what was imported, removes a
member in the simulator, syncs again and shows who is now "Azure ID: deleted". Stops what it
started, whatever happens.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack import LocalStack  # noqa: E402

FIXTURE = ROOT / "samples" / "demo.json"  # samples/tinymdm.json plus a partner (MSP)
TENANTSYNC = [str(ROOT / ".venv" / "bin" / "tenantsync")]


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def main() -> int:
    fixture = json.loads(FIXTURE.read_text())
    tenant_id = next(t for t, v in fixture["tenants"].items() if v["display_name"] == "Contoso")
    tenant = fixture["tenants"][tenant_id]
    partner_id = next(t for t, v in fixture["tenants"].items() if "gdap" in v)
    partner_app = next(a for a, v in fixture["applications"].items()
                       if v["display_name"] == "Fabrikam partner app")
    inventory_app = next(a for a, v in fixture["applications"].items() if v.get("multitenant"))
    level0 = next(g for g, v in tenant["groups"].items() if v["displayName"] == "TinyMDM")
    app_id = next(a for a, v in fixture["applications"].items() if v["display_name"] == "TinyMDM")
    secret = fixture["applications"][app_id]["secrets"][0]["value"]
    leaver = next(u for u, v in tenant["users"].items() if v["displayName"] == "John Doe")

    step("starting Azurite and the Microsoft simulator")
    with LocalStack(FIXTURE) as stack:
        env = {
            **stack.environ(), "DEMO_CLIENT_SECRET": secret,
            "DEMO_PARTNER_SECRET": fixture["applications"][partner_app]["secrets"][0]["value"],
            "DEMO_INVENTORY_SECRET": fixture["applications"][inventory_app]["secrets"][0]["value"],
        }

        def tenantsync(*args: str, expect: int = 0) -> None:
            print(f"$ tenantsync {' '.join(args)}", flush=True)
            result = subprocess.run([*TENANTSYNC, *args], env=env, check=False)
            if result.returncode != expect:
                raise SystemExit(f"tenantsync {args[0]} exited with {result.returncode}")

        print(f"Azurite tables on port {stack.azurite.table_port}; "
              f"simulator at {stack.simulator.base_url}")
        step("onboarding the sample tenant (the connection is tested first)")
        tenantsync("tenant", "add", "--tenant-id", tenant_id, "--client-id", app_id,
                   "--group-id", level0, "--secret-env", "DEMO_CLIENT_SECRET",
                   "--secret-expires", fixture["applications"][app_id]["secrets"][0]["expires"])
        step("first directory sync")
        tenantsync("sync", "directory", "--tenant-id", tenant_id)
        step("users and groups imported")
        tenantsync("users", "--tenant-id", tenant_id)
        tenantsync("groups", "--tenant-id", tenant_id)

        step("John Doe leaves the TinyMDM group (changed in the simulator)")
        _remove_member(stack.simulator.base_url, stack.simulator.ca_path, tenant_id, level0,
                       leaver)
        step("second directory sync")
        tenantsync("sync", "directory", "--tenant-id", tenant_id)
        step("only users with deleted Azure ID")
        tenantsync("users", "--tenant-id", tenant_id, "--deleted-only")
        step("runs")
        tenantsync("runs", "--tenant-id", tenant_id)

        step("adding a partner (MSP) whose customers come from GDAP; new ones sync at once")
        # Exit code 1: not every customer could be synced (that is what their health says).
        tenantsync("partner", "add", "--partner-tenant-id", partner_id,
                   "--partner-client-id", partner_app,
                   "--partner-secret-env", "DEMO_PARTNER_SECRET",
                   "--inventory-client-id", inventory_app,
                   "--inventory-secret-env", "DEMO_INVENTORY_SECRET",
                   "--inventory-secret-expires",
                   fixture["applications"][inventory_app]["secrets"][0]["expires"],
                   "--source", "gdap", expect=1)
        healthy = next(t for t, v in fixture["tenants"].items()
                       if v["display_name"] == "Northwind Traders")
        step("devices of the healthy customer (serials normalised, junk serials as none)")
        tenantsync("devices", "--tenant-id", healthy)
        step("its software")
        tenantsync("software", "--tenant-id", healthy)
        tenantsync("software", "--tenant-id", healthy, "--managed")
        intune = fixture["tenants"][healthy]["intune"]
        laptop = next(d for d, v in intune["managed_devices"].items()
                      if v["deviceName"] == "NORTHWIND-01")
        chrome = next(a for a, v in intune["detected_apps"].items()
                      if v["displayName"] == "Google Chrome")
        step("one device with its hardware (memory, MAC, TPM from a single read) and software")
        tenantsync("device", "--tenant-id", healthy, "--device-id", laptop)
        step("the devices Google Chrome is on")
        tenantsync("devices", "--tenant-id", healthy, "--app-id", chrome)
        step("tenants and their health")
        tenantsync("tenant", "list")
    step("stopped Azurite and the simulator")
    return 0


def _remove_member(base: str, ca: str, tenant_id: str, group_id: str, member: str) -> None:
    """Change the simulated directory through its control API, as an admin would in Entra."""
    response = requests.post(
        f"{base}/_sim/tenants/{tenant_id}/groups/{group_id}/members",
        json={"remove": [member]}, verify=ca, timeout=10,
    )
    response.raise_for_status()


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
