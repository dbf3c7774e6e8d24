"""Serve the HTTP API locally on Azurite + the Microsoft simulator, until Ctrl-C.

Starts Azurite and the simulator with the sample (samples/demo.json: the TinyMDM example
and an MSP), points tenantsync at them and runs the API under uvicorn on
http://127.0.0.1:7071 (the port of ``func start``), with worker threads that run queued
sync jobs and webhook deliveries as the queue functions do in Azure, and a sample portal
endpoint (devstack/receiver.py, HTTPS on loopback) that prints every webhook it gets.
Unless ``--empty``, it onboards the sample tenant first, as the demo does (one consent
link), and connects the MSP with its sample secrets, so that every list has rows.
Stops what it started, whatever happens.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import uvicorn  # noqa: E402

from devstack import LocalStack, with_callback  # noqa: E402
from devstack.receiver import Received, Receiver  # noqa: E402
from devstack.sample import SampleTenant, cli_runner, onboard_by_consent_link, serve_api  # noqa: E402
from devstack.stack import exit_on_sigterm  # noqa: E402
from functions.api import create_app  # noqa: E402
from functions.core.errors import TenantSyncError  # noqa: E402
from functions.services import Services, get_services  # noqa: E402

FIXTURE = ROOT / "samples" / "demo.json"
log = logging.getLogger("tenantsync.serve")


STATE_FILE = ROOT / ".tenantsync" / "local.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--no-worker", action="store_true",
                        help="leave queued sync jobs on the queue")
    parser.add_argument("--notifications", action="store_true",
                        help="turn on Graph change notifications: the simulator posts them "
                             "to this API (TENANTSYNC_NOTIFICATION_URL)")
    parser.add_argument("--state-file", type=Path, default=STATE_FILE,
                        help="where to write the running stack's settings (removed on exit)")
    parser.add_argument("--empty", action="store_true",
                        help="onboard nothing: start with no tenant and no partner")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    exit_on_sigterm()  # SIGTERM stops Azurite and the simulator too, as Ctrl-C does
    fixture = json.loads(FIXTURE.read_text())
    receiver = Receiver(on_receive=_show).start()
    base = f"http://127.0.0.1:{args.port}"
    # Consent links return to this API (TENANTSYNC_PUBLIC_URL), a registered redirect URI.
    with LocalStack(with_callback(FIXTURE, base), public_url=base) as stack:
        os.environ.update(stack.env)
        if args.notifications:
            os.environ["TENANTSYNC_NOTIFICATION_URL"] = base  # loopback HTTP, as served
        # The sample endpoint is on loopback with its own CA: allowed here, never by default.
        os.environ.update(TENANTSYNC_WEBHOOK_ALLOW_PRIVATE="true",
                          TENANTSYNC_WEBHOOK_CA_BUNDLE=receiver.ca_path,
                          TENANTSYNC_WEBHOOK_RETRY_BASE_SECONDS="2")
        api = f"{base}/api"
        write_state(args.state_file, stack, api)
        stop = threading.Event()
        server: uvicorn.Server | None = None
        try:
            if not args.no_worker:
                # What the queue-triggered functions do in Azure: run each queued job's sync,
                # then attempt each webhook delivery (and, as the sweep timer does, queue
                # again the outbox's pending events and the deliveries whose message was lost).
                services = get_services()

                def sweep() -> None:
                    services.relay.sweep()
                    services.delivery_sweep.sweep()

                threading.Thread(target=services.worker.serve, args=(stop,),
                                 daemon=True).start()
                threading.Thread(target=services.delivery_worker.serve, args=(stop,),
                                 kwargs={"sweep": sweep}, daemon=True).start()
                # The notification queue function and, with --notifications, the upkeep
                # timer (every minute here: a tenant onboarded now is subscribed within one).
                threading.Thread(target=services.notified.serve, args=(stop,),
                                 daemon=True).start()
                if args.notifications:
                    threading.Thread(target=_upkeep, args=(services, stop),
                                     daemon=True).start()
            server = serve_api(create_app(), args.port, log_level="info")
            sample = SampleTenant.of(fixture)
            if not args.empty:
                _onboard_samples(fixture, stack, sample)
            _say_how(args.state_file, stack, api, sample, receiver)
            while not server.should_exit:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        finally:
            if server is not None:
                server.should_exit = True
            stop.set()
            args.state_file.unlink(missing_ok=True)
            receiver.stop()
    return 0


def _onboard_samples(fixture: dict[str, Any], stack: LocalStack, sample: SampleTenant) -> None:
    """The sample tenant by its consent link (its first sync queued), then the MSP with the
    sample's secrets: its customers are discovered and synced."""
    apps = fixture["applications"]
    partner_id = next(t for t, v in fixture["tenants"].items() if "gdap" in v)
    partner_app = next(a for a, v in apps.items() if v["display_name"] == "Fabrikam partner app")
    inventory_app = next(a for a, v in apps.items()
                         if v["display_name"] == "Fabrikam inventory (multitenant)")
    env = {**stack.environ(), "SAMPLE_PARTNER_SECRET": apps[partner_app]["secrets"][0]["value"],
           "SAMPLE_INVENTORY_SECRET": apps[inventory_app]["secrets"][0]["value"]}
    tenantsync = cli_runner(env, echo=False)
    log.info("onboarding the sample tenant %s by its consent link", sample.tenant_id)
    onboard_by_consent_link(tenantsync, sample, stack.simulator.ca_path, show=log.info)
    log.info("connecting the sample partner %s (its customers sync now)", partner_id)
    # Exit code 1: one customer has no Intune licence and one never consented (their health).
    tenantsync("partner", "add", "--partner-tenant-id", partner_id,
               "--partner-client-id", partner_app, "--partner-secret-env",
               "SAMPLE_PARTNER_SECRET", "--inventory-client-id", inventory_app,
               "--inventory-secret-env", "SAMPLE_INVENTORY_SECRET", "--source", "gdap",
               "--json", expect=1, capture=True)


def _say_how(state_file: Path, stack: LocalStack, api: str, sample: SampleTenant,
             receiver: Receiver) -> None:
    tenantsync = shlex.quote(str(ROOT / ".venv" / "bin" / "tenantsync"))
    where = "" if state_file == STATE_FILE else f" --state-file {shlex.quote(str(state_file))}"
    print(f"tenantsync API on {api} (docs: {api}/docs); sample tenant {sample.tenant_id}; "
          f"Azurite tables on port {stack.azurite.table_port}; simulator at "
          f"{stack.simulator.base_url}. Ctrl-C stops.\n"
          f"Its settings are in {state_file}. To use the command line against it, "
          "in another shell:\n"
          f'  eval "$({tenantsync} local env{where})"\n'
          f"  {tenantsync} tenant list\n"
          f"  {tenantsync} users --tenant-id {sample.tenant_id}", flush=True)
    print("sample webhook endpoint (prints what it gets): subscribe it with\n"
          f"  curl -s -X POST {api}/webhooks -H 'content-type: application/json' "
          f"-d '{{\"url\": \"{receiver.url}\", \"eventTypes\": [\"sync.finished\", "
          f"\"tenant.health_changed\", \"credential.expiring\"]}}'", flush=True)


def _upkeep(services: Services, stop: threading.Event) -> None:
    while not stop.wait(60):
        try:
            services.subscriber.upkeep()
        except TenantSyncError as exc:
            logging.getLogger("tenantsync.serve").warning("upkeep: %s", exc.message)


def write_state(path: Path, stack: LocalStack, api: str) -> None:
    """The running stack's settings (what tenantsync needs to reach it) and its processes,
    readable by the owner only: the simulator's stand-in credentials are in it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"api": api, "env": stack.env,
             "pids": {"serve": os.getpid(), "azurite": stack.azurite.pid,
                      "simulator": stack.simulator.pid}}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(state, out, indent=1)


def _show(got: Received) -> None:
    """What the sample portal endpoint got (it cannot verify: the secret is the portal's)."""
    event = json.loads(got.body) if got.body else {}
    data = event.get("data", {})
    detail = data.get("status") or data.get("health") or data.get("expiresOn") or ""
    print(f"webhook received: {event.get('type')} {got.headers.get('webhook-id')} tenant "
          f"{data.get('tenantId')} {detail} changes {json.dumps(data.get('changes'))}",
          flush=True)


if __name__ == "__main__":
    sys.exit(main())
