"""Software per device and hardware details, against Azurite and the simulator: what is
stored, what is read (and what not), and how links end."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.core.model import RunOptions, RunStatus
from functions.devices.model import EXTRA_FIELDS, DeviceRecord
from functions.devices.store import DeviceFilter
from tests.conftest import Harness
from tests.inventory import DETAILS, Estate, connect, estate, started
from tests.world import Partner, World


def sync(harness: Harness, tenant_id: str, **kwargs: Any):  # type: ignore[no-untyped-def]
    return harness.services.runner.run_one("devices", tenant_id, "cli", RunOptions(**kwargs))


def by_kind(counts: dict[str, int]) -> dict[str, int]:
    """Request counts by path kind, whatever the method ("GET graph.x" -> "graph.x")."""
    found: dict[str, int] = {}
    for key, count in counts.items():
        kind = key.split(" ", 1)[-1]
        found[kind] = found.get(kind, 0) + count
    return found


def subrequests(harness: Harness) -> dict[str, int]:
    """Requests sent inside batches since the last reset, by path kind."""
    assert harness.sim is not None
    return by_kind(harness.sim.stats()["batch"]["by_path_kind"])


def software_of(harness: Harness, found: Estate) -> dict[str, tuple[str, ...]]:
    inventory = harness.services.inventory
    result = {}
    for device in found.devices:
        stored = inventory.device(found.tenant, device)
        assert stored is not None
        result[device] = stored[1].apps if stored[1] else ()
    return result


def devices_of(harness: Harness, found: Estate, app: str) -> set[str]:
    flt = DeviceFilter(apps=frozenset({app}))
    return {d.id for d in harness.services.inventory.devices(found.tenant, flt)}


def test_each_device_has_its_apps_and_each_app_its_devices_as_the_fixture_says(
    harness: Harness, world: World
) -> None:
    found = started(harness, world)
    assert harness.sim is not None
    harness.sim.reset_stats()
    run = sync(harness, found.tenant)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert software_of(harness, found) == {d: tuple(sorted(a)) for d, a in found.links.items()}
    for app in found.apps:
        assert devices_of(harness, found, app) == found.devices_of(app)
    # One read per app and one per device, all in batches; none throttled.
    assert subrequests(harness) == {"graph.detectedAppDevices": 5, "graph.managedDevice": 4}
    assert harness.sim.stats()["throttled"] == 0
    assert harness.sim.stats()["batch"]["throttled"] == 0


def test_hardware_details_come_from_a_single_read_and_never_the_unlock_code(
    harness: Harness, world: World
) -> None:
    found = started(harness, world)
    sync(harness, found.tenant)
    stored = harness.services.inventory.device(found.tenant, found.devices[0])
    assert stored is not None
    device = stored[0]
    assert device.physical_memory_bytes == DETAILS["physicalMemoryInBytes"]
    assert device.ethernet_mac == DETAILS["ethernetMacAddress"]  # the list says null
    assert (device.iccid, device.udid) == (DETAILS["iccid"], DETAILS["udid"])
    assert device.enrollment_profile == "Autopilot corporate"
    assert device.tpm_version == "2.0"
    assert device.details_as_of == found.device(0)["lastSyncDateTime"]
    assert device.total_storage_bytes == 256_000_000_000 and device.is_encrypted
    # The read-only path has no export columns.
    assert all(getattr(device, name) is None for name in EXTRA_FIELDS)
    assert "NEVER-READ-ME" not in repr(harness.entities())
    other = harness.services.inventory.device(found.tenant, found.devices[1])
    assert other is not None and other[0].physical_memory_bytes is None
    assert other[0].details_as_of == found.device(1)["lastSyncDateTime"]


@pytest.mark.slow
def test_an_app_gone_from_a_device_ends_that_link_with_a_time_and_is_never_deleted(
    harness: Harness, world: World
) -> None:
    found = started(harness, world)
    sync(harness, found.tenant)
    device, app = found.devices[2], found.apps[1]
    assert harness.sim is not None
    entry = found.device(2)
    entry["detected_apps"] = [a for a in found.links[device] if a != app]
    harness.sim.upsert_object(found.tenant, "managed_devices", {"id": device, **entry})
    run = sync(harness, found.tenant)
    assert run.status == RunStatus.SUCCEEDED
    # The device itself is unchanged: its software is, so it counts as updated.
    assert (run.devices.updated, run.devices.marked_deleted) == (1, 0)
    stored = harness.services.inventory.device(found.tenant, device)
    assert stored is not None and stored[1] is not None
    assert app not in stored[1].apps
    [(ended_app, ended_at)] = stored[1].ended
    ended = datetime.fromisoformat(ended_at)
    assert ended_app == app and ended.tzinfo is not None
    assert run.started_at <= ended <= datetime.now(UTC)
    assert device not in devices_of(harness, found, app)
    assert devices_of(harness, found, app) == found.devices_of(app) - {device}
    # Found again: the link is back, and no longer ended.
    entry["detected_apps"] = found.links[device]
    harness.sim.upsert_object(found.tenant, "managed_devices", {"id": device, **entry})
    sync(harness, found.tenant)
    stored = harness.services.inventory.device(found.tenant, device)
    assert stored is not None and stored[1] is not None
    assert app in stored[1].apps and stored[1].ended == ()


def test_details_are_read_again_only_for_devices_that_checked_in(
    harness: Harness, world: World
) -> None:
    found = started(harness, world)
    sync(harness, found.tenant)
    assert harness.sim is not None
    checked_in, silent = found.device(0), found.device(1)
    checked_in.update(lastSyncDateTime="2026-12-01T09:00:00Z",
                      physicalMemoryInBytes=34_359_738_368)
    silent.update(physicalMemoryInBytes=8_589_934_592)  # no check-in: not read again
    for n, entry in ((0, checked_in), (1, silent)):
        harness.sim.upsert_object(found.tenant, "managed_devices",
                                  {"id": found.devices[n], **entry})
    harness.sim.reset_stats()
    run = sync(harness, found.tenant)
    assert run.status == RunStatus.SUCCEEDED
    assert subrequests(harness)["graph.managedDevice"] == 1
    first = harness.services.inventory.device(found.tenant, found.devices[0])
    second = harness.services.inventory.device(found.tenant, found.devices[1])
    assert first is not None and second is not None
    assert first[0].physical_memory_bytes == 34_359_738_368
    assert first[0].details_as_of == "2026-12-01T09:00:00Z"
    assert second[0].physical_memory_bytes is None  # kept as read (none), not re-read
    # Nothing changed since: no details are read at all, and nothing is written.
    harness.sim.reset_stats()
    again = sync(harness, found.tenant)
    assert "graph.managedDevice" not in subrequests(harness)
    assert again.entities_written == 0


@pytest.mark.slow
def test_a_batch_retries_only_its_throttled_and_failed_requests(
    harness: Harness, world: World
) -> None:
    found = started(harness, world)
    assert harness.sim is not None
    throttled_app, failing_device = found.apps[2], found.devices[3]
    harness.sim.set_faults([
        {"match": {"path_contains": f"/detectedApps/{throttled_app}/managedDevices"},
         "kind": "throttle", "retry_after": 0.3, "times": 2},
        {"match": {"path_contains": f"/managedDevices/{failing_device}"},
         "kind": "status", "status": 503, "retry_after": 0.1, "times": 1},
    ])
    harness.sim.reset_stats()
    run = sync(harness, found.tenant)
    assert run.status == RunStatus.SUCCEEDED, run.error
    # Each of the others once; the throttled one three times, the failed one twice.
    assert subrequests(harness) == {"graph.detectedAppDevices": 5 + 2,
                                    "graph.managedDevice": 4 + 1}
    statuses = harness.sim.stats()["batch"]["by_status"]
    assert (statuses["429"], statuses["503"]) == (2, 1)
    assert run.throttled == 2
    assert devices_of(harness, found, throttled_app) == found.devices_of(throttled_app)
    stored = harness.services.inventory.device(found.tenant, failing_device)
    assert stored is not None and stored[0].details_as_of is not None


@pytest.mark.slow
def test_the_pacing_keeps_a_tenant_inside_its_intune_budget_without_a_429(
    harness: Harness, world: World
) -> None:
    partner = Partner(world)
    found = estate(partner, devices=3, apps=8)
    world.fixture["throttling"] = {"enabled": True, "window_seconds": 1,
                                   "intune_devices_per_window": 6}
    # Our pacing told the same budget: 6 requests a second, every batched one counted.
    harness.start(TENANTSYNC_INTUNE_BUDGET="6", TENANTSYNC_INTUNE_WINDOW_SECONDS="1")
    connect(harness, partner)
    assert harness.sim is not None
    harness.sim.reset_stats()
    run = sync(harness, found.tenant)
    assert run.status == RunStatus.SUCCEEDED, run.error
    stats = harness.sim.stats()
    assert stats["budget_throttled"]["devices"] == 0
    assert stats["throttled"] == stats["batch"]["throttled"] == 0
    assert software_of(harness, found) == {d: tuple(sorted(a)) for d, a in found.links.items()}


def _masked(device: DeviceRecord) -> DeviceRecord:
    return replace(device, **dict.fromkeys(EXTRA_FIELDS))


@pytest.mark.slow
def test_a_tenant_that_may_export_reports_takes_the_export_path_with_the_same_records(
    harness: Harness, world: World
) -> None:
    partner = Partner(world)
    reader = estate(partner, "Reader")
    roles = ["Organization.Read.All", "DeviceManagementManagedDevices.ReadWrite.All",
             "DeviceManagementApps.Read.All"]
    exporter = estate(partner, "Exporter", roles=roles)
    # The same Intune data in both tenants.
    partner.customers[exporter.tenant]["intune"] = copy.deepcopy(reader.intune)
    exporter = Estate(partner, exporter.tenant, reader.devices, reader.apps, reader.links)
    harness.start()
    connect(harness, partner)
    assert harness.sim is not None
    figures = {}
    for found in (reader, exporter):
        harness.sim.reset_stats()
        run = sync(harness, found.tenant)
        assert run.status == RunStatus.SUCCEEDED, run.error
        figures[found.tenant] = harness.sim.stats()
    plain, exported = figures[reader.tenant], figures[exporter.tenant]
    # Read-only: one read per app, no export. Export path: two jobs, two downloads, and
    # not one read per app.
    assert by_kind(plain["batch"]["by_path_kind"])["graph.detectedAppDevices"] == 5
    assert "graph.exportJobs" not in by_kind(plain["by_path_kind"])
    assert "graph.detectedAppDevices" not in by_kind(exported["batch"]["by_path_kind"])
    assert by_kind(exported["by_path_kind"])["storage.export"] == 2
    assert by_kind(exported["by_path_kind"])["graph.exportJobs"] >= 4  # 2 creates, 2+ polls
    inventory = harness.services.inventory
    for device in reader.devices:
        plain_device, plain_software = inventory.device(reader.tenant, device) or (None, None)
        export_device, export_software = inventory.device(exporter.tenant, device) or (None, None)
        assert plain_device is not None and export_device is not None
        assert _masked(export_device) == _masked(plain_device)
        assert export_software == plain_software
    assert inventory.detected_apps_by_id(reader.tenant) == \
        inventory.detected_apps_by_id(exporter.tenant)
    first = inventory.device(exporter.tenant, reader.devices[0])
    assert first is not None
    assert (first[0].processor_architecture, first[0].tpm_manufacturer_id,
            first[0].tpm_manufacturer_version, first[0].bios_version) == (
        "x64", "1229346816", "7.2.1.0", "1.14.0")


def test_the_command_line_shows_a_device_with_its_software_and_an_app_with_its_devices(
    harness: Harness, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    from functions.cli import main

    found = started(harness, world)
    sync(harness, found.tenant)
    capsys.readouterr()
    assert main(["device", "--tenant-id", found.tenant, "--device-id", found.devices[1]]) == 0
    shown = capsys.readouterr().out
    assert "software (2 apps)" in shown
    names = [found.intune["detected_apps"][a]["displayName"] for a in found.links[found.devices[1]]]
    assert all(name in shown for name in names)
    assert main(["device", "--tenant-id", found.tenant, "--device-id", found.devices[0],
                 "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert one["physicalMemoryBytes"] == DETAILS["physicalMemoryInBytes"]
    assert [a["appId"] for a in one["software"]] == found.links[found.devices[0]]
    app = found.apps[2]
    assert main(["devices", "--tenant-id", found.tenant, "--app-id", app, "--json"]) == 0
    assert {d["id"] for d in json.loads(capsys.readouterr().out)} == found.devices_of(app)
    name = found.intune["detected_apps"][app]["displayName"]
    assert main(["devices", "--tenant-id", found.tenant, "--app-name", name.upper(),
                 "--json"]) == 0
    assert {d["id"] for d in json.loads(capsys.readouterr().out)} == found.devices_of(app)
    assert main(["devices", "--tenant-id", found.tenant, "--app-version", "1.0"]) == 2
    assert main(["device", "--tenant-id", found.tenant,
                 "--device-id", "11111111-2222-3333-4444-555555555555"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and all(e.startswith("tenantsync: error: ") for e in errors)
    assert "--app-name" in errors[0] and "not among" in errors[1]
