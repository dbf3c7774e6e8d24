"""The change feed's head rows as this process last read or wrote them, with their ETags.

A run reads its tenant's head with its intent check, appends, then appends its change of
health: each head it knows is used once, by an ETag-checked transaction, instead of a
second read (about 1.5 ms of CPU each). A head changed meanwhile elsewhere fails that
transaction (412) and the append reads it afresh (``ChangeFeed._append_locked``), so a
stale memory costs one request and never a wrong position.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError

from functions.core.errors import StorageError
from functions.storage import pages
from functions.storage.entities import Entity
from functions.storage.feed_rows import without_timestamp
from functions.storage.tables import TableStore

HEAD_ROW = "head"
KEPT = 512  # tenants whose head is remembered (a few KB each); the oldest is forgotten
Head = tuple[Entity, str]  # the head row without its Timestamp, and its ETag


class KnownHeads:
    """Heads by tenant, each taken once: ``None`` remembers that a tenant has no head yet."""

    def __init__(self) -> None:
        self._heads: dict[str, Head | None] = {}
        self._lock = threading.Lock()

    def remember(self, tenant_id: str, head: Head | None) -> None:
        with self._lock:
            self._heads.pop(tenant_id, None)
            self._heads[tenant_id] = head
            if len(self._heads) > KEPT:
                del self._heads[next(iter(self._heads))]

    def take(self, tenant_id: str) -> tuple[bool, Head | None]:
        """(whether the head is known, the head): known once, then forgotten."""
        with self._lock:
            if tenant_id not in self._heads:
                return False, None
            return True, self._heads.pop(tenant_id)

    def forget(self, tenant_id: str) -> None:
        with self._lock:
            self._heads.pop(tenant_id, None)


def head_and_rows(store: TableStore, table: str, tenant_id: str, prefix: str
                  ) -> tuple[Head | None, list[Entity]]:
    """The head row (with its ETag) and the rows whose key starts with ``prefix``, in one
    query: ``head`` sorts just before ``intent-...``, so one key range holds both (and the
    intents of kinds that sort before ``prefix``, left out here).

    Raises:
        StorageError: storage did not answer.
    """
    head: Head | None = None
    rows: list[Entity] = []
    for entity, etag in _range(store, table, tenant_id, HEAD_ROW, prefix[:-1] + "."):
        if entity["RowKey"] == HEAD_ROW:
            head = without_timestamp(entity), etag
        elif str(entity["RowKey"]).startswith(prefix):
            rows.append(entity)
    return head, rows


def _range(store: TableStore, table: str, partition: str, low: str, high: str
           ) -> Iterator[tuple[Entity, str]]:
    # With each entity's ETag (the store's query keeps none), encoded and decoded by us.
    try:
        yield from pages.query_versioned(
            store.table(table), "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            {"pk": partition, "lo": low, "hi": high})
    except ResourceNotFoundError:
        return
    except AzureError as exc:
        detail = f"HTTP {exc.status_code}" if isinstance(exc, HttpResponseError) else \
            type(exc).__name__
        raise StorageError(f"Table Storage could not query {table} ({detail}); will retry on "
                           "the next run") from None
