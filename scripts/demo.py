"""The README's first command: both syncs end to end, offline.

Starts Azurite, the Microsoft simulator (samples/demo.json: the seed's TinyMDM example tenant,
the deployment's own apps and its managed identity, and an MSP) and the HTTP API under
uvicorn, then:

1. onboards the TinyMDM example tenant with one admin-consent link: no app registration and
   no secret on the customer's side, and none on ours either (the deployment's app signs in
   with the function's managed identity, a federated credential). The demo follows Entra's
   redirect as the admin's browser would, to the callback the local API serves;
2. runs the first sync the callback queued, shows what was imported, removes a member in the
   simulator, syncs again and shows who is now "Azure ID: deleted";
3. adds a partner (MSP) with client secrets (the seeds' own path); its admin agent signs in
   once (in the simulator) and tenantsync connects the GDAP customer that never consented
   from the partner's side, with no step in its tenant; the customer whose relationship
   lacks a role that may consent gets the named reason and a consent link of its own, which
   its admin opens.

Stops what it started, whatever happens.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack import LocalStack, with_callback  # noqa: E402
from devstack.sample import (  # noqa: E402
    TENANTSYNC,
    SampleTenant,
    admin_opens,
    cli_runner,
    onboard_by_consent_link,
    serve_api,
)
from devstack.stack import exit_on_sigterm  # noqa: E402
from functions.api import create_app  # noqa: E402

FIXTURE = ROOT / "samples" / "demo.json"  # samples/tinymdm.json plus a partner (MSP)


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    exit_on_sigterm()  # SIGTERM stops Azurite and the simulator too, as Ctrl-C does
    fixture = json.loads(FIXTURE.read_text())
    sample = SampleTenant.of(fixture)
    tenant_id = sample.tenant_id
    tenant = fixture["tenants"][tenant_id]
    partner_id = next(t for t, v in fixture["tenants"].items() if "gdap" in v)
    partner_app = next(a for a, v in fixture["applications"].items()
                       if v["display_name"] == "Fabrikam partner app")
    inventory_app = next(a for a, v in fixture["applications"].items()
                         if v["display_name"] == "Fabrikam inventory (multitenant)")
    level0 = sample.group_id
    leaver = next(u for u, v in tenant["users"].items() if v["displayName"] == "John Doe")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"

    step("starting Azurite, the Microsoft simulator and the HTTP API")
    with LocalStack(with_callback(FIXTURE, base), public_url=base) as stack:
        os.environ.update(stack.env)
        env = {
            **stack.environ(),
            "DEMO_PARTNER_SECRET": fixture["applications"][partner_app]["secrets"][0]["value"],
            "DEMO_INVENTORY_SECRET": fixture["applications"][inventory_app]["secrets"][0]["value"],
        }

        tenantsync = cli_runner(env)
        server = serve_api(create_app(), port)
        print(f"Azurite tables on port {stack.azurite.table_port}; simulator at "
              f"{stack.simulator.base_url}; API at {base}/api")
        try:
            step("one click: an admin-consent link for the sample tenant's directory sync "
                 "(the deployment's own app, signing in with the managed identity: no secret); "
                 "the tenant's admin opens it and accepts; Entra returns to tenantsync, which "
                 "tests the connection, stores the tenant and queues its first sync")
            onboard_by_consent_link(tenantsync, sample, stack.simulator.ca_path)
            step("the queue function runs the first sync (here: tenantsync worker)")
            tenantsync("worker")
            step("users and groups imported")
            tenantsync("users", "--tenant-id", tenant_id)
            tenantsync("groups", "--tenant-id", tenant_id)

            step("John Doe leaves the TinyMDM group (changed in the simulator)")
            _remove_member(stack.simulator.base_url, stack.simulator.ca_path, tenant_id,
                           level0, leaver)
            step("second directory sync")
            tenantsync("sync", "directory", "--tenant-id", tenant_id)
            step("only users with deleted Azure ID")
            tenantsync("users", "--tenant-id", tenant_id, "--deleted-only")
            step("runs")
            tenantsync("runs", "list", "--tenant-id", tenant_id)

            step("adding a partner (MSP) with client secrets (the seeds' own path); customers "
                 "come from GDAP and new ones sync at once")
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
            step("one device with its hardware (memory, MAC, TPM from a single read) and "
                 "software")
            tenantsync("device", "--tenant-id", healthy, "--device-id", laptop)
            step("the devices Google Chrome is on")
            tenantsync("devices", "--tenant-id", healthy, "--app-id", chrome)
            step("the partner's admin agent signs in once (MFA; in the simulator it answers "
                 "at once): tenantsync keeps the refresh token in Key Vault only")
            _signs_in(env, partner_id, stack.simulator.ca_path)
            step("consent from the partner's side: no step in any customer's tenant; each "
                 "customer gets a named answer (exit 1: one needs a fix)")
            tenantsync("partner", "consent", "--partner-tenant-id", partner_id, expect=1)
            tenantsync("worker")
            tenantsync("partner", "consents", "--partner-tenant-id", partner_id)
            step("the customer whose relationship lacks the role: a consent link, which its "
                 "admin opens")
            links = json.loads(tenantsync("partner", "consent-links", "--partner-tenant-id",
                                          partner_id, "--json", capture=True))
            print(f"customers by device health: {links['progress']}")
            for item in links["items"]:
                if item["url"]:
                    print(f"{item['name']}: its admin opens the link")
                    print(admin_opens(item["url"], stack.simulator.ca_path))
            tenantsync("worker")
            step("tenants and their health")
            tenantsync("tenant", "list")
        finally:
            server.should_exit = True
    step("stopped the API, Azurite and the simulator")
    return 0


def _signs_in(env: dict[str, str], partner_id: str, ca_path: str) -> None:
    """`tenantsync partner sign-in` prints the address and waits; the agent's browser opens it
    (Entra answers at once in the simulator and returns to the local API's callback)."""
    print(f"$ tenantsync partner sign-in --partner-tenant-id {partner_id}", flush=True)
    waiting = subprocess.Popen([*TENANTSYNC, "partner", "sign-in", "--partner-tenant-id",
                                partner_id, "--wait-seconds", "60"], env=env, text=True,
                               stdout=subprocess.PIPE)
    assert waiting.stdout is not None
    lines = [waiting.stdout.readline(), waiting.stdout.readline()]
    print("".join(lines), end="", flush=True)
    session = requests.Session()
    session.trust_env = False
    entra = session.get(lines[1].strip(), allow_redirects=False, verify=ca_path, timeout=10)
    page = session.get(entra.headers["Location"], timeout=30)
    shown = re.search(r"<p>(.*?)</p>", page.text)
    print(f"(the agent's browser shows: {html.unescape(shown.group(1)) if shown else page.text})")
    rest, _ = waiting.communicate(timeout=90)
    print(rest, end="", flush=True)
    if waiting.returncode != 0:
        raise SystemExit(f"tenantsync partner sign-in exited with {waiting.returncode}")


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
