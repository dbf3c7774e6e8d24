"""The device and software sync as the engine runs it: a customer tenant's organization,
managed devices, detected apps and managed apps (the engine owns the run's life; see
``functions.sync.slice``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from functions.clients.graph import GraphClient
from functions.core import changes as ch
from functions.core.changes import Change, written_as_planned
from functions.core.config import DEFAULT_GRAPH_SCOPE, Settings
from functions.core.errors import ErrorCode, TenantSyncError
from functions.core.model import AppConnection, Run, SyncKind, TenantRecord
from functions.devices.cycle import InventoryCycle
from functions.devices.model import Inventory
from functions.devices.plan import InventoryChanges, StoredInventory, plan_inventory_changes
from functions.devices.staging import CheckpointStore, end_read
from functions.devices.store import InventoryTables
from functions.storage.tables import WriteStats


@dataclass
class DeviceSlice:
    tables: InventoryTables
    checkpoints: CheckpointStore
    settings: Settings

    kind = SyncKind.DEVICES
    incomplete_note = "Nothing was retired by this run."
    holds_back = False  # a device is retired, never deleted: no mass deletion to hold

    def app(self, tenant: TenantRecord) -> AppConnection:
        conn = tenant.devices
        if conn is None:
            raise TenantSyncError(f"tenant {tenant.tenant_id} has no device connection",
                                  code=ErrorCode.NOT_CONFIGURED)
        # The partner's inventory app, with a token from the customer tenant's own authority.
        return AppConnection(conn.client_id, conn.credential, DEFAULT_GRAPH_SCOPE)

    def standing(self, tenant: TenantRecord) -> tuple[ErrorCode, str] | None:
        conn = tenant.devices
        assert conn is not None
        if conn.excluded:
            return (ErrorCode.EXCLUDED,
                    "The partner connection excludes this tenant; it is never queried.")
        if conn.unsupported_reason:
            return ErrorCode.UNSUPPORTED, conn.unsupported_reason
        if not conn.active:
            return (ErrorCode.INACTIVE, "The partner's relationship with this customer has "
                    "ended; its devices are kept as they were last synced.")
        return None

    def read(self, graph: GraphClient, tenant: TenantRecord, *, full: bool = False,
             known: str = "") -> Inventory:
        """As much of the tenant's inventory as this run's time allows: a whole read, or one
        ``in_progress`` whose progress is saved for the next run (docs/inventory.md). Every
        read is of everything already (``full`` changes only the engine's comparison); a read
        that finds ``known`` again loads nothing stored (see ``unchanged``)."""
        return InventoryCycle(graph, tenant.tenant_id, checkpoints=self.checkpoints,
                              tables=self.tables, settings=self.settings, known=known).read()

    def observe(self, tenant: TenantRecord, read: Inventory, run: Run) -> bool:
        org = read.organization
        if org is None:
            return False
        before = (tenant.organization, tenant.default_domain, tenant.verified_domains)
        tenant.organization, tenant.default_domain = org.display_name, org.default_domain
        tenant.verified_domains = org.verified_domains
        return before != (tenant.organization, tenant.default_domain, tenant.verified_domains)

    def digest(self, read: Inventory) -> str:
        return read.digest

    def count_unchanged(self, read: Inventory, run: Run) -> None:
        run.devices.unchanged = max(len(read.devices), read.devices_listed)
        run.apps.unchanged = len(read.detected_apps) + len(read.managed_apps)
        # The read needs nothing written: it is over.
        end_read(self.checkpoints, run.tenant_id, read.saved)

    def load(self, tenant_id: str) -> StoredInventory:
        return self.tables.load(tenant_id)

    def plan(self, read: Inventory, stored: StoredInventory, now: datetime) -> InventoryChanges:
        return plan_inventory_changes(read, stored, now)

    def count(self, changes: InventoryChanges, run: Run) -> None:
        run.devices, run.apps = changes.device_counts, changes.app_counts

    def hold(self, changes: InventoryChanges, stored: StoredInventory) -> str | None:
        return None

    def write(self, tenant_id: str, stored: StoredInventory,
              changes: InventoryChanges) -> WriteStats:
        written = self.tables.write(tenant_id, stored, changes)
        end_read(self.checkpoints, tenant_id, changes.saved)  # written: the read is over
        return written

    def feed(self, changes: InventoryChanges) -> list[Change]:
        return changes.entries

    def settled(self, stored: StoredInventory, changes: list[Change]) -> list[Change]:
        by_kind: dict[str, dict[str, Any]] = {
            ch.DEVICE: stored.devices, ch.DETECTED_APP: stored.detected_apps,
            ch.MANAGED_APP: stored.managed_apps, ch.DEVICE_SOFTWARE: stored.software}
        return written_as_planned(
            changes, lambda entity, entity_id: by_kind.get(entity, {}).get(entity_id))
