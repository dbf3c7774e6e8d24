"""The events outbox: an event row is written before the change it describes, and deleted
once the event reached its listeners (docs/design.md, "Outbox").

Table ``<p>outbox``: PartitionKey tenant ID, RowKey ``<microseconds since 1970>-<random>``
(sorts in the order written). A row names its ``Topic`` (``run``: a run ended; ``health``:
a side's health changed; ``consent``: tenantsync consented, or removed a consent, in the
customer's tenant), its ``Subject`` (the run ID; the sync kind; the consent's audit row key)
and the event's data.
Only pending events are kept, so the table stays small and a sweep reads it whole.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import AzureError, HttpResponseError

from functions.core.errors import StorageError
from functions.core.model import utcnow
from functions.storage.changesets import DELETE, submit_changeset
from functions.storage.entities import Entity, iso, parse_time
from functions.storage.tables import TableStore

OUTBOX_TABLE = "outbox"
RUN, HEALTH, CONSENT = "run", "health", "consent"  # topics


@dataclass(frozen=True)
class OutboxEvent:
    """An event that may not have reached its listeners yet; ``id`` is its identity for
    every listener (a feed entry's idempotency key, the webhook deliveries' ids)."""

    tenant_id: str
    id: str
    topic: str
    subject: str
    data: dict[str, Any]
    created_at: datetime


def _entity(event: OutboxEvent) -> Entity:
    return {"PartitionKey": event.tenant_id, "RowKey": event.id, "Topic": event.topic,
            "Subject": event.subject, "Data": json.dumps(event.data, separators=(",", ":")),
            "CreatedAt": iso(event.created_at)}


def _event(e: Entity) -> OutboxEvent:
    return OutboxEvent(str(e["PartitionKey"]), str(e["RowKey"]), str(e.get("Topic", "")),
                       str(e.get("Subject", "")), json.loads(e.get("Data") or "{}"),
                       parse_time(e.get("CreatedAt")) or datetime.fromtimestamp(0, UTC))


class Outbox:
    """Every tenant's pending events."""

    def __init__(self, store: TableStore, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._store = store
        self._clock = clock

    def add(self, tenant_id: str, topic: str, subject: str, data: dict[str, Any]
            ) -> OutboxEvent:
        """Record an event before the change it describes is written.

        Raises:
            StorageError: storage did not answer (the change must not be written then).
        """
        return self.add_all(tenant_id, [(topic, subject, data)])[0]

    def add_all(self, tenant_id: str, events: Sequence[tuple[str, str, dict[str, Any]]]
                ) -> list[OutboxEvent]:
        """Record a tenant's events (topic, subject, data), in this order, before the changes
        they describe are written: in one request (a transaction, when several).

        Raises:
            StorageError: storage did not answer (the changes must not be written then).
        """
        now = self._clock()
        stamp = int(now.timestamp() * 1_000_000)
        # One time for all; their keys a microsecond apart keep them in the order given.
        made = [OutboxEvent(tenant_id, f"{stamp + n:017d}-{os.urandom(4).hex()}", topic,
                            subject, data, now) for n, (topic, subject, data) in enumerate(events)]
        self._store.write(OUTBOX_TABLE, [_entity(e) for e in made])
        return made

    def pending(self, tenant_id: str) -> list[OutboxEvent]:
        """A tenant's pending events, oldest first."""
        return [_event(e) for e in self._store.query(
            OUTBOX_TABLE, "PartitionKey eq @pk", {"pk": tenant_id})]

    def tenants_due(self, before: datetime) -> Iterator[str]:
        """The tenants with an event pending since before ``before`` (each once)."""
        seen: set[str] = set()
        for row in self._store.query(OUTBOX_TABLE, "CreatedAt lt @t", {"t": iso(before)},
                                     select=("PartitionKey", "RowKey")):
            tenant_id = str(row["PartitionKey"])
            if tenant_id not in seen:
                seen.add(tenant_id)
                yield tenant_id

    def remove(self, event: OutboxEvent) -> None:
        """The event reached its listeners (or never happened): it is no longer pending."""
        self._store.delete(OUTBOX_TABLE, event.tenant_id, event.id)

    def remove_all(self, events: Sequence[OutboxEvent]) -> None:
        """``remove`` each of one tenant's events: in one transaction when several (one
        already gone, removed by a sweep meanwhile, fails it: then one by one).

        Raises:
            StorageError: storage did not answer (what is left stays pending).
        """
        if len(events) > 1 and len({e.tenant_id for e in events}) == 1:
            try:
                submit_changeset(self._store.table(OUTBOX_TABLE), [
                    (DELETE, {"PartitionKey": e.tenant_id, "RowKey": e.id}, "*")
                    for e in events])
                return
            except HttpResponseError as exc:
                if exc.status_code != 404:  # a transaction is atomic: nothing was removed
                    raise StorageError(f"Table Storage could not remove outbox events "
                                       f"(HTTP {exc.status_code}); the sweep retries") from None
            except AzureError as exc:
                raise StorageError(f"Table Storage could not remove outbox events "
                                   f"({type(exc).__name__}); the sweep retries") from None
        for event in events:
            self.remove(event)
