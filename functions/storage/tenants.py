"""The tenants table."""

from __future__ import annotations

from functions.core.errors import NotFoundError
from functions.core.model import Health, SyncKind, TenantRecord
from functions.storage import entities as ent
from functions.storage.tables import TableStore

TenantPage = tuple[list[TenantRecord], str | None]  # (tenants, next page's token)


class TenantTable:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    def get(self, tenant_id: str) -> TenantRecord:
        """Raises NotFoundError for a tenant that was never onboarded."""
        entity = self._store.get("tenants", ent.TENANT_PARTITION, tenant_id)
        if entity is None:
            raise NotFoundError(
                f"tenant {tenant_id} is not onboarded (tenantsync tenant add ...)",
                code="unknown_tenant",
            )
        return ent.tenant_record(entity)

    def find(self, tenant_id: str) -> TenantRecord | None:
        entity = self._store.get("tenants", ent.TENANT_PARTITION, tenant_id)
        return ent.tenant_record(entity) if entity else None

    def save(self, tenant: TenantRecord) -> None:
        self._store.upsert("tenants", ent.tenant_entity(tenant))

    def save_state(self, tenant: TenantRecord, kind: SyncKind, *,
                   organization: bool = False) -> None:
        """Write one kind's state of a tenant (and the organization it read) without
        touching the rest of its record, which an admin or the other kind's sync may have
        changed meanwhile. A tenant removed meanwhile stays removed."""
        self._store.merge("tenants", ent.state_entity(tenant, kind, organization=organization))

    def list(self) -> list[TenantRecord]:
        rows = self._store.query("tenants", "PartitionKey eq @pk", {"pk": ent.TENANT_PARTITION})
        return [ent.tenant_record(e) for e in rows]

    def page(
        self, *, page_size: int, continuation: str | None = None, health: Health | None = None
    ) -> TenantPage:
        """One page of tenants (by tenant ID) and the token of the next page.

        ``health`` keeps tenants whose directory or device sync is in that state (a kind
        counts only where the tenant has its connection), so a page can be short.
        """
        query = "PartitionKey eq @pk"
        params: dict[str, object] = {"pk": ent.TENANT_PARTITION}
        if health is not None:
            # Spaces around the parentheses: the SDK finds @names by splitting on spaces.
            query += " and ( DirectoryHealth eq @health or DevicesHealth eq @health )"
            params["health"] = health.value
        rows, token = self._store.query_page(
            "tenants", query, params, page_size=page_size, continuation=continuation,
        )
        tenants = [ent.tenant_record(e) for e in rows]
        if health is not None:
            tenants = [t for t in tenants
                       if (t.directory is not None and t.directory_state.health == health)
                       or (t.devices is not None and t.device_state.health == health)]
        return tenants, token

    def delete(self, tenant_id: str) -> None:
        """Remove a tenant's configuration row (its synced data is not touched)."""
        self._store.delete("tenants", ent.TENANT_PARTITION, tenant_id)
