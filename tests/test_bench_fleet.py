"""The fleet benchmark at its smallest size: its exactly-once accounting, and the storage
meter it reads. (The benchmark's figures come from `python -m bench.fleet`, not from here.)"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bench.fleet_report import Cycle
from bench.fleet_world import build
from devstack.stack import AzuriteProcess
from functions.storage.meter import storage_operations
from functions.storage.queues import JobQueue
from functions.storage.tables import TableStore

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_smallest_fleet_syncs_every_tenant_exactly_once_on_one_and_two_instances() -> None:
    bench = subprocess.run(
        [sys.executable, "-m", "bench.fleet", "--directory-tenants", "4", "--device-tenants",
         "2", "--k", "1,2", "--fanout-tenants", "20", "--graph-app-budget", "20"],
        cwd=ROOT, capture_output=True, text=True, timeout=400, check=False)
    out = bench.stdout
    assert "every tenant synced exactly once" in out, bench.stderr[-2000:]
    for k in (1, 2):
        for cycle in (1, 2):
            assert (f"PASS  K={k} cycle {cycle}: every tenant synced exactly once (6/6; "
                    "duplicates 0, missed 0, left 0)"
                    in out), out
        # The federated half signed in through the managed identity's endpoint.
        assert re.search(rf"K={k} cycle 1: .* identity [1-9]", out), out
    # Two directory tenants with a secret, two federated; a device tenant under a partner
    # with a secret, one under the federated partner: 6 runs each cycle, all succeeded.
    assert out.count("runs {'succeeded': 6}, synced once 6, duplicates 0, missed 0, "
                     "left queued or running 0") == 4, out
    assert "timer fan-out alone: 20 tenant rows -> 20 jobs" in out
    # The two federated tenants share the deployment's directory app and its budget: a 5 s
    # slot admits 4 of the 20, fewer than their reads, so the instances waited, met no 429.
    for k in (1, 2):
        for cycle in (1, 2):
            held = re.search(rf"PASS  K={k} cycle {cycle}: Graph's per-app budget held by all "
                             r"instances together \(peak window (\d+) <= 20, 0 429s for it, "
                             r"0 runs partial or failed\)", out)
            assert held is not None and int(held.group(1)) > 0, out


def _run(tenant: str, kind: str, status: str, when: datetime, code: str = "") -> Any:
    return SimpleNamespace(tenant_id=tenant, kind=kind, status=SimpleNamespace(value=status),
                           error_code=code, queued_at=when, started_at=when,
                           active=status in ("queued", "running"), cpu_ms=10,
                           storage_operations=4)


def test_the_accounting_finds_duplicates_misses_and_runs_left() -> None:
    fleet = build(4, 0)
    a, b, c, d = fleet.directory
    since = datetime(2026, 1, 1, tzinfo=UTC)
    now, old = since + timedelta(minutes=1), since - timedelta(minutes=30)
    table = {
        a: [_run(a, "directory", "succeeded", now), _run(a, "directory", "succeeded", old)],
        b: [_run(b, "directory", "succeeded", now), _run(b, "directory", "succeeded", now)],
        c: [_run(c, "directory", "queued", now)],
        d: [_run(d, "directory", "succeeded", now),
            _run(d, "directory", "skipped", now, "duplicate_delivery")],
    }
    runs = SimpleNamespace(recent=lambda tenant, limit: table[tenant])
    cycle = Cycle(1, 1, 1.0, 0.1, 4, True, {}, [], [], {}, {})
    cycle.account(runs, fleet, since)
    # a: once (the older run is another cycle's); b: twice; c: left queued, so missed;
    # d: once, its second delivery skipped at once as a duplicate.
    assert (cycle.synced_once, cycle.duplicates, cycle.missed, cycle.left,
            cycle.skipped_deliveries) == (2, 1, 1, 1, 1)
    # What the cycle's runs recorded they used: every run of this cycle but the duplicate
    # delivery (a's older run is another cycle's).
    assert (cycle.recorded_cpu_ms, cycle.recorded_ops) == (50, 20)


def test_the_storage_meter_counts_every_table_and_queue_request(azurite: AzuriteProcess
                                                                 ) -> None:
    store = TableStore.from_connection_string(azurite.connection_string, "meter")
    store.ensure_tables()
    before = storage_operations()
    store.upsert("tenants", {"PartitionKey": "p", "RowKey": "r", "n": 1})
    store.get("tenants", "p", "r")
    store.write("tenants", ({"PartitionKey": "p", "RowKey": str(i)} for i in range(150)))
    # One upsert, one read, two transactions (100 + 50 entities, one partition).
    assert storage_operations() - before == 4
    queue = JobQueue.from_connection_string(azurite.connection_string, "meter-jobs")
    before = storage_operations()
    queue.ensure()
    queue.send("{}")
    assert queue.peek_count() == 1
    assert storage_operations() - before == 3
