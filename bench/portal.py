"""Benchmark: a portal mirroring a 100,000-user tenant through the change feed and signed
webhooks, through the simulator into Azurite.

    .venv/bin/python -m bench.portal [--users 100000] [--groups 300] [--subscriptions 50]
        [--fail-rate 0.3]

Syncs the tenant once and reads the feed to its end (the portal's cursor); syncs it again
unchanged; changes 1% of the users (renames, leavers, newcomers, moves between groups) in
the simulator and syncs again; the portal catches up from its cursor. Meanwhile
``--subscriptions`` webhook subscriptions point at one HTTPS receiver that fails
``--fail-rate`` of requests; every delivery is drained to its end. Prints the figures and
checks the issue's floors.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import requests

from bench import print_checks
from bench.directory import build_fixture
from functions.core.model import SyncKind

ROOT = Path(__file__).resolve().parent.parent
PAGE = 1000


def catch_up(feed: Any, tenant_id: str, cursor: str | None) -> tuple[int, int, str | None]:
    """Read the feed after ``cursor`` to its end: (changes read, pages, last cursor)."""
    read = pages = 0
    while True:
        page = feed.page(tenant_id, cursor, PAGE)
        read, pages, cursor = read + len(page.entries), pages + 1, page.cursor
        if not page.more:
            return read, pages, cursor


def change_one_percent(sim: str, ca: str, fixture: dict[str, Any], facts: dict[str, Any],
                       seed: int = 11) -> dict[str, int]:
    """Renames, leavers, newcomers and moves: a quarter of 1% of the users each."""
    rng = random.Random(seed)
    tenant = facts["tenant"]
    groups = fixture["tenants"][tenant]["groups"]
    users = fixture["tenants"][tenant]["users"]
    level1 = [g for g in groups[facts["level0"]]["members"] if g in groups]
    member_of = {m: g for g in level1 for m in groups[g]["members"] if m in users}
    quarter = max(1, facts["users"] // 400)
    picked = rng.sample(sorted(member_of), 3 * quarter)
    renames, leavers, movers = (picked[:quarter], picked[quarter:2 * quarter],
                                picked[2 * quarter:])
    session = requests.Session()
    session.verify, session.trust_env = ca, False
    base = f"{sim}/_sim/tenants/{tenant}"

    def call(method: str, path: str, body: Any) -> None:
        session.request(method, base + path, json=body, timeout=30).raise_for_status()

    for uid in renames:
        call("PUT", "/objects/users", {"id": uid, **users[uid],
                                       "displayName": users[uid]["displayName"] + " (renamed)"})
    for uid in leavers:
        call("POST", f"/groups/{member_of[uid]}/members", {"add": [], "remove": [uid]})
    for uid in movers:
        target = rng.choice([g for g in level1 if g != member_of[uid]])
        call("POST", f"/groups/{member_of[uid]}/members", {"add": [], "remove": [uid]})
        call("POST", f"/groups/{target}/members", {"add": [uid], "remove": []})
    for i in range(quarter):
        uid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        call("PUT", "/objects/users", {"id": uid, "displayName": f"Newcomer {i}",
                                       "mail": f"new{i}@bench.example",
                                       "userPrincipalName": f"new{i}@bench.onmicrosoft.com"})
        call("POST", f"/groups/{rng.choice(level1)}/members", {"add": [uid], "remove": []})
    return {"renames": quarter, "leavers": quarter, "moves": quarter, "newcomers": quarter}


def changed_records(run: Any) -> int:
    """Records the run wrote a change of (users, groups, memberships)."""
    total = 0
    for counts in (run.users, run.groups):
        total += counts.created + counts.updated + counts.marked_deleted + counts.restored
    return int(total + run.memberships_added + run.memberships_removed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=300)
    parser.add_argument("--subscriptions", type=int, default=50)
    parser.add_argument("--fail-rate", type=float, default=0.3)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from standardwebhooks import Webhook
    from standardwebhooks.webhooks import WebhookVerificationError

    from devstack import LocalStack
    from devstack.receiver import Receiver
    from functions.core.config import Settings
    from functions.core.sensitive import SecretValue
    from functions.services import Services

    print(f"building a tenant of {args.users:,} users in {args.groups} level-1 groups ...")
    fixture, facts = build_fixture(args.users, args.groups)
    receiver = Receiver(fail_rate=args.fail_rate).start()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench-fixture.json"
        path.write_text(json.dumps(fixture))
        with LocalStack(path) as stack:
            env = {**stack.env, "TENANTSYNC_WEBHOOK_ALLOW_PRIVATE": "true",
                   "TENANTSYNC_WEBHOOK_CA_BUNDLE": receiver.ca_path,
                   "TENANTSYNC_WEBHOOK_RETRY_BASE_SECONDS": "1",
                   "TENANTSYNC_WEBHOOK_MAX_ATTEMPTS": "10",
                   "TENANTSYNC_WEBHOOK_DISABLE_AFTER": "1000"}
            services = Services(Settings.from_env(env))
            tid = facts["tenant"]
            services.onboarding.add_directory_tenant(
                tid, facts["app"], SecretValue(facts["secret"]), facts["level0"])
            secrets = {}
            for i in range(args.subscriptions):
                sub, secret = services.webhooks.subscribe(
                    f"{receiver.url}?s={i}", ["sync.finished", "tenant.health_changed"], [tid])
                secrets[sub.id] = secret.reveal()
            ended: dict[str, float] = {}
            # What the queue function does in Azure, from the start: deliveries go out while
            # the syncs run, so a delay is the queue's and the retries', not the bench's.
            stop = threading.Event()
            worker = threading.Thread(target=services.delivery_worker.serve,
                                      args=(stop, 0.2), daemon=True)
            worker.start()

            def sync(label: str) -> Any:
                started = time.perf_counter()
                run = services.runner.run_one(SyncKind.DIRECTORY, tid, "cli")
                results[label] = {"status": run.status.value, "wall_s": round(
                    time.perf_counter() - started, 1), "changes": changed_records(run)}
                ended[run.run_id] = run.ended_at.timestamp() if run.ended_at else time.time()
                print(f"{label}: {run.status.value} in {results[label]['wall_s']} s, "
                      f"{results[label]['changes']:,} changed records", flush=True)
                return run

            sync("first sync")
            read, pages, cursor = catch_up(services.feed, tid, None)
            results["first read"] = {"read": read, "pages": pages}
            position = services.feed.position(tid)
            sync("unchanged re-sync")
            results["unchanged added"] = int(str(services.feed.position(tid)).split(".")[1]) - \
                int(str(position).split(".")[1])
            mix = change_one_percent(stack.simulator.base_url, stack.simulator.ca_path,
                                     fixture, facts)
            sync("1% changed re-sync")
            started = time.perf_counter()
            read, pages, cursor = catch_up(services.feed, tid, cursor)
            results["catch up"] = {"read": read, "pages": pages,
                                   "wall_s": round(time.perf_counter() - started, 2)}

            # Drain every delivery to its end (retries come back after their delay).
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                pending = [d for s in secrets for d in services.webhook_tables.deliveries(s)
                           if d.status == "pending"]
                if not pending:
                    break
                time.sleep(0.5)
            stop.set()
            worker.join()
            deliveries = [d for s in secrets for d in services.webhook_tables.deliveries(s)]
            run_of = {d.message_id: json.loads(d.payload)["data"].get("runId") for d in deliveries}
            subscription_of = {d.message_id: d.subscription_id for d in deliveries}
            accepted = receiver.accepted()
            ids = Counter(r.headers["webhook-id"] for r in accepted)
            first_accepted: dict[str, float] = {}
            for r in accepted:
                first_accepted.setdefault(r.headers["webhook-id"], r.at)
            delays = [at - ended[run_of[mid]] for mid, at in first_accepted.items()
                      if run_of.get(mid) in ended]
            bad = 0
            for r in accepted:
                try:
                    Webhook(secrets[subscription_of[r.headers["webhook-id"]]]).verify(
                        r.body, r.headers)
                except WebhookVerificationError:
                    bad += 1
            results["webhooks"] = {
                "events x subscriptions": len(deliveries),
                "requests": len(receiver.received), "failed answers": sum(
                    1 for r in receiver.received if r.status >= 300),
                "delivered": len(ids), "duplicates": sum(n - 1 for n in ids.values()),
                "lost": sum(1 for d in deliveries if d.message_id not in ids),
                "p50 delay s": round(statistics.median(delays), 2) if delays else None,
                "p95 delay s": round(statistics.quantiles(delays, n=20)[18], 2)
                if len(delays) >= 20 else None,
                "bad signatures": bad}
    receiver.stop()
    return report(facts, mix, results)


def report(facts: dict[str, Any], mix: dict[str, int], results: dict[str, Any]) -> int:
    changed = results["1% changed re-sync"]["changes"]
    catch = results["catch up"]
    print(f"\ntenant: {facts['users']:,} users; change: {mix}")
    for label in ("first sync", "unchanged re-sync", "1% changed re-sync"):
        r = results[label]
        print(f"{label:<20} {r['status']:<10} {r['wall_s']:>7} s  changes recorded "
              f"{r['changes']:>8,}")
    print(f"portal, first read:  {results['first read']['read']:,} changes in "
          f"{results['first read']['pages']} pages")
    print(f"portal, catching up: {catch['read']:,} changes read in {catch['pages']} pages, "
          f"{catch['wall_s']} s (changed records: {changed:,}; "
          f"ratio {catch['read'] / max(1, changed):.3f})")
    print(f"unchanged re-sync added {results['unchanged added']} changes to the feed")
    print("webhooks: " + ", ".join(f"{k} {v}" for k, v in results["webhooks"].items()))
    hooks = results["webhooks"]
    checks = [
        ("every sync succeeded", all(results[k]["status"] == "succeeded" for k in (
            "first sync", "unchanged re-sync", "1% changed re-sync"))),
        ("portal reads <= 1.1x changed + one page", catch["read"] <= 1.1 * changed + PAGE),
        ("the feed holds exactly the changed records", catch["read"] == changed),
        ("unchanged re-sync adds 0 changes", results["unchanged added"] == 0),
        ("every event delivered at least once (0 lost)", hooks["lost"] == 0),
        ("signatures verify (Standard Webhooks reference)", hooks["bad signatures"] == 0),
    ]
    return print_checks(checks)


if __name__ == "__main__":
    sys.exit(main())
