"""The partners table."""

from __future__ import annotations

import json
from typing import Any

from functions.core.errors import NotFoundError
from functions.core.model import PartnerConnection
from functions.storage.entities import credential_type, iso, parse_time
from functions.storage.tables import TableStore

PARTNER_PARTITION = "partner"


PartnerPage = tuple[list[PartnerConnection], str | None]  # (partners, next page's token)


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
            "PartnerCredentialType": partner.partner_credential_type.value,
            "InventoryCredentialType": partner.inventory_credential_type.value,
        })

    def get(self, partner_tenant_id: str) -> PartnerConnection:
        e = self._store.get("partners", PARTNER_PARTITION, partner_tenant_id)
        if e is None:
            raise NotFoundError(f"partner {partner_tenant_id} has no connection "
                                "(POST /api/partners; tenantsync partner add)",
                                code="unknown_partner")
        return _partner(e)

    def find(self, partner_tenant_id: str) -> PartnerConnection | None:
        e = self._store.get("partners", PARTNER_PARTITION, partner_tenant_id)
        return _partner(e) if e else None

    def delete(self, partner_tenant_id: str) -> None:
        """Delete a partner connection's row (absent is not an error)."""
        self._store.delete("partners", PARTNER_PARTITION, partner_tenant_id)

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
        partner_credential_type=credential_type(e.get("PartnerCredentialType")),
        inventory_credential_type=credential_type(e.get("InventoryCredentialType")),
    )
