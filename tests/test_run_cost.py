"""What a tenant costs: each run records the CPU and the storage requests it used, the API
and the command line show them, and `cost tenant` prices a month from them (issue 21:
"know what a tenant costs before onboarding it, and see it in the dashboards")."""

from __future__ import annotations

import time

import pytest

from functions.api import routes_runs
from functions.api.paging import PageRequest
from functions.core.model import RunStatus
from functions.core.pricing import DEFAULT_SCHEDULES, SyncUse, monthly, syncs_a_month
from functions.storage.meter import operations_by_target
from tests.cli_tools import Cli
from tests.conftest import Harness
from tests.test_bookkeeping import counted


def test_each_run_records_the_cpu_and_storage_requests_it_used(harness: Harness) -> None:
    tenant = harness.start_onboarded()
    runs = []
    for _ in range(3):
        before, cpu = operations_by_target(), time.process_time()
        run = harness.sync(tenant)
        spent = time.process_time() - cpu
        used = sum(counted(harness, before).values())
        assert run.status == RunStatus.SUCCEEDED
        # Its threads' CPU: some, and never more than the whole process spent meanwhile.
        assert 0 < run.cpu_ms <= spent * 1000 + 1
        # Its storage requests, up to the save of its record: all of the sync's but the
        # start's (the tenant, the claim, the queued run) and what follows the save (the
        # tenant's state, the outbox's publication, the subscriptions).
        assert 3 <= run.storage_operations <= used - 3, (run.storage_operations, used)
        runs.append(run)
    # The first sync wrote the tenant's rows; the unchanged ones write nothing.
    assert runs[0].storage_operations > runs[2].storage_operations
    stored = harness.services.runs.get(tenant.id, runs[2].run_id)
    assert (stored.cpu_ms, stored.storage_operations) == (runs[2].cpu_ms,
                                                          runs[2].storage_operations)


def test_the_api_answers_them_and_cost_tenant_prices_a_month_from_them(
        harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    tenant = harness.start_onboarded()
    for _ in range(3):
        harness.sync(tenant)
    page = routes_runs.list_runs(tenant_id=tenant.id, page=PageRequest(size=10, token=None),
                                 services=harness.services, kind=None)
    assert len(page.items) == 3 and all(r.cpuMs > 0 and r.storageOperations > 0
                                        for r in page.items)
    newest_two = page.items[:2]
    cli = Cli(capsys)
    result = cli("cost", "tenant", "--tenant-id", tenant.id, "--runs", "2", "--json")
    assert result.code == 0, result.err
    report = result.json()
    directory = report["kinds"]["directory"]
    assert report["kinds"]["devices"] is None  # no device run: nothing measured, not 0
    assert directory["runs"] == 2
    cpu = sum(r.cpuMs for r in newest_two) / 2000
    assert directory["cpuSeconds"] == pytest.approx(cpu, abs=0.001)
    storage = sum(r.storageOperations for r in newest_two) / 2
    assert directory["storageOperations"] == pytest.approx(storage, abs=0.05)
    seconds = sum((r.endedAt - r.startedAt).total_seconds() for r in newest_two
                  if r.endedAt) / 2
    expected = monthly(SyncUse(cpu, seconds, storage),
                       syncs_a_month(DEFAULT_SCHEDULES["directory"]))
    assert directory["aMonth"]["syncs"] == 1440
    assert directory["aMonth"]["total"] == pytest.approx(expected.total, abs=1e-4)
    assert report["aMonth"] == pytest.approx(expected.total, abs=1e-4)
    shown = cli("runs", "show", "--tenant-id", tenant.id, "--run-id", newest_two[0].runId)
    assert f"{newest_two[0].cpuMs} ms of CPU" in shown.out
    assert f"{newest_two[0].storageOperations} storage operations" in shown.out


def test_cost_estimate_prices_a_tenant_by_its_size_before_it_is_onboarded(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    cli = Cli(capsys)
    small = cli("cost", "estimate", "--users", "100", "--json").json()
    large = cli("cost", "estimate", "--users", "100000", "--tenants", "10", "--json").json()
    assert small["kind"] == "directory" and small["aMonth"]["syncs"] == 1440
    # A bigger tenant's first sync costs more; its delta re-syncs cost the same.
    assert large["firstSync"]["cpuSeconds"] > 10 * small["firstSync"]["cpuSeconds"]
    assert large["aMonth"]["total"] == small["aMonth"]["total"]
    assert large["aMonthAll"] == pytest.approx(10 * large["aMonth"]["total"], abs=0.01)
    # The schedule the app setting names is the one priced.
    monkeypatch.setenv("TENANTSYNC_DEVICES_SCHEDULE", "0 0 * * * *")
    devices = cli("cost", "estimate", "--devices", "500", "--json").json()
    assert devices["aMonth"]["syncs"] == 24 * 30
    text = cli("cost", "estimate", "--devices", "500")
    assert text.code == 0 and "720 times a month" in text.out
    monkeypatch.setenv("TENANTSYNC_DEVICES_SCHEDULE", "0 0 * * 1-5")
    refused = cli("cost", "estimate", "--devices", "500")
    assert refused.code == 2 and "cannot count the firings of schedule" in refused.error
    assert cli("cost", "estimate", "--users", "-1").code == 2
