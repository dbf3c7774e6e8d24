"""One device and software sync of one customer tenant."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import ClassVar

from functions.clients.graph import RequestStats
from functions.core.config import DEFAULT_GRAPH_SCOPE
from functions.core.errors import TenantSyncError
from functions.core.model import Run, RunStatus, TenantRecord
from functions.devices.model import Inventory
from functions.devices.plan import plan_inventory_changes
from functions.devices.reader import InventoryReader, parse
from functions.devices.store import InventoryTables
from functions.sync.ledger import failures_recorded
from functions.sync.tenant_sync import TenantSync

log = logging.getLogger("tenantsync.devices")

KIND = "devices"


@dataclass
class DeviceSync(TenantSync):
    kind: ClassVar[str] = KIND
    inventory: InventoryTables = field(kw_only=True)

    def run(
        self, tenant_id: str, trigger: str, *, run_id: str | None = None, full: bool = False
    ) -> Run:
        """Sync one tenant's organization, devices and software; return the recorded run.

        Tenant failures end as failed runs; excluded, inactive and unsupported tenants end
        as skipped runs without a single request to them. Only an unknown tenant
        (NotFoundError) or unreachable storage (StorageError) raise.
        """
        tenant = self.tenants.get(tenant_id)
        run = self.ledger.begin(tenant_id, KIND, trigger, run_id)
        state = tenant.device_state
        loaded = replace(state)
        org_before = (tenant.organization, tenant.default_domain, tenant.verified_domains)
        requests_made = RequestStats()
        with failures_recorded(run):
            self._sync(tenant, run, full, requests_made)
        org_after = (tenant.organization, tenant.default_domain, tenant.verified_domains)
        return self.ledger.finish(tenant, run, requests_made, loaded,
                                  tenant_changed=org_after != org_before)

    def _sync(self, tenant: TenantRecord, run: Run, full: bool, stats: RequestStats) -> None:
        conn = tenant.devices
        if conn is None:
            raise TenantSyncError(f"tenant {tenant.tenant_id} has no device connection",
                                  code="not_configured")
        standing = _standing(tenant)
        if standing:
            run.status, (run.error_code, run.error) = RunStatus.SKIPPED, standing
            return
        state = tenant.device_state
        # The inventory app's token for this customer tenant, at the tenant's own authority.
        graph = self.graph_for(tenant.tenant_id, conn.client_id, conn.secret_name,
                               DEFAULT_GRAPH_SCOPE, state=state, run=run, stats=stats)
        inventory = InventoryReader(graph, tenant.tenant_id).read()
        if inventory.organization:
            org = inventory.organization
            tenant.organization, tenant.default_domain = org.display_name, org.default_domain
            tenant.verified_domains = org.verified_domains
        digest = inventory.digest
        if digest and digest == state.fingerprint and not full:
            raw = inventory.raw
            run.devices.unchanged = len(raw["devices"])
            run.apps.unchanged = len(raw["detected_apps"]) + len(raw["managed_apps"])
            run.status = RunStatus.SUCCEEDED
            return
        parse(inventory)
        self._apply(tenant.tenant_id, inventory, run)
        state.fingerprint = digest if run.status == RunStatus.SUCCEEDED else ""

    def _apply(self, tenant_id: str, inventory: Inventory, run: Run) -> None:
        stored = self.inventory.load(tenant_id)
        changes = plan_inventory_changes(inventory, stored, self.clock())
        run.devices, run.apps = changes.device_counts, changes.app_counts
        written = self.inventory.write(tenant_id, stored, changes)
        run.entities_written, run.transactions = written.entities, written.transactions
        if inventory.complete:
            run.status = RunStatus.SUCCEEDED
        else:
            run.status, run.error_code = RunStatus.PARTIAL, inventory.error_code
            run.error = f"{inventory.error} Nothing was retired by this run."


def _standing(tenant: TenantRecord) -> tuple[str, str] | None:
    """Why this tenant must not be queried at all, if it must not."""
    conn = tenant.devices
    assert conn is not None
    if conn.excluded:
        return "excluded", "The partner connection excludes this tenant; it is never queried."
    if conn.unsupported_reason:
        return "unsupported", conn.unsupported_reason
    if not conn.active:
        return ("inactive", "The partner's relationship with this customer has ended; its "
                "devices are kept as they were last synced.")
    return None
