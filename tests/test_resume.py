"""A read too large for one run: cut at any step, resumed from its checkpoint without
reading again what was read, and concluding nothing before the whole inventory is read."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from functions.core.config import Settings
from functions.core.model import Health, Run, RunOptions, RunStatus
from functions.devices import batched, cycle
from functions.devices.store import DeviceFilter
from functions.services import Services
from tests.api.conftest import run_queued_jobs
from tests.cli_tools import Cli
from tests.conftest import Harness
from tests.inventory import Estate, connect, estate
from tests.world import Partner, World

EXPORTER_ROLES = ["Organization.Read.All", "DeviceManagementManagedDevices.ReadWrite.All",
                  "DeviceManagementApps.Read.All"]


def kinds(counts: dict[str, int]) -> dict[str, int]:
    found: dict[str, int] = {}
    for key, count in counts.items():
        kind = key.split(" ", 1)[-1]
        found[kind] = found.get(kind, 0) + count
    return found


def cut_short(harness: Harness, **env: str) -> Services:
    """Services whose runs stop reading at once: each does one step (or chunk), no more."""
    return Services(Settings.from_env({**harness.env, "TENANTSYNC_RUN_TIME_BUDGET_SECONDS": "0",
                                       **env}))


def inventory_rows(harness: Harness, tenant: str) -> list[tuple[str, str]]:
    return [(e["RowKey"], e["_etag"]) for e in harness.entities()
            if e["_table"].endswith("inventory") and e["PartitionKey"] == tenant]


def changed_estate(harness: Harness, found: Estate) -> tuple[str, str, str]:
    """Between two reads: a device leaves Intune, an app leaves a device, an app leaves the
    tenant. Returns them."""
    assert harness.sim is not None
    gone_device, device, gone_app = found.devices[3], found.devices[2], found.apps[4]
    harness.sim.delete_object(found.tenant, "managed_devices", gone_device)
    entry = found.device(2)
    entry["detected_apps"] = [a for a in found.links[device] if a != found.apps[0]]
    harness.sim.upsert_object(found.tenant, "managed_devices", {"id": device, **entry})
    harness.sim.delete_object(found.tenant, "detected_apps", gone_app)
    return gone_device, device, gone_app


@pytest.mark.slow
@pytest.mark.parametrize("path", ["read", "export"])
def test_a_read_cut_at_every_step_resumes_and_concludes_nothing_before_the_end(
    harness: Harness, world: World, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    partner = Partner(world)
    found = estate(partner, devices=5, apps=6,
                   roles=EXPORTER_ROLES if path == "export" else None)
    harness.start()
    connect(harness, partner)
    first = harness.services.runner.run_one("devices", found.tenant, "cli")
    assert first.status == RunStatus.SUCCEEDED
    gone_device, device, gone_app = changed_estate(harness, found)
    # Every device checks in: each one's details are read again, two at a time.
    assert harness.sim is not None
    for n in range(3):
        entry = found.device(n)
        if n == 2:
            entry["detected_apps"] = [a for a in found.links[device] if a != found.apps[0]]
        entry["lastSyncDateTime"] = "2026-12-02T10:00:00Z"
        harness.sim.upsert_object(found.tenant, "managed_devices",
                                  {"id": found.devices[n], **entry})
    monkeypatch.setattr(cycle, "APP_CHUNK", 2)
    monkeypatch.setattr(cycle, "DETAIL_CHUNK", 2)
    services = cut_short(harness)
    before = inventory_rows(harness, found.tenant)
    harness.sim.reset_stats()
    runs: list[Run] = []

    def ended(run: Run) -> None:  # one run_one goes on until the read is done
        runs.append(run)
        assert len(runs) < 20, [r.error for r in runs]
        if run.status == RunStatus.PARTIAL:
            assert run.error_code == "inventory_in_progress", run.error
            assert "Inventory read in progress" in run.error
            # Nothing written, so nothing retired, removed or ended yet.
            assert inventory_rows(harness, found.tenant) == before
            state = services.tenants.get(found.tenant).device_state
            assert state.health == Health.IN_PROGRESS
            assert state.last_error == run.error and state.consecutive_failures == 0

    last = services.runner.run_one("devices", found.tenant, "cli", on_run=ended)
    assert last == runs[-1]
    assert last.status == RunStatus.SUCCEEDED, last.error
    # One step (or chunk) a run: devices, apps, managed apps listings, then the apps'
    # devices (5 apps left, 2 a chunk) or the two exports (create, poll until done and
    # collect), then the details of the 3 devices that checked in (2 a chunk).
    expected = 3 + 3 + 2
    assert len(runs) == expected, [r.error for r in runs]
    assert "read the details of 2 of 3 devices" in runs[-2].error
    # Nothing was read twice: each listing page once, each app and device once.
    stats = harness.sim.stats()
    graph = kinds(stats["by_path_kind"])
    assert graph["graph.managedDevices"] == graph["graph.detectedApps"] == 1
    assert graph["graph.mobileApps"] == 1
    batched_kinds = kinds(stats["batch"]["by_path_kind"])
    assert batched_kinds["graph.managedDevice"] == 3
    assert batched_kinds.get("graph.detectedAppDevices", 0) == (5 if path == "read" else 0)
    # The last run concluded what the whole read showed.
    assert last.devices.marked_deleted == 1 and last.apps.marked_deleted == 1
    inventory = harness.services.inventory
    [retired] = inventory.devices(found.tenant, DeviceFilter(retired=True))
    assert retired.id == gone_device and retired.retired_at is not None
    stored = inventory.device(found.tenant, device)
    assert stored is not None and stored[1] is not None
    assert found.apps[0] in dict(stored[1].ended)
    removed = inventory.detected_apps_by_id(found.tenant)[gone_app]
    assert removed.removed and removed.removed_at is not None
    # The read is over: its checkpoint and parts are gone.
    assert not [e for e in harness.entities() if e["_table"].endswith("checkpoints")]
    assert services.tenants.get(found.tenant).device_state.health == Health.HEALTHY


class Killed(BaseException):
    """The worker's instance is recycled: nothing after this point runs."""


@pytest.mark.slow
def test_a_run_killed_mid_read_is_resumed_from_its_last_save(
    harness: Harness, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    partner = Partner(world)
    found = estate(partner, devices=6, apps=4)
    harness.start(TENANTSYNC_RUN_LEASE_SECONDS="1")
    connect(harness, partner)
    monkeypatch.setattr(cycle, "DETAIL_CHUNK", 2)
    monkeypatch.setattr(cycle, "SAVE_EVERY", 0.0)  # saved after every step and chunk
    real = batched.read_details
    calls: list[list[str]] = []

    def dies_on_the_third_chunk(batch: Any, ids: list[str], deadline: Any) -> Any:
        calls.append(ids)
        if len(calls) == 3:
            raise Killed
        return real(batch, ids, deadline)

    monkeypatch.setattr(cycle, "read_details", dies_on_the_third_chunk)
    assert harness.sim is not None
    with pytest.raises(Killed):
        harness.services.runner.run_one("devices", found.tenant, "cli")
    [dead] = harness.services.runs.recent(found.tenant, 1)
    assert dead.status == RunStatus.RUNNING  # nobody closed it: its worker is gone
    assert not list(harness.services.inventory.devices(found.tenant, DeviceFilter()))
    time.sleep(1.2)  # its lease runs out
    harness.sim.reset_stats()
    run = harness.services.runner.run_one("devices", found.tenant, "cli")
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert harness.services.runs.get(found.tenant, dead.run_id).error_code == "run_abandoned"
    # The listings and the apps' devices were not read again; of the details only the chunk
    # that was in flight when the worker died.
    stats = harness.sim.stats()
    assert "graph.managedDevices" not in kinds(stats["by_path_kind"])
    assert kinds(stats["batch"]["by_path_kind"]) == {"graph.managedDevice": 2}
    assert calls[3] == calls[2]
    stored = {d.id for d in harness.services.inventory.devices(found.tenant, DeviceFilter())}
    assert stored == set(found.devices)


@pytest.mark.slow
def test_a_queued_run_that_stops_part_way_queues_its_own_continuation(
    harness: Harness, world: World
) -> None:
    found = estate(Partner(world), devices=3, apps=3)
    harness.start(TENANTSYNC_RUN_TIME_BUDGET_SECONDS="0")
    connect(harness, found.partner)
    job = harness.services.starter.start(found.tenant, "devices", "http")
    ran = run_queued_jobs(harness, "devices")
    runs = sorted(harness.services.runs.recent(found.tenant, 20), key=lambda r: r.started_at)
    assert ran == len(runs) > 3
    assert runs[0].run_id == job.run_id
    assert all(r.error_code == "inventory_in_progress" for r in runs[:-1])
    assert runs[-1].status == RunStatus.SUCCEEDED
    assert harness.services.tenants.get(found.tenant).device_state.health == Health.HEALTHY
    assert len(list(harness.services.inventory.devices(found.tenant, DeviceFilter()))) == 3
    # A read in progress is no failure: the list of failed and partial runs leaves it out.
    listed, token = [], None
    while True:
        page, token = harness.services.runs.failures_page(
            since=runs[0].started_at - timedelta(minutes=1), page_size=100,
            continuation=token)
        listed += page
        if token is None:
            break
    assert [r for r in listed if r.tenant_id == found.tenant] == []


@pytest.mark.slow
def test_a_command_line_sync_goes_on_until_the_whole_read_is_done(
    harness: Harness, world: World
) -> None:
    found = estate(Partner(world), devices=3, apps=3)
    harness.start(TENANTSYNC_RUN_TIME_BUDGET_SECONDS="0")
    connect(harness, found.partner)
    [run] = harness.services.runner.run_many("devices", [found.tenant], "cli",
                                            RunOptions())
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert len(harness.services.runs.recent(found.tenant, 20)) > 3


@pytest.mark.slow
def test_the_documented_command_line_sync_of_one_tenant_goes_on_until_the_read_is_done(
    harness: Harness, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # docs/inventory.md: "the command line runs it at once" (`sync devices --tenant-id T`).
    found = estate(Partner(world), devices=3, apps=3)
    harness.start(TENANTSYNC_RUN_TIME_BUDGET_SECONDS="0")
    connect(harness, found.partner)
    done = Cli(capsys)("sync", "devices", "--tenant-id", found.tenant, "--json")
    assert done.code == 0, done.out + done.err
    last = done.json()
    assert last["status"] == "succeeded" and not last["errorCode"]
    runs = harness.services.runs.recent(found.tenant, 20)
    assert len(runs) > 3 and runs[0].run_id == last["runId"]
    assert all(r.error_code == "inventory_in_progress" for r in runs[1:])
    assert len(list(harness.services.inventory.devices(found.tenant, DeviceFilter()))) == 3
    assert harness.services.tenants.get(found.tenant).device_state.health == Health.HEALTHY
    told = Cli(capsys)("sync", "devices", "--tenant-id", found.tenant, "--full")  # people
    said = [line for line in told.out.splitlines() if not line.startswith(" ")]
    assert told.code == 0 and len(said) > 3, told.out
    assert said[0].startswith("partial: ") and said[-1].startswith("succeeded: "), told.out
