"""The device sync's decisions as pure functions: an inventory + what is stored -> changes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

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
    return changes
