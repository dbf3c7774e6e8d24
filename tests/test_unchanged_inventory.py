"""An unchanged tenant's device sync loads nothing stored, and still finds any change
(docs/inventory.md, "An unchanged tenant")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from functions.core.model import RunOptions, RunStatus, SyncKind
from functions.devices.unchanged import FORMAT, known_device_listing
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
