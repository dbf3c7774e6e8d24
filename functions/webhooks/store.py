"""Subscriptions and deliveries in Table Storage (never a secret: only Key Vault names)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from functions.core.errors import ErrorCode, NotFoundError, StorageError
from functions.storage.entities import Entity, iso, parse_time
from functions.storage.tables import TableStore
from functions.webhooks.model import PENDING, Attempt, Delivery, Subscription

SUBSCRIPTIONS, DELIVERIES = "webhooks", "deliveries"
PARTITION = "subscription"
ATTEMPTS_KEPT = 20  # the latest attempts of a delivery, listed with it


def new_delivery_id(now: datetime) -> str:
    """Sorts newest first within a subscription's partition, like run ids."""
    return f"{10**13 - int(now.timestamp() * 1000):013d}-{os.urandom(4).hex()}"


def event_delivery_id(event_id: str, event_type: str, subscription_id: str,
                      at: datetime) -> str:
    """The one delivery of an outbox event to a subscriber: the same id however often the
    event is published, sorting like :func:`new_delivery_id` by the event's time."""
    digest = hashlib.blake2b(f"{event_id}|{event_type}|{subscription_id}".encode(),
                             digest_size=4).hexdigest()
    return f"{10**13 - int(at.timestamp() * 1000):013d}-{digest}"


def _subscription_entity(s: Subscription) -> Entity:
    return {
        "PartitionKey": PARTITION, "RowKey": s.id, "Url": s.url,
        "EventTypes": json.dumps(list(s.event_types)), "TenantIds": json.dumps(list(s.tenant_ids)),
        "Description": s.description, "Enabled": s.enabled, "DisabledReason": s.disabled_reason,
        "DisabledAt": iso(s.disabled_at), "CreatedAt": iso(s.created_at),
        "FailuresInARow": s.failures_in_a_row, "SecretName": s.secret_name,
        "SecretVersion": s.secret_version,
        "PreviousSecretName": s.previous_secret_name, "PreviousUntil": iso(s.previous_until),
    }


def _subscription(e: Entity) -> Subscription:
    return Subscription(
        id=str(e["RowKey"]), url=str(e.get("Url", "")),
        event_types=tuple(json.loads(e.get("EventTypes") or "[]")),
        tenant_ids=tuple(json.loads(e.get("TenantIds") or "[]")),
        description=str(e.get("Description", "")), enabled=bool(e.get("Enabled", True)),
        disabled_reason=str(e.get("DisabledReason", "")),
        disabled_at=parse_time(e.get("DisabledAt")), created_at=parse_time(e.get("CreatedAt")),
        failures_in_a_row=int(e.get("FailuresInARow", 0)),
        secret_name=str(e.get("SecretName", "")),
        secret_version=str(e.get("SecretVersion", "")),
        previous_secret_name=str(e.get("PreviousSecretName", "")),
        previous_until=parse_time(e.get("PreviousUntil")),
    )


def _delivery_entity(d: Delivery) -> Entity:
    attempts = [{"at": iso(a.at), "status": a.status_code, "error": a.error,
                 "ms": a.duration_ms} for a in d.attempts[-ATTEMPTS_KEPT:]]
    return {
        "PartitionKey": d.subscription_id, "RowKey": d.id, "EventType": d.event_type,
        "Payload": d.payload, "CreatedAt": iso(d.created_at), "Status": d.status,
        "AttemptCount": len(d.attempts), "Attempts": json.dumps(attempts),
        "Generation": d.generation, "DeliveredAt": iso(d.delivered_at),
        "NextAttemptAt": iso(d.next_attempt_at),
    }


def _delivery(e: Entity) -> Delivery:
    attempts = [Attempt(parse_time(a["at"]) or datetime.fromtimestamp(0, UTC), a["status"],
                        a["error"], int(a["ms"])) for a in json.loads(e.get("Attempts") or "[]")]
    return Delivery(
        subscription_id=str(e["PartitionKey"]), id=str(e["RowKey"]),
        event_type=str(e.get("EventType", "")), payload=str(e.get("Payload", "")),
        created_at=parse_time(e.get("CreatedAt")) or datetime.fromtimestamp(0, UTC),
        status=str(e.get("Status", "")), attempts=attempts,
        generation=int(e.get("Generation", 0)), delivered_at=parse_time(e.get("DeliveredAt")),
        next_attempt_at=parse_time(e.get("NextAttemptAt")),
    )


class WebhookTables:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    # --- subscriptions ----------------------------------------------------------------

    def add(self, s: Subscription) -> None:
        if not self._store.insert(SUBSCRIPTIONS, _subscription_entity(s)):
            raise StorageError("a webhook subscription with this id exists; try again")

    def save(self, s: Subscription) -> None:
        self._store.upsert(SUBSCRIPTIONS, _subscription_entity(s))

    def get(self, subscription_id: str) -> Subscription:
        """Raises NotFoundError ``unknown_webhook``."""
        entity = self._store.get(SUBSCRIPTIONS, PARTITION, subscription_id)
        if entity is None:
            raise NotFoundError(f"no webhook subscription {subscription_id}",
                                code=ErrorCode.UNKNOWN_WEBHOOK)
        return _subscription(entity)

    def change(self, subscription_id: str, mutate: Callable[[Subscription], bool]) -> Subscription:
        """Apply ``mutate`` (True: it changed something) with optimistic concurrency, so that
        deliveries finishing together do not lose each other's counts.

        Raises:
            NotFoundError: ``unknown_webhook``. StorageError: storage did not answer.
        """
        for _ in range(8):
            found = self._store.get_versioned(SUBSCRIPTIONS, PARTITION, subscription_id)
            if found is None:
                raise NotFoundError(f"no webhook subscription {subscription_id}",
                                    code=ErrorCode.UNKNOWN_WEBHOOK)
            subscription = _subscription(found[0])
            if not mutate(subscription):
                return subscription
            if self._store.update_if_unchanged(
                    SUBSCRIPTIONS, _subscription_entity(subscription), found[1]) is not None:
                return subscription
        raise StorageError("the webhook subscription kept changing; try again")

    def all(self) -> list[Subscription]:
        return [_subscription(e) for e in self._store.query(
            SUBSCRIPTIONS, "PartitionKey eq @pk", {"pk": PARTITION})]

    def page(self, *, page_size: int, continuation: str | None
             ) -> tuple[list[Subscription], str | None]:
        rows, token = self._store.query_page(SUBSCRIPTIONS, "PartitionKey eq @pk",
                                             {"pk": PARTITION}, page_size=page_size,
                                             continuation=continuation)
        return [_subscription(e) for e in rows], token

    def remove(self, subscription_id: str) -> None:
        self._store.delete_partition(DELIVERIES, subscription_id)
        self._store.delete(SUBSCRIPTIONS, PARTITION, subscription_id)

    # --- deliveries -------------------------------------------------------------------

    def save_delivery(self, d: Delivery) -> None:
        self._store.upsert(DELIVERIES, _delivery_entity(d))

    def add_delivery(self, d: Delivery) -> bool:
        """Record a new delivery; False (nothing written) if one with its id is recorded."""
        return self._store.insert(DELIVERIES, _delivery_entity(d))

    def delivery(self, subscription_id: str, delivery_id: str) -> Delivery:
        """Raises NotFoundError ``unknown_delivery``."""
        entity = self._store.get(DELIVERIES, subscription_id, delivery_id)
        if entity is None:
            raise NotFoundError(f"no delivery {delivery_id} of webhook {subscription_id}",
                                code=ErrorCode.UNKNOWN_DELIVERY)
        return _delivery(entity)

    def deliveries_page(self, subscription_id: str, *, page_size: int,
                        continuation: str | None) -> tuple[list[Delivery], str | None]:
        rows, token = self._store.query_page(DELIVERIES, "PartitionKey eq @pk",
                                             {"pk": subscription_id}, page_size=page_size,
                                             continuation=continuation)
        return [_delivery(e) for e in rows], token

    def overdue(self, before: datetime) -> Iterator[tuple[Delivery, str]]:
        """Pending deliveries (of every subscription) that were due before ``before``, each
        read again with its ETag for :meth:`replace_delivery`. Times are stored as ISO text
        of one width, so comparing the text compares the times."""
        found = self._store.query(
            DELIVERIES, "Status eq @pending and NextAttemptAt ne @none and NextAttemptAt lt @t",
            {"pending": PENDING, "none": "", "t": iso(before)},
            select=["PartitionKey", "RowKey"])
        for row in list(found):
            versioned = self._store.get_versioned(DELIVERIES, row["PartitionKey"], row["RowKey"])
            if versioned is not None:
                yield _delivery(versioned[0]), versioned[1]

    def replace_delivery(self, d: Delivery, etag: str) -> bool:
        """Save a delivery only if nobody has since it was read (``etag``)."""
        return self._store.update_if_unchanged(DELIVERIES, _delivery_entity(d), etag) is not None

    def deliveries(self, subscription_id: str) -> list[Delivery]:
        return [_delivery(e) for e in self._store.query(
            DELIVERIES, "PartitionKey eq @pk", {"pk": subscription_id})]

