"""Software per device, details kept or read, checkpoints and the parts of a read (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from functions.devices.checkpoint import EXPORT_PATH, READ_PATH, Checkpoint, Step
from functions.devices.model import DetectedAppRecord, DeviceSoftware, Inventory
from functions.devices.parts import assemble, decode, encode, links_of, listing_parts
from functions.devices.plan import StoredInventory, plan_inventory_changes, with_details
from tests.unit.test_packed import a_device

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BEFORE = "2026-11-01T00:00:00+00:00"


def _read(software: dict[str, tuple[str, ...]], *, complete: bool = True,
          devices: int = 3) -> Inventory:
    return Inventory(devices={a_device(i).id: a_device(i) for i in range(devices)},
                     software=software, devices_complete=True, software_complete=complete)


def test_links_start_end_with_the_time_and_come_back() -> None:
    d0, d1, d2 = (a_device(i).id for i in range(3))
    stored = StoredInventory(
        devices={a_device(i).id: a_device(i) for i in range(3)},
        software={d0: DeviceSoftware(d0, ("a", "b")),
                  d1: DeviceSoftware(d1, ("c",), (("a", BEFORE),))})
    changes = plan_inventory_changes(_read({d0: ("a",), d1: ("a", "c"), d2: ("z",)}), stored,
                                     NOW)
    by_id = {s.id: s for s in changes.software}
    ended_at = "2026-12-01T12:00:00.000000+00:00"
    assert by_id[d0] == DeviceSoftware(d0, ("a",), (("b", ended_at),))
    assert by_id[d1] == DeviceSoftware(d1, ("a", "c"))  # a came back
    assert by_id[d2] == DeviceSoftware(d2, ("z",))  # a new device's first software
    assert changes.links_ended == 1
    # Each device's record is unchanged: its software made it an updated device.
    assert (changes.device_counts.updated, changes.device_counts.unchanged) == (3, 0)
    again = plan_inventory_changes(_read({d0: ("a", "b")}, devices=2), stored, NOW)
    assert (again.device_counts.updated, again.device_counts.unchanged) == (1, 1)


def test_an_incomplete_read_of_software_ends_no_link() -> None:
    d0 = a_device(0).id
    stored = StoredInventory(devices={d0: a_device(0)},
                             software={d0: DeviceSoftware(d0, ("a", "b"))})
    changes = plan_inventory_changes(_read({d0: ("c",)}, complete=False, devices=1), stored, NOW)
    assert changes.software == [DeviceSoftware(d0, ("a", "b", "c"))]
    assert changes.links_ended == 0
    unchanged = plan_inventory_changes(_read({d0: ("a",)}, complete=False, devices=1),
                                       stored, NOW)
    assert unchanged.software == []


def test_details_are_those_read_else_those_stored() -> None:
    device = a_device(0)
    stored = replace(device, physical_memory_bytes=8, udid="U", details_as_of="earlier",
                     processor_architecture="arm64")
    read = Inventory(devices={device.id: device},
                     details={device.id: (16, "MAC", "ICC", "U2", "Profile", "2.0")})
    merged = with_details(read, {device.id: stored})[device.id]
    assert (merged.physical_memory_bytes, merged.ethernet_mac, merged.udid) == (16, "MAC", "U2")
    assert merged.details_as_of == device.last_sync_at
    assert merged.processor_architecture == "arm64"  # not exported this time: kept
    kept = with_details(Inventory(devices={device.id: device}), {device.id: stored})[device.id]
    assert kept == replace(stored, ethernet_mac=None, iccid=None)
    assert with_details(Inventory(devices={device.id: device}), {})[device.id] == device


def test_a_checkpoint_round_trips_and_walks_its_path() -> None:
    cp = Checkpoint.start(NOW, READ_PATH)
    assert cp.step == Step.DEVICES
    for step in (Step.DETECTED_APPS, Step.MANAGED_APPS, Step.SOFTWARE, Step.DETAILS,
                 Step.APPLY):
        cp.advance()
        assert cp.step == step
    cp.parts = {"links": ["devices.x.links.1"]}
    cp.paced = [[1.5, 20]]
    back = Checkpoint.from_json(cp.to_json())
    assert back == cp
    export = Checkpoint.start(NOW, EXPORT_PATH)
    export.advance(), export.advance(), export.advance()
    assert export.step == Step.EXPORTS
    export.jobs = {"AppInvRawData": "job"}
    export.switch_to_reads()
    assert (export.path, export.step, export.jobs) == (READ_PATH, Step.SOFTWARE, {})
    assert Checkpoint.from_json("{}") is None and Checkpoint.from_json("not json") is None


def test_progress_says_how_far_the_read_got() -> None:
    cp = Checkpoint.start(NOW, READ_PATH)
    cp.step, cp.devices, cp.apps, cp.apps_read = Step.SOFTWARE, 20_000, 3_000, 1_200
    cp.runs = 2
    text = cp.progress()
    assert "run 2 of this read" in text
    assert "listed 20,000 devices and 3,000 detected apps" in text
    assert "read the devices of 1,200 of 3,000 apps" in text
    cp.step, cp.details_wanted, cp.details_read = Step.DETAILS, 20_000, 12_000
    assert "read the details of 12,000 of 20,000 devices" in cp.progress()


def test_parts_round_trip_and_assemble_into_an_inventory() -> None:
    devices = [a_device(i) for i in (3, 1, 2)]
    [listed] = listing_parts("devices", devices)
    assert [d.id for d in listed] == sorted(d.id for d in devices)
    assert decode("devices", encode("devices", listed)) == listed
    links = links_of({0: [2, 0], 4: [1], 3: []})
    assert {a: list(p) for a, p in links.items()} == {0: [0, 2], 4: [1]}
    assert decode("links", encode("links", links)) == links
    rows = {2: (16, None, "I", None, None, "2.0")}
    assert decode("details", encode("details", rows)) == rows
    apps = [DetectedAppRecord(f"app{n}", f"App {n}", "1", None, None, None, None)
            for n in range(5)]
    inventory = Inventory()
    assemble(inventory, {"devices": [listed], "detectedapps": [apps], "links": [links],
                         "details": [rows]})
    ordered = sorted(d.id for d in devices)
    assert inventory.software == {ordered[0]: ("app0",), ordered[2]: ("app0",),
                                  ordered[1]: ("app4",)}
    assert inventory.details == {ordered[2]: rows[2]}
    again = Inventory()
    assemble(again, {"devices": [listed], "detectedapps": [apps],
                     "links": [links_of({0: [0, 2]}), links_of({4: [1]})]})
    assert again.software == inventory.software  # however the links were cut into parts
    changed = Inventory()
    assemble(changed, {"devices": [listed], "detectedapps": [apps],
                       "links": [links_of({0: [0]}), links_of({4: [1]})]})
    assert changed.software != inventory.software


def test_a_device_s_software_is_in_app_id_order_however_the_parts_and_listing_come() -> None:
    [listed] = listing_parts("devices", [a_device(i) for i in range(3)])
    apps = [DetectedAppRecord(f"app{n}", f"App {n}", "1", None, None, None, None)
            for n in range(4)]
    inventory = Inventory()  # parts in reverse app order
    assemble(inventory, {"devices": [listed], "detectedapps": [apps],
                         "links": [links_of({3: [0, 1], 2: [0]}), links_of({0: [0], 1: [1]})]})
    assert inventory.software == {listed[0].id: ("app0", "app2", "app3"),
                                  listed[1].id: ("app1", "app3")}
    unordered = Inventory()  # a listing not in id order (only ever hand-made) is sorted too
    assemble(unordered, {"devices": [listed], "detectedapps": [apps[::-1]],
                         "links": [links_of({0: [0], 1: [0, 1], 3: [0]})]})
    assert unordered.software == {listed[0].id: ("app0", "app2", "app3"),
                                  listed[1].id: ("app2",)}


def test_details_of_another_length_than_the_fields_are_refused() -> None:
    device = a_device(0)
    short = Inventory(devices={device.id: device}, details={device.id: (1, 2)})
    with pytest.raises(ValueError, match="2 details read for 6 fields"):
        with_details(short, {}, NOW)


def test_written_records_are_the_planned_ones_with_the_run_time() -> None:
    # The plan re-stamps records by position, so changed_at must be each type's last field.
    stored = StoredInventory(devices={a_device(0).id: a_device(0)},
                             detected_apps={"old": DetectedAppRecord("old", "Old", "1", None,
                                                                     None, 1, None)})
    app = DetectedAppRecord("new", "New", "2", "Contoso", "windows", 3, 10)
    read = Inventory(devices={a_device(i).id: replace(a_device(i), name=f"renamed {i}")
                              for i in range(2)},
                     detected_apps={"new": app}, devices_complete=True,
                     detected_apps_complete=True, software_complete=True)
    changes = plan_inventory_changes(read, stored, NOW)
    for record in [*changes.devices, *changes.detected_apps]:
        assert record.changed_at == NOW
    assert {d.id: d.name for d in changes.devices} == {
        a_device(0).id: "renamed 0", a_device(1).id: "renamed 1"}
    assert changes.detected_apps == [app, replace(stored.detected_apps["old"], removed=True,
                                                  removed_at=NOW)]
    assert [a.removed for a in changes.detected_apps] == [False, True]


def test_devices_read_with_details_are_written_once_stamped_with_the_run_time() -> None:
    # with_details builds these with changed_at=now; the plan keeps them as built.
    old = replace(a_device(0), physical_memory_bytes=8, details_as_of=a_device(0).last_sync_at)
    details = (16, "MAC", "ICC", "U2", "Profile", "2.0")
    read = Inventory(devices={a_device(i).id: a_device(i) for i in range(2)},
                     details={a_device(i).id: details for i in range(2)},
                     devices_complete=True, software_complete=True)
    changes = plan_inventory_changes(read, StoredInventory(devices={old.id: old}), NOW)
    assert sorted(d.id for d in changes.devices) == sorted(a_device(i).id for i in range(2))
    for device in changes.devices:
        assert device.changed_at == NOW
        assert (device.physical_memory_bytes, device.udid) == (16, "U2")
    assert (changes.device_counts.created, changes.device_counts.updated) == (1, 1)
    # The same details again: nothing to write, whatever changed_at the rebuilt record has.
    stored = StoredInventory(devices={d.id: replace(d, changed_at=None)
                                      for d in changes.devices})
    assert plan_inventory_changes(read, stored, NOW).devices == []
