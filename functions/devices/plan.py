"""The device sync's decisions as pure functions: an inventory + what is stored -> changes."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from operator import attrgetter, itemgetter
from typing import Any

from functions.core import changes as ch
from functions.core.changes import Change, record_versions
from functions.core.model import ChangeCounts, iso
from functions.devices.model import (
    DETAIL_FIELDS,
    EXTRA_FIELDS,
    DetectedAppRecord,
    DeviceRecord,
    DeviceSoftware,
    Inventory,
    ManagedAppRecord,
    SavedRead,
)


@dataclass
class StoredInventory:
    devices: dict[str, DeviceRecord] = field(default_factory=dict)
    detected_apps: dict[str, DetectedAppRecord] = field(default_factory=dict)
    managed_apps: dict[str, ManagedAppRecord] = field(default_factory=dict)
    software: dict[str, DeviceSoftware] = field(default_factory=dict)
    # Where they are stored (the inventory table's bucket count, 0 when nothing is, and
    # rows left over from an earlier layout); the diff never looks at it.
    buckets: int = 0
    stale_rows: list[str] = field(default_factory=list)


@dataclass
class InventoryChanges:
    devices: list[DeviceRecord] = field(default_factory=list)
    detected_apps: list[DetectedAppRecord] = field(default_factory=list)
    managed_apps: list[ManagedAppRecord] = field(default_factory=list)
    software: list[DeviceSoftware] = field(default_factory=list)
    device_counts: ChangeCounts = field(default_factory=ChangeCounts)
    app_counts: ChangeCounts = field(default_factory=ChangeCounts)
    # What each written record's change is (the change feed's entries).
    entries: list[Change] = field(default_factory=list)
    links_ended: int = 0  # apps no longer found on a device (kept, marked with the time)
    saved: SavedRead | None = None  # the progress of the read they came from

    @property
    def entity_count(self) -> int:
        return (len(self.devices) + len(self.detected_apps) + len(self.managed_apps)
                + len(self.software))


def _plan(
    seen: dict[str, Any], stored: dict[str, Any], complete: bool, now: datetime,
    flag: str, when: str, out: list[Any], counts: ChangeCounts,
) -> None:
    """Create, update, restore what was seen; mark what vanished, only after a complete list."""
    for key, new in seen.items():
        counts.seen(new, stored.get(key), out, mark=flag)
    if not complete:
        return
    for key, old in stored.items():
        if key not in seen and not getattr(old, flag):
            out.append(replace(old, **{flag: True, when: now}))
            counts.marked_deleted += 1


_FIELDS = tuple(f.name for f in fields(DeviceRecord))
_ALL = attrgetter(*_FIELDS)
# What the list gives (the rest are details, export columns and our own marks).
_LISTED = attrgetter(*(name for name in _FIELDS if name not in
                       {*DETAIL_FIELDS, *EXTRA_FIELDS, "details_as_of", "retired", "retired_at"}))
_DETAILS = attrgetter(*DETAIL_FIELDS, "details_as_of")
_EXTRAS = attrgetter(*EXTRA_FIELDS)
# A built record's fields from (the listed record's fields, then its details and their
# check-in, its export columns, changed_at): which of those each field takes, in order.
_TAKE = {name: n for n, name in enumerate(_FIELDS)}
_TAKE.update({name: len(_FIELDS) + n for n, name in
              enumerate((*DETAIL_FIELDS, "details_as_of", *EXTRA_FIELDS, "changed_at"))})
_BUILT = itemgetter(*(_TAKE[name] for name in _FIELDS))


def with_details(inventory: Inventory, stored: dict[str, DeviceRecord],
                 now: datetime | None = None) -> dict[str, DeviceRecord]:
    """The listed devices with their details: read this time (as of the check-in the list
    gives), else as stored; the export columns likewise. A device built anew here carries
    ``changed_at=now`` already (it is written only if it changed; then it needs no second
    copy to be stamped)."""
    merged: dict[str, DeviceRecord] = {}
    details, extras = inventory.details, inventory.extras
    for device_id, listed in inventory.devices.items():
        old = stored.get(device_id)
        read, exported = details.get(device_id), extras.get(device_id)
        if (old is not None and read is None and exported is None and not old.retired
                and _LISTED(listed) == _LISTED(old)):
            merged[device_id] = old  # as stored: nothing of it was read anew
            continue
        if old is None and read is None and exported is None:
            merged[device_id] = listed
            continue
        source = old if old is not None else listed
        if read is None:
            found = _DETAILS(source)
        elif len(read) == len(DETAIL_FIELDS):
            found = (*read, listed.last_sync_at)
        else:
            raise ValueError(f"{len(read)} details read for {len(DETAIL_FIELDS)} fields")
        if exported is None:
            exported = _EXTRAS(source)
        elif len(exported) != len(EXTRA_FIELDS):
            raise ValueError(f"{len(exported)} export columns for {len(EXTRA_FIELDS)} fields")
        # One C call picks every field (about half the time of setting them one by one).
        merged[device_id] = DeviceRecord(*_BUILT((*_ALL(listed), *found, *exported, now)))
    return merged


def plan_software(
    inventory: Inventory, stored: dict[str, DeviceSoftware], now: datetime
) -> tuple[list[DeviceSoftware], int]:
    """Each listed device's software as found, and how many links ended.

    An app found on a device before and not now ends its link (kept, with the time), only
    when every app's devices were read; an app found again restores it. Devices not listed
    keep what they had.
    """
    changed: list[DeviceSoftware] = []
    ended_count = 0
    complete = inventory.software_complete
    when = iso(now)
    for device_id in inventory.devices:
        found = inventory.software.get(device_id, ())
        old = stored.get(device_id)
        if old is None:
            if found:
                changed.append(DeviceSoftware(device_id, found))
            continue
        apps = found if complete else tuple(sorted(set(old.apps) | set(found)))
        current = set(apps)
        gone = [(app, when) for app in old.apps if app not in current]
        ended = tuple(sorted([e for e in old.ended if e[0] not in current] + gone))
        new = DeviceSoftware(device_id, apps, ended)
        if new != old:
            changed.append(new)
            ended_count += len(gone)
    return changed, ended_count


def plan_inventory_changes(
    inventory: Inventory, stored: StoredInventory, now: datetime
) -> InventoryChanges:
    """Devices gone from a complete listing are retired; apps gone are marked removed; apps
    gone from a device end their link there.

    Nothing is retired, removed or ended from an incomplete read.
    """
    changes = InventoryChanges(saved=inventory.saved)  # ended once they are written
    devices = with_details(inventory, stored.devices, now)
    _plan(devices, stored.devices, inventory.devices_complete, now,
          "retired", "retired_at", changes.devices, changes.device_counts)
    _plan(inventory.detected_apps, stored.detected_apps, inventory.detected_apps_complete, now,
          "removed", "removed_at", changes.detected_apps, changes.app_counts)
    _plan(inventory.managed_apps, stored.managed_apps, inventory.managed_apps_complete, now,
          "removed", "removed_at", changes.managed_apps, changes.app_counts)
    changes.software, changes.links_ended = plan_software(inventory, stored.software, now)
    # A device whose software alone changed is an updated device.
    counted = {d.id for d in changes.devices}
    software_only = sum(1 for s in changes.software
                        if s.id not in counted and s.id in stored.devices)
    changes.device_counts.updated += software_only
    changes.device_counts.unchanged -= software_only
    # Every written record carries the time of this run; the feed says what it did.
    changes.devices = _stamped(changes.devices, now)
    changes.detected_apps = _stamped(changes.detected_apps, now)
    changes.managed_apps = _stamped(changes.managed_apps, now)
    entries = changes.entries
    for entity, written, before, flag, kinds in (
        (ch.DEVICE, changes.devices, stored.devices, "retired", _DEVICE_KINDS),
        (ch.DETECTED_APP, changes.detected_apps, stored.detected_apps, "removed", _APP_KINDS),
        (ch.MANAGED_APP, changes.managed_apps, stored.managed_apps, "removed", _APP_KINDS),
    ):
        records: list[Any] = written
        entries.extend(Change(entity, r.id, _kind(r, before.get(r.id), flag, kinds), r.name, v)
                       for r, v in zip(records, record_versions(records), strict=True))
    # A device's software changed (apps found on it, links ended): one entry per device,
    # whose record (GET .../devices/{id}) lists its software now.
    entries.extend(Change(ch.DEVICE_SOFTWARE, software.id, ch.CHANGED, "", version)
                   for software, version in zip(changes.software,
                                                record_versions(changes.software), strict=True))
    return changes


def _stamped(written: list[Any], now: datetime) -> list[Any]:
    """The records, each with ``changed_at=now`` (those ``with_details`` built carry it
    already and are kept as they are). Built by position, not with ``replace``
    (about half its time for a device's 40 fields): ``changed_at`` is every record's last
    field, which the test of this module checks."""
    if not written:
        return written
    record_type = type(written[0])
    others = _BUT_LAST[record_type]
    return [record if record.changed_at is now else record_type(*others(record), now)
            for record in written]


_BUT_LAST = {record_type: attrgetter(*[f.name for f in fields(record_type)][:-1])
             for record_type in (DeviceRecord, DetectedAppRecord, ManagedAppRecord)}

# (new, changed, gone, back) in each kind's words.
_DEVICE_KINDS = (ch.CREATED, ch.UPDATED, ch.RETIRED, ch.RESTORED)
_APP_KINDS = (ch.DETECTED, ch.CHANGED, ch.REMOVED, ch.RESTORED)


def _kind(record: Any, old: Any | None, flag: str, kinds: tuple[str, str, str, str]) -> str:
    if old is None:
        return kinds[0]
    if getattr(old, flag) and not getattr(record, flag):
        return kinds[3]
    if getattr(record, flag) and not getattr(old, flag):
        return kinds[2]
    return kinds[1]
