"""Subscriptions, their tenants' notification health and the notifications seen, in Table
Storage (never a clientState: only the Key Vault name that holds it)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from functions.notifications.model import (
    NotificationHealth,
    SubscriptionRecord,
    TenantNotifications,
)
from functions.storage.entities import Entity, iso, parse_time
from functions.storage.tables import TableStore

SUBSCRIPTIONS, SEEN = "subscriptions", "notified"
_NEVER = datetime.min.replace(tzinfo=UTC)
STATUS_ROW = "status"  # the tenant's health, beside its subscriptions (ids are GUIDs)


def _record(e: Entity) -> SubscriptionRecord:
    return SubscriptionRecord(
        tenant_id=str(e["PartitionKey"]), subscription_id=str(e["RowKey"]),
        resource=str(e.get("Resource", "")),
        expires_at=parse_time(e.get("ExpiresAt")) or _NEVER,
        secret_name=str(e.get("SecretName", "")),
        created_at=parse_time(e.get("CreatedAt")) or _NEVER,
    )


class SubscriptionTable:
    """``<p>subscriptions``: PartitionKey tenant ID, RowKey Graph's subscription ID (and one
    ``status`` row); ``<p>notified``: the notifications already taken, to refuse replays."""

    def __init__(self, store: TableStore) -> None:
        self._store = store

    def save(self, record: SubscriptionRecord) -> None:
        self._store.upsert(SUBSCRIPTIONS, {
            "PartitionKey": record.tenant_id, "RowKey": record.subscription_id,
            "Resource": record.resource, "ExpiresAt": iso(record.expires_at),
            "SecretName": record.secret_name, "CreatedAt": iso(record.created_at),
        })

    def get(self, tenant_id: str, subscription_id: str) -> SubscriptionRecord | None:
        if subscription_id == STATUS_ROW:
            return None
        found = self._store.get(SUBSCRIPTIONS, tenant_id, subscription_id)
        return _record(found) if found else None

    def of_tenant(self, tenant_id: str) -> list[SubscriptionRecord]:
        rows = self._store.query(SUBSCRIPTIONS, "PartitionKey eq @pk and RowKey ne @status",
                                 {"pk": tenant_id, "status": STATUS_ROW})
        return [_record(e) for e in rows]

    def tenant_ids(self) -> Iterator[str]:
        """Tenants with subscriptions or a notification status."""
        for e in self._store.query(SUBSCRIPTIONS, "RowKey eq @status", {"status": STATUS_ROW},
                                   select=("PartitionKey",)):
            yield str(e["PartitionKey"])

    def delete(self, tenant_id: str, subscription_id: str) -> None:
        self._store.delete(SUBSCRIPTIONS, tenant_id, subscription_id)
        self._store.delete_partition(SEEN, subscription_id)

    def set_status(self, status: TenantNotifications) -> None:
        self._store.upsert(SUBSCRIPTIONS, {
            "PartitionKey": status.tenant_id, "RowKey": STATUS_ROW,
            "Health": status.health.value, "Code": status.code, "Message": status.message,
            "CheckedAt": iso(status.checked_at),
        })

    def status(self, tenant_id: str) -> TenantNotifications | None:
        found = self._store.get(SUBSCRIPTIONS, tenant_id, STATUS_ROW)
        if found is None:
            return None
        return TenantNotifications(tenant_id, NotificationHealth(found.get("Health", "failing")),
                                   str(found.get("Code", "")), str(found.get("Message", "")),
                                   parse_time(found.get("CheckedAt")))

    def forget_status(self, tenant_id: str) -> None:
        self._store.delete(SUBSCRIPTIONS, tenant_id, STATUS_ROW)

    def first_sighting(self, subscription_id: str, fingerprint: bytes, now: datetime,
                       window: timedelta) -> bool:
        """Record a notification; False when the same one was taken within ``window`` (a
        replay). Graph retries a delivery for up to 4 hours."""
        row = hashlib.sha256(fingerprint).hexdigest()
        entity = {"PartitionKey": subscription_id, "RowKey": row, "SeenAt": iso(now)}
        if self._store.insert(SEEN, entity):
            return True
        found = self._store.get(SEEN, subscription_id, row)
        seen = parse_time(found.get("SeenAt")) if found else None
        if seen is not None and now - seen < window:
            return False
        self._store.upsert(SEEN, entity)
        return True

    def prune_sightings(self, subscription_id: str, before: datetime) -> int:
        """Delete the sightings of a subscription taken before ``before`` (past any replay
        window); how many."""
        old = [e["RowKey"] for e in self._store.query(
            SEEN, "PartitionKey eq @pk and SeenAt lt @before",
            {"pk": subscription_id, "before": iso(before)}, select=("RowKey",))]
        for row in old:
            self._store.delete(SEEN, subscription_id, str(row))
        return len(old)

    def forget_sighting(self, subscription_id: str, fingerprint: bytes) -> None:
        """Undo :meth:`first_sighting` when the notification could not be acted on, so that
        Graph's retry is taken."""
        self._store.delete(SEEN, subscription_id, hashlib.sha256(fingerprint).hexdigest())
