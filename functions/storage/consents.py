"""The consents table: admin-consent links, each used once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from functions.core.errors import NotFoundError, StorageError
from functions.core.model import ConsentRequest
from functions.storage.entities import iso, parse_time
from functions.storage.tables import TableStore

CONSENT_PARTITION = "consent"


def _entity(c: ConsentRequest) -> dict[str, Any]:
    return {
        "PartitionKey": CONSENT_PARTITION, "RowKey": c.consent_id, "Kind": c.kind,
        "ClientId": c.client_id, "CreatedAt": iso(c.created_at), "ExpiresAt": iso(c.expires_at),
        "TenantId": c.tenant_id, "GroupId": c.group_id, "PartnerTenantId": c.partner_tenant_id,
        "UsedAt": iso(c.used_at), "ConsentedTenantId": c.consented_tenant_id, "RunId": c.run_id,
    }


def _record(e: dict[str, Any]) -> ConsentRequest:
    created, expires = parse_time(e.get("CreatedAt")), parse_time(e.get("ExpiresAt"))
    assert created is not None
    assert expires is not None
    return ConsentRequest(
        consent_id=e["RowKey"], kind=e["Kind"], client_id=e["ClientId"], created_at=created,
        expires_at=expires, tenant_id=e.get("TenantId", ""), group_id=e.get("GroupId", ""),
        partner_tenant_id=e.get("PartnerTenantId", ""), used_at=parse_time(e.get("UsedAt")),
        consented_tenant_id=e.get("ConsentedTenantId", ""), run_id=e.get("RunId", ""),
    )


class ConsentTable:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    def create(self, consent: ConsentRequest) -> None:
        """Record a new link (its id is a fresh random nonce).

        Raises:
            StorageError: storage failed (or, never in practice, the nonce was taken).
        """
        if not self._store.insert("consents", _entity(consent)):
            raise StorageError("a consent link with this id exists already; ask again")

    def find(self, consent_id: str) -> tuple[ConsentRequest, str] | None:
        """A link with its ETag (for :meth:`use`), or None."""
        found = self._store.get_versioned("consents", CONSENT_PARTITION, consent_id)
        return (_record(found[0]), found[1]) if found else None

    def get(self, consent_id: str) -> ConsentRequest:
        found = self.find(consent_id)
        if found is None:
            raise NotFoundError(f"no consent link {consent_id}: ask for a new one "
                                "(POST /api/consents)", code="unknown_consent")
        return found[0]

    def use(self, consent: ConsentRequest, etag: str) -> bool:
        """Mark a link used, only if nobody else has since it was read (``etag``): of two
        callbacks racing with the same link, exactly one wins."""
        return self._store.update_if_unchanged("consents", _entity(consent), etag) is not None

    def save(self, consent: ConsentRequest) -> None:
        self._store.upsert("consents", _entity(consent))

    def purge_expired(self, before: datetime) -> int:
        """Delete the links never used that expired before ``before`` (a used link stays:
        it says which tenant consented and its first run). Returns how many went."""
        gone = 0
        for e in self._store.query("consents", "PartitionKey eq @pk", {"pk": CONSENT_PARTITION}):
            expires = parse_time(e.get("ExpiresAt"))
            if not e.get("UsedAt") and expires is not None and expires < before:
                self._store.delete("consents", CONSENT_PARTITION, e["RowKey"])
                gone += 1
        return gone
