"""Benchmark: a directory sync of a 100,000-user tree through the simulator into Azurite.

    .venv/bin/python -m bench.directory [--users 100000] [--groups 300] [--churn N]

Builds a tenant whose level-0 group holds direct users, a few hundred level-1 groups and
some level-3 noise; onboards it; syncs it (a full read), again unchanged (a delta re-sync),
again after 1% churn made in the simulator (``bench.directory_churn``), and once more as a
reconciliation read (in full), each sync in a child process of its own so that its peak
memory is the sync's alone. Prints, per run: Graph requests and the minimum possible, table
transactions, entities written, wall time and peak memory, then checks the issue's floors.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench import cpu_seconds, peak_rss_mb, print_checks
from bench.directory_churn import Churn, apply_churn, changed_entities, etags, plan_churn
from functions.core.model import SyncKind

ROOT = Path(__file__).resolve().parent.parent
PAGE = 999  # Graph's largest page for /members


def build_fixture(users: int, groups: int, seed: int = 7) -> tuple[dict[str, Any], dict[str, Any]]:
    """A tenant with ``users`` users under level 0; returns the fixture and facts about it."""
    import random

    rng = random.Random(seed)
    ids = iter(uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(10**9))

    def new() -> str:
        return str(next(ids))

    tenant, app, operator = new(), new(), new()
    user_objs: dict[str, Any] = {}
    for i in range(users):
        uid = new()
        user_objs[uid] = {
            "displayName": f"User {i:06d}",
            "mail": None if i % 17 == 0 else f"user{i:06d}@bench.example",
            "userPrincipalName": f"user{i:06d}@bench.onmicrosoft.com",
        }
    user_ids = list(user_objs)
    direct = user_ids[: users // 5]
    grouped = user_ids[users // 5:]
    group_objs: dict[str, Any] = {}
    level1: list[str] = []
    per_group = math.ceil(len(grouped) / groups)
    for g in range(groups):
        members = grouped[g * per_group:(g + 1) * per_group]
        gid = new()
        group_objs[gid] = {"displayName": f"Team {g:03d}", "members": list(members)}
        level1.append(gid)
    # Level-3 noise: nested groups inside every tenth level-1 group, with members of their own.
    noise_users = 0
    for g in range(0, groups, 10):
        nested = new()
        members = [new() for _ in range(5)]
        for m in members:
            user_objs[m] = {"displayName": "Nested", "mail": None,
                            "userPrincipalName": f"{m}@bench.onmicrosoft.com"}
        noise_users += len(members)
        group_objs[nested] = {"displayName": f"Nested {g}", "members": members}
        group_objs[level1[g]]["members"].append(nested)
    level0 = new()
    group_objs[level0] = {"displayName": "TinyMDM", "members": [*direct, *level1]}
    secret = uuid.UUID(int=rng.getrandbits(128)).hex
    fixture = {
        "applications": {
            app: {"home_tenant": tenant, "display_name": "bench directory app",
                  "secrets": [{"id": new(), "value": secret, "expires": "2099-01-01T00:00:00Z"}]},
            operator: {"home_tenant": tenant, "display_name": "operator",
                       "secrets": [{"id": new(), "value": "op-" + secret,
                                    "expires": "2099-01-01T00:00:00Z"}]},
        },
        "tenants": {tenant: {
            "display_name": "Bench", "users": user_objs, "groups": group_objs,
            "devices": {}, "contacts": {},
            "service_principals": {app: {"roles": ["GroupMember.Read.All", "User.Read.All"]},
                                   operator: {"roles": []}},
        }},
        "key_vault": {"principals": [operator], "secrets": {}},
    }
    minimum = 1 + math.ceil(len(group_objs[level0]["members"]) / PAGE) + sum(
        max(1, math.ceil(len(group_objs[g]["members"]) / PAGE)) for g in level1
    )
    facts = {"tenant": tenant, "app": app, "secret": secret, "level0": level0,
             "users": users, "level1_groups": groups, "noise_users": noise_users,
             "min_requests": minimum, "level1": level1}
    return fixture, facts


def run_sync(tenant_id: str) -> dict[str, Any]:
    """Child process: one directory sync; prints its figures as JSON."""
    from functions.services import get_services

    services = get_services()
    cpu, started = cpu_seconds(children=True), time.perf_counter()
    run = services.runner.run_one(SyncKind.DIRECTORY, tenant_id, "cli")
    wall = time.perf_counter() - started
    return {
        "status": run.status.value, "error": run.error, "graph_requests": run.graph_requests,
        "throttled": run.throttled, "transactions": run.transactions,
        "entities_written": run.entities_written, "wall_s": round(wall, 2),
        "peak_rss_mb": peak_rss_mb(), "cpu_s": round(cpu_seconds(children=True) - cpu, 2),
        "users_created": run.users.created, "users_unchanged": run.users.unchanged,
        "ignored": dict(run.ignored),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=300)
    parser.add_argument("--churn", type=int, default=None,
                        help="changes between the unchanged and the churn re-sync "
                             "(default: 1%% of the users)")
    parser.add_argument("--child-run", metavar="TENANT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_run:
        print(json.dumps(run_sync(args.child_run)))
        return 0

    sys.path.insert(0, str(ROOT))
    from devstack import LocalStack
    from functions.core.config import Settings
    from functions.core.sensitive import SecretValue
    from functions.services import Services

    print(f"building a tenant of {args.users:,} users in {args.groups} level-1 groups ...")
    fixture, facts = build_fixture(args.users, args.groups)
    churn = plan_churn(fixture, facts["tenant"], facts.pop("level1"),
                       args.churn if args.churn is not None else max(10, args.users // 100))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench-fixture.json"
        path.write_text(json.dumps(fixture))
        del fixture
        with LocalStack(path) as stack:
            services = Services(Settings.from_env(stack.env))
            services.onboarding.add_directory_tenant(
                facts["tenant"], facts["app"], SecretValue(facts["secret"]), facts["level0"]
            )
            results = []
            seen: dict[tuple[str, str], str] = {}
            for label in ("first sync", "unchanged re-sync", "1% churn re-sync",
                          "reconciliation"):
                env = stack.environ()
                if label == "1% churn re-sync":
                    apply_churn(churn, stack.simulator.base_url, stack.simulator.ca_path)
                    seen = etags(stack.azurite.connection_string, services.settings.table_prefix,
                                 facts["tenant"])
                if label == "reconciliation":
                    env["TENANTSYNC_DIRECTORY_RECONCILE_HOURS"] = "0"  # due now: a full read
                child = subprocess.run(
                    [sys.executable, "-m", "bench.directory", "--child-run", facts["tenant"]],
                    env=env, cwd=ROOT, capture_output=True, text=True, check=False,
                )
                if child.returncode != 0:
                    print(child.stderr, file=sys.stderr)
                    return 1
                result = json.loads(child.stdout.strip().splitlines()[-1])
                if label == "1% churn re-sync":
                    result["changed_entities"] = changed_entities(seen, etags(
                        stack.azurite.connection_string, services.settings.table_prefix,
                        facts["tenant"]))
                results.append((label, result))
    return report(facts, results, churn)


def report(facts: dict[str, Any], results: list[tuple[str, dict[str, Any]]],
           churn: Churn) -> int:
    print(f"\ntree: {facts['users']:,} users, {facts['level1_groups']} level-1 groups, "
          f"{facts['noise_users']} level-3 users (ignored); "
          f"minimum Graph requests {facts['min_requests']}")
    header = (f"{'run':<18} {'status':<9} {'requests':>8} {'x min':>6} {'429s':>5} "
              f"{'transactions':>12} {'written':>8} {'wall s':>7} {'peak MB':>8}")
    print(header)
    for label, r in results:
        print(f"{label:<18} {r['status']:<9} {r['graph_requests']:>8} "
              f"{r['graph_requests'] / facts['min_requests']:>6.3f} {r['throttled']:>5} "
              f"{r['transactions']:>12} {r['entities_written']:>8} {r['wall_s']:>7} "
              f"{r['peak_rss_mb']:>8}")
    print("tenantsync CPU s a tenant (one tenant): " + ", ".join(
        f"{label} {r['cpu_s']}" for label, r in results))
    (first, second, churned, reconciled) = (r for _, r in results)
    print(f"churn: {churn.changes} changes; the pages carrying them: {churn.min_pages}; "
          f"entities they changed (ETags): {churned['changed_entities']}")
    checks = [
        ("every run succeeded", all(r["status"] == "succeeded" for _, r in results)),
        ("all users imported", first["users_created"] == facts["users"]),
        # +2: the two delta rounds' starting links, taken before the full read.
        ("first sync: Graph requests <= 1.05x minimum (+2 delta links)",
         first["graph_requests"] <= 1.05 * facts["min_requests"] + 2),
        ("unchanged delta re-sync: <= 3 Graph requests", second["graph_requests"] <= 3),
        ("unchanged delta re-sync writes 0 entities", second["entities_written"] == 0),
        ("1% churn: Graph requests <= 1.2x the pages carrying the changes",
         churned["graph_requests"] <= 1.2 * churn.min_pages),
        ("1% churn: entities written = entities changed",
         churned["entities_written"] == churned["changed_entities"] > 0),
        ("reconciliation read after the churn writes 0 entities (delta = full)",
         reconciled["entities_written"] == 0),
        ("peak memory < 300 MB", max(r["peak_rss_mb"] for _, r in results) < 300),
    ]
    return print_checks(checks)


if __name__ == "__main__":
    sys.exit(main())
