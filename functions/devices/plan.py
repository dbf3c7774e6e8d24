"""The device sync's decisions as pure functions: an inventory + what is stored -> changes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from functions.core import changes as ch
from functions.core.changes import Change, record_version
from functions.core.model import ChangeCounts
from functions.devices.model import DetectedAppRecord, DeviceRecord, Inventory, ManagedAppRecord


@dataclass
class StoredInventory:
    devices: dict[str, DeviceRecord] = field(default_factory=dict)
    detected_apps: dict[str, DetectedAppRecord] = field(default_factory=dict)
    managed_apps: dict[str, ManagedAppRecord] = field(default_factory=dict)
    # Where they are stored (the inventory table's bucket count, 0 when nothing is, and
    # rows left over from an earlier layout); the diff never looks at it.
    buckets: int = 0
    stale_rows: list[str] = field(default_factory=list)


@dataclass
class InventoryChanges:
    devices: list[DeviceRecord] = field(default_factory=list)
    detected_apps: list[DetectedAppRecord] = field(default_factory=list)
    managed_apps: list[ManagedAppRecord] = field(default_factory=list)
    device_counts: ChangeCounts = field(default_factory=ChangeCounts)
    app_counts: ChangeCounts = field(default_factory=ChangeCounts)
    # What each written record's change is (the change feed's entries).
    entries: list[Change] = field(default_factory=list)

    @property
    def entity_count(self) -> int:
        return len(self.devices) + len(self.detected_apps) + len(self.managed_apps)


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


def plan_inventory_changes(
    inventory: Inventory, stored: StoredInventory, now: datetime
) -> InventoryChanges:
    """Devices gone from a complete listing are retired; apps gone are marked removed.

    Nothing is retired or removed from an incomplete listing.
    """
    changes = InventoryChanges()
    _plan(inventory.devices, stored.devices, inventory.devices_complete, now,
          "retired", "retired_at", changes.devices, changes.device_counts)
    _plan(inventory.detected_apps, stored.detected_apps, inventory.detected_apps_complete, now,
          "removed", "removed_at", changes.detected_apps, changes.app_counts)
    _plan(inventory.managed_apps, stored.managed_apps, inventory.managed_apps_complete, now,
          "removed", "removed_at", changes.managed_apps, changes.app_counts)
    # Every written record carries the time of this run; the feed says what it did.
    changes.devices = [replace(d, changed_at=now) for d in changes.devices]
    changes.detected_apps = [replace(a, changed_at=now) for a in changes.detected_apps]
    changes.managed_apps = [replace(a, changed_at=now) for a in changes.managed_apps]
    for entity, written, before, flag, kinds in (
        (ch.DEVICE, changes.devices, stored.devices, "retired", _DEVICE_KINDS),
        (ch.DETECTED_APP, changes.detected_apps, stored.detected_apps, "removed", _APP_KINDS),
        (ch.MANAGED_APP, changes.managed_apps, stored.managed_apps, "removed", _APP_KINDS),
    ):
        for record in written:
            kind = _kind(record, before.get(record.id), flag, kinds)
            changes.entries.append(Change(entity, record.id, kind, record.name,
                                          record_version(record)))
    return changes


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
