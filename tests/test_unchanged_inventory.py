"""An unchanged tenant's device sync loads nothing stored, and still finds any change
(docs/inventory.md, "An unchanged tenant")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from functions.core.config import Settings
from functions.core.model import Run, RunOptions, RunStatus, SyncKind
from functions.devices import cycle
from functions.devices.unchanged import FORMAT, known_device_listing
from functions.services import Services
from functions.storage.meter import operations_by_table
from tests.conftest import Harness
from tests.inventory import Estate, started
from tests.world import World


def sync(harness: Harness, tenant_id: str, **kwargs: Any):  # type: ignore[no-untyped-def]
    return harness.services.runner.run_one("devices", tenant_id, "cli", RunOptions(**kwargs))


def inventory_reads(during: Callable[[], Any]) -> tuple[Any, int]:
    """What ``during`` returned, and how many requests it sent to read the inventory table
    (counted by the storage layer's meter)."""
    def reads() -> int:
        return sum(n for (method, table), n in operations_by_table().items()
                   if method == "GET" and table.endswith("inventory"))

    before = reads()
    result = during()
    return result, reads() - before


def fingerprint_of(harness: Harness, tenant_id: str) -> str:
    tenant = harness.services.tenants.find(tenant_id)
    assert tenant is not None
    return tenant.state(SyncKind.DEVICES).fingerprint


def synced_twice(harness: Harness, world: World) -> Estate:
    found = started(harness, world)
    first, loaded = inventory_reads(lambda: sync(harness, found.tenant))
    assert first.status == RunStatus.SUCCEEDED and loaded > 0  # a first sync compares
    assert known_device_listing(fingerprint_of(harness, found.tenant))
    return found


def test_an_unchanged_resync_loads_no_stored_record_and_full_still_compares(
    harness: Harness, world: World
) -> None:
    found = synced_twice(harness, world)
    again, loaded = inventory_reads(lambda: sync(harness, found.tenant))
    assert again.status == RunStatus.SUCCEEDED and again.entities_written == 0
    assert again.devices.unchanged == 4
    assert loaded == 0
    full, loaded = inventory_reads(lambda: sync(harness, found.tenant, full=True))
    assert full.status == RunStatus.SUCCEEDED and full.entities_written == 0
    assert loaded > 0


def test_a_fingerprint_of_another_format_is_compared_in_full(
    harness: Harness, world: World
) -> None:
    found = synced_twice(harness, world)
    tenant = harness.services.tenants.find(found.tenant)
    assert tenant is not None
    state = tenant.state(SyncKind.DEVICES)
    old = state.fingerprint
    state.fingerprint = old.replace(f"{FORMAT}.", "inv0.", 1)  # as an older version kept it
    harness.services.tenants.save_state(tenant, SyncKind.DEVICES)
    again, loaded = inventory_reads(lambda: sync(harness, found.tenant))
    assert again.status == RunStatus.SUCCEEDED and again.entities_written == 0
    assert loaded > 0
    assert fingerprint_of(harness, found.tenant) == old  # this version's, once compared


def test_one_device_s_software_changed_after_fingerprints_is_found_and_written(
    harness: Harness, world: World
) -> None:
    found = synced_twice(harness, world)
    assert harness.sim is not None
    device, app = found.devices[3], found.apps[2]
    entry = found.device(3)
    entry["detected_apps"] = [a for a in found.links[device] if a != app]
    harness.sim.upsert_object(found.tenant, "managed_devices", {"id": device, **entry})
    run = sync(harness, found.tenant)
    assert run.status == RunStatus.SUCCEEDED and run.entities_written > 0
    assert run.devices.updated == 1
    stored = harness.services.inventory.device(found.tenant, device)
    assert stored is not None and stored[1] is not None
    assert app not in stored[1].apps
    assert [ended for ended, _ in stored[1].ended] == [app]


def test_one_device_s_details_changed_with_its_check_in_are_found_and_written(
    harness: Harness, world: World
) -> None:
    found = synced_twice(harness, world)
    assert harness.sim is not None
    entry = found.device(1)
    entry.update(lastSyncDateTime="2026-12-02T10:00:00Z", physicalMemoryInBytes=68_719_476_736)
    harness.sim.upsert_object(found.tenant, "managed_devices", {"id": found.devices[1], **entry})
    run, loaded = inventory_reads(lambda: sync(harness, found.tenant))
    assert run.status == RunStatus.SUCCEEDED and run.devices.updated == 1
    assert loaded > 0  # a check-in: the stored check-in times are compared
    stored = harness.services.inventory.device(found.tenant, found.devices[1])
    assert stored is not None
    assert stored[0].physical_memory_bytes == 68_719_476_736
    assert stored[0].details_as_of == "2026-12-02T10:00:00Z"
    # And the next unchanged run loads nothing again.
    again, loaded = inventory_reads(lambda: sync(harness, found.tenant))
    assert again.entities_written == 0 and loaded == 0


def listed_as(fingerprint: str) -> str:
    """The three listings' digest in a fingerprint (its last part)."""
    return fingerprint.rsplit(".", 1)[-1]


def app_moved(harness: Harness, found: Estate) -> tuple[str, str, str]:
    """App 2 leaves device 2 for device 1: every listing (and every app's device count)
    stays as it was; only the apps' devices differ. Returns the app and both devices."""
    assert harness.sim is not None
    app, gains, loses = found.apps[2], found.devices[1], found.devices[2]
    for n, apps in ((1, [*found.links[gains], app]),
                    (2, [a for a in found.links[loses] if a != app])):
        entry = found.device(n)
        entry["detected_apps"] = apps
        harness.sim.upsert_object(found.tenant, "managed_devices",
                                  {"id": found.devices[n], **entry})
    return app, gains, loses


def software_of(harness: Harness, tenant: str, device: str) -> set[str]:
    stored = harness.services.inventory.device(tenant, device)
    assert stored is not None and stored[1] is not None
    return set(stored[1].apps)


@pytest.mark.parametrize("cut", [False, True], ids=["one run", "cut at every step"])
def test_an_app_moved_between_devices_with_every_listing_unchanged_is_found(
    harness: Harness, world: World, monkeypatch: pytest.MonkeyPatch, cut: bool
) -> None:
    found = synced_twice(harness, world)
    known = fingerprint_of(harness, found.tenant)
    app, gains, loses = app_moved(harness, found)
    services = harness.services
    if cut:  # each run reads one step or chunk (2 apps), saves it, and the next goes on
        monkeypatch.setattr(cycle, "APP_CHUNK", 2)
        services = Services(Settings.from_env(
            {**harness.env, "TENANTSYNC_RUN_TIME_BUDGET_SECONDS": "0"}))
    run = services.runner.run_one("devices", found.tenant, "cli")
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.devices.updated == 2 and run.entities_written > 0
    assert app in software_of(harness, found.tenant, gains)
    assert app not in software_of(harness, found.tenant, loses)
    now = fingerprint_of(harness, found.tenant)
    # Listed exactly as before (the read held the apps' devices), yet a new fingerprint.
    assert listed_as(now) == listed_as(known) and now != known
    again, loaded = inventory_reads(lambda: sync(harness, found.tenant))
    assert again.entities_written == 0 and loaded == 0


def test_an_unchanged_read_cut_at_every_step_still_writes_and_loads_nothing(
    harness: Harness, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = synced_twice(harness, world)
    known = fingerprint_of(harness, found.tenant)
    monkeypatch.setattr(cycle, "APP_CHUNK", 2)
    services = Services(Settings.from_env(
        {**harness.env, "TENANTSYNC_RUN_TIME_BUDGET_SECONDS": "0"}))
    runs: list[Run] = []
    last, loaded = inventory_reads(lambda: services.runner.run_one(
        "devices", found.tenant, "cli", on_run=runs.append))
    assert last.status == RunStatus.SUCCEEDED and last.entities_written == 0, last.error
    assert len(runs) > 3 and last.devices.unchanged == 4  # saved (and resumed) on the way
    assert loaded == 0 and fingerprint_of(harness, found.tenant) == known


def test_a_failed_app_read_while_the_listings_are_unchanged_concludes_nothing(
    harness: Harness, world: World
) -> None:
    found = synced_twice(harness, world)
    assert harness.sim is not None
    app = found.apps[1]
    before = {d: software_of(harness, found.tenant, d) for d in found.devices}
    harness.sim.set_faults([
        {"match": {"path_contains": f"/detectedApps/{app}/managedDevices"},
         "kind": "status", "status": 500}])
    run = sync(harness, found.tenant)
    harness.sim.clear_faults()
    assert run.status == RunStatus.PARTIAL and run.entities_written == 0
    assert {d: software_of(harness, found.tenant, d) for d in found.devices} == before
    assert fingerprint_of(harness, found.tenant) == ""  # the next read compares in full
    again, loaded = inventory_reads(lambda: sync(harness, found.tenant))
    assert again.status == RunStatus.SUCCEEDED and again.entities_written == 0
    assert loaded > 0 and known_device_listing(fingerprint_of(harness, found.tenant))


def test_an_app_renamed_with_every_device_listed_as_before_is_found(
    harness: Harness, world: World
) -> None:
    found = synced_twice(harness, world)
    assert harness.sim is not None
    known = fingerprint_of(harness, found.tenant)
    app = found.apps[1]
    renamed = {**found.intune["detected_apps"][app], "id": app, "displayName": "Renamed"}
    harness.sim.upsert_object(found.tenant, "detected_apps", renamed)
    run, loaded = inventory_reads(lambda: sync(harness, found.tenant))
    assert run.status == RunStatus.SUCCEEDED and run.apps.updated == 1, run.error
    assert run.devices.updated == 0 and run.devices.unchanged == 4 and loaded > 0
    assert harness.services.inventory.detected_apps_by_id(found.tenant)[app].name == "Renamed"
    assert {d: software_of(harness, found.tenant, d) for d in found.devices} == {
        d: set(found.links[d]) for d in found.devices}
    now = fingerprint_of(harness, found.tenant)
    assert known_device_listing(now) == known_device_listing(known) and now != known


def test_a_device_listing_too_large_to_hold_is_made_records_at_once_with_the_same_outcome(
    harness: Harness, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = synced_twice(harness, world)
    known = fingerprint_of(harness, found.tenant)
    monkeypatch.setattr(cycle, "RAW_DEVICES", 2)  # the tenant has 4
    again, loaded = inventory_reads(lambda: sync(harness, found.tenant))
    assert again.status == RunStatus.SUCCEEDED and again.entities_written == 0
    assert again.devices.unchanged == 4 and loaded == 0
    assert fingerprint_of(harness, found.tenant) == known
    app, gains, loses = app_moved(harness, found)
    run = sync(harness, found.tenant)
    assert run.status == RunStatus.SUCCEEDED and run.devices.updated == 2
    assert app in software_of(harness, found.tenant, gains)
    assert app not in software_of(harness, found.tenant, loses)
