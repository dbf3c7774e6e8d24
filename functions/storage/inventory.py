"""Devices, software and partner connections in Table Storage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..devices.diff import StoredInventory
from ..devices.model import DetectedAppRecord, DeviceRecord, ManagedAppRecord
from ..domain import PartnerConnection
from ..errors import NotFoundError
from .entities import iso, parse_time, record_entity, record_from_entity
from .tables import TableFilter, TableStore, WriteStats

PARTNER_PARTITION = "partner"
INVENTORY_TABLES = ("devices", "detectedapps", "managedapps")
PartnerPage = tuple[list[PartnerConnection], str | None]  # (partners, next page's token)


@dataclass
class DeviceFilter:
    retired: bool | None = None  # None: both
    compliance_state: str | None = None
    operating_system: str | None = None
    user_ids: set[str] | None = None  # only devices whose primary user is one of these


class InventoryTables:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    def load(self, tenant_id: str) -> StoredInventory:
        stored = StoredInventory()
        params = {"pk": tenant_id}
        for e in self._store.query("devices", "PartitionKey eq @pk", params):
            device = record_from_entity(DeviceRecord, e)
            stored.devices[device.id] = device
        for e in self._store.query("detectedapps", "PartitionKey eq @pk", params):
            app = record_from_entity(DetectedAppRecord, e)
            stored.detected_apps[app.id] = app
        for e in self._store.query("managedapps", "PartitionKey eq @pk", params):
            managed = record_from_entity(ManagedAppRecord, e)
            stored.managed_apps[managed.id] = managed
        return stored

    def write(
        self, tenant_id: str, devices: list[DeviceRecord], detected: list[DetectedAppRecord],
        managed: list[ManagedAppRecord],
    ) -> WriteStats:
        stats = WriteStats()
        stats.add(self._store.write("devices", (record_entity(tenant_id, d) for d in devices)))
        stats.add(self._store.write(
            "detectedapps", (record_entity(tenant_id, a) for a in detected)))
        stats.add(self._store.write("managedapps", (record_entity(tenant_id, a) for a in managed)))
        return stats

    def devices(self, tenant_id: str, flt: DeviceFilter) -> Iterator[DeviceRecord]:
        where = _device_filter(tenant_id, flt)
        for e in self._store.query("devices", where.text, where.params):
            device = record_from_entity(DeviceRecord, e)
            if flt.user_ids is None or device.user_id in flt.user_ids:
                yield device

    def devices_page(
        self, tenant_id: str, flt: DeviceFilter, *, page_size: int,
        continuation: str | None = None,
    ) -> tuple[list[DeviceRecord], str | None]:
        """One page of a tenant's devices matching ``flt`` (by Intune id) and the next token.

        ``flt.user_ids`` is applied after the read (it can hold any number of users), so a
        page can hold fewer devices than ``page_size`` while more follow.

        Raises:
            InputError: ``invalid_continuation`` for a token this query did not issue.
        """
        where = _device_filter(tenant_id, flt)
        rows, token = self._store.query_page(
            "devices", where.text, where.params, page_size=page_size, continuation=continuation
        )
        devices = [record_from_entity(DeviceRecord, e) for e in rows]
        if flt.user_ids is not None:
            devices = [d for d in devices if d.user_id in flt.user_ids]
        return devices, token

    def detected_apps_page(
        self, tenant_id: str, *, removed: bool | None = None, page_size: int,
        continuation: str | None = None,
    ) -> tuple[list[DetectedAppRecord], str | None]:
        """One page of a tenant's detected apps (by Intune id) and the next page's token."""
        rows, token = self._store.query_page(
            "detectedapps", *_removed_filter(tenant_id, removed), page_size=page_size,
            continuation=continuation,
        )
        return [record_from_entity(DetectedAppRecord, e) for e in rows], token

    def managed_apps_page(
        self, tenant_id: str, *, removed: bool | None = None, page_size: int,
        continuation: str | None = None,
    ) -> tuple[list[ManagedAppRecord], str | None]:
        """One page of a tenant's managed apps (by Intune id) and the next page's token."""
        rows, token = self._store.query_page(
            "managedapps", *_removed_filter(tenant_id, removed), page_size=page_size,
            continuation=continuation,
        )
        return [record_from_entity(ManagedAppRecord, e) for e in rows], token

    def purge(self, tenant_id: str) -> int:
        """Hard-delete a tenant's devices, detected apps and managed apps; returns how many."""
        return sum(self._store.delete_partition(table, tenant_id) for table in INVENTORY_TABLES)

    def detected_apps(self, tenant_id: str) -> Iterator[DetectedAppRecord]:
        for e in self._store.query("detectedapps", "PartitionKey eq @pk", {"pk": tenant_id}):
            yield record_from_entity(DetectedAppRecord, e)

    def managed_apps(self, tenant_id: str) -> Iterator[ManagedAppRecord]:
        for e in self._store.query("managedapps", "PartitionKey eq @pk", {"pk": tenant_id}):
            yield record_from_entity(ManagedAppRecord, e)


def _removed_filter(tenant_id: str, removed: bool | None) -> tuple[str, dict[str, Any]]:
    where = TableFilter(tenant_id).equal("Removed", removed)
    return where.text, where.params


def _device_filter(tenant_id: str, flt: DeviceFilter) -> TableFilter:
    """The table filter for ``flt`` (but its users)."""
    return (TableFilter(tenant_id).equal("Retired", flt.retired)
            .equal("ComplianceState", flt.compliance_state or None)
            .equal("OperatingSystem", flt.operating_system or None))


class PartnerTable:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    def save(self, partner: PartnerConnection) -> None:
        self._store.upsert("partners", {
            "PartitionKey": PARTNER_PARTITION, "RowKey": partner.partner_tenant_id,
            "PartnerClientId": partner.partner_client_id,
            "PartnerSecretName": partner.partner_secret_name,
            "InventoryClientId": partner.inventory_client_id,
            "InventorySecretName": partner.inventory_secret_name,
            "Source": partner.source, "Customers": json.dumps(list(partner.customers)),
            "IncludePartnerTenant": partner.include_partner_tenant,
            "Excluded": json.dumps(list(partner.excluded)),
            "CreatedAt": iso(partner.created_at),
        })

    def get(self, partner_tenant_id: str) -> PartnerConnection:
        e = self._store.get("partners", PARTNER_PARTITION, partner_tenant_id)
        if e is None:
            raise NotFoundError(f"partner {partner_tenant_id} has no connection "
                                "(tenantsync partner add ...)", code="unknown_partner")
        return _partner(e)

    def find(self, partner_tenant_id: str) -> PartnerConnection | None:
        e = self._store.get("partners", PARTNER_PARTITION, partner_tenant_id)
        return _partner(e) if e else None

    def list(self) -> list[PartnerConnection]:
        rows = self._store.query("partners", "PartitionKey eq @pk", {"pk": PARTNER_PARTITION})
        return [_partner(e) for e in rows]

    def page(self, *, page_size: int, continuation: str | None = None) -> PartnerPage:
        """One page of partner connections (by partner tenant ID) and the next page's token."""
        rows, token = self._store.query_page(
            "partners", "PartitionKey eq @pk", {"pk": PARTNER_PARTITION},
            page_size=page_size, continuation=continuation,
        )
        return [_partner(e) for e in rows], token


def _partner(e: dict[str, Any]) -> PartnerConnection:
    return PartnerConnection(
        partner_tenant_id=e["RowKey"], partner_client_id=e["PartnerClientId"],
        partner_secret_name=e["PartnerSecretName"], inventory_client_id=e["InventoryClientId"],
        inventory_secret_name=e["InventorySecretName"], source=e["Source"],
        customers=tuple(json.loads(e.get("Customers") or "[]")),
        include_partner_tenant=bool(e.get("IncludePartnerTenant", False)),
        excluded=tuple(json.loads(e.get("Excluded") or "[]")),
        created_at=parse_time(e.get("CreatedAt")),
    )
