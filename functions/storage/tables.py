"""Table Storage access through ``azure-data-tables``: batching, queries and table names."""

from __future__ import annotations

import base64
import json
import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from itertools import chain
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableClient, TableServiceClient

from functions.core.crew import CrewPool
from functions.core.errors import InputError, StorageError
from functions.core.kinds import KINDS
from functions.core.usage import carried
from functions.core.validation import table_key
from functions.storage import pages, points
from functions.storage.filters import TableFilter
from functions.storage.meter import client_options
from functions.storage.transactions import submit, submit_upserts

Entity = dict[str, Any]
__all__ = ["MAX_BATCH", "TABLE_NAMES", "Entity", "TableFilter", "TableStore", "WriteStats",
           "entity_chars"]

TABLE_NAMES = KINDS.tables()  # those of the built-in kinds (the deployment creates these)
MAX_BATCH = 100  # Table Storage: at most 100 operations per transaction, one partition.
_TOKEN_PART = re.compile(r"^[\x20-\x7e]{1,1024}$")


@dataclass
class WriteStats:
    entities: int = 0
    transactions: int = 0

    def add(self, other: WriteStats) -> None:
        self.entities += other.entities
        self.transactions += other.transactions


class TableStore:
    """The app's tables (``<prefix><name>``) in one storage account."""

    def __init__(self, service: TableServiceClient, prefix: str, *, write_concurrency: int = 8):
        self._service = service
        self._prefix = prefix
        self._clients: dict[str, TableClient] = {}
        self._write_concurrency = write_concurrency

    @classmethod
    def from_connection_string(cls, connection: str, prefix: str) -> TableStore:
        return cls(TableServiceClient.from_connection_string(connection, **client_options()),
                   prefix)

    @classmethod
    def from_endpoint(cls, endpoint: str, credential: TokenCredential, prefix: str) -> TableStore:
        return cls(TableServiceClient(endpoint=endpoint, credential=credential, **client_options()),
                   prefix)

    def table(self, name: str) -> TableClient:
        client = self._clients.get(name)
        if client is None:
            client = self._service.get_table_client(self._prefix + name)
            self._clients[name] = client
        return client

    def ensure_tables(self) -> None:
        """Create the app's tables if they are missing (idempotent)."""
        for name in KINDS.tables():
            try:
                self._service.create_table(self._prefix + name)
            except ResourceExistsError:
                pass
            except AzureError as exc:
                raise _storage_error("create tables", exc) from None

    def ping(self) -> None:
        try:
            next(iter(self._service.list_tables(results_per_page=1)), None)
        except AzureError as exc:
            raise _storage_error("list tables", exc) from None

    def get(self, table: str, partition: str, row: str) -> Entity | None:
        table_key(partition, "partition key")
        table_key(row, "row key")
        try:
            return points.read(self.table(table), partition, row)[0]
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise _storage_error(f"read {table}", exc) from None

    def query(
        self,
        table: str,
        filter: str,
        parameters: Mapping[str, Any],
        *,
        select: Sequence[str] | None = None,
        page_size: int = 1000,
    ) -> Iterator[Entity]:
        """Yield entities matching a parameterised filter (values never spliced into text)."""
        client, after = self.table(table), None
        try:
            while True:
                page, after = pages.query_page(client, filter, parameters, page_size=page_size,
                                               select=select, continuation=after)
                yield from page
                if after is None:
                    return
        except ResourceNotFoundError:
            return
        except AzureError as exc:
            raise _storage_error(f"query {table}", exc) from None

    def query_page(
        self,
        table: str,
        filter: str,
        parameters: Mapping[str, Any],
        *,
        page_size: int,
        continuation: str | None = None,
    ) -> tuple[list[Entity], str | None]:
        """One page of a query and the token for the next page (None at the end)."""
        try:
            page, after = pages.query_page(self.table(table), filter, parameters,
                                           page_size=page_size,
                                           continuation=_decode_token(continuation))
            return page, _encode_token(after)
        except HttpResponseError as exc:
            if continuation and exc.status_code == 400:
                # The service refused where the token said to resume: a token we never issued.
                raise InputError(
                    "continuation token is not valid", code="invalid_continuation"
                ) from None
            raise _storage_error(f"query {table}", exc) from None
        except AzureError as exc:
            raise _storage_error(f"query {table}", exc) from None

    def delete(self, table: str, partition: str, row: str) -> None:
        """Delete one entity; an entity that is already gone is not an error."""
        table_key(partition, "partition key")
        table_key(row, "row key")
        try:
            points.delete(self.table(table), partition, row)
        except ResourceNotFoundError:
            return
        except AzureError as exc:
            raise _storage_error(f"delete entities of {table}", exc) from None

    def delete_partition(self, table: str, partition: str) -> int:
        """Delete every entity of one partition, 100 per transaction; returns how many.

        Raises:
            StorageError: a transaction failed; the partition is partly deleted and the call
            can be repeated.
        """
        table_key(partition, "partition key")
        keys = [(e["PartitionKey"], e["RowKey"]) for e in self.query(
            table, "PartitionKey eq @pk", {"pk": partition}, select=("PartitionKey", "RowKey"))]
        client = self.table(table)
        try:
            for i in range(0, len(keys), MAX_BATCH):
                chunk = keys[i:i + MAX_BATCH]
                submit(client, [("delete", {"PartitionKey": pk, "RowKey": rk})
                                for pk, rk in chunk])
        except AzureError as exc:
            raise _storage_error(f"delete entities of {table}", exc) from None
        return len(keys)

    def insert(self, table: str, entity: Entity) -> bool:
        """Create an entity; False (and nothing written) if its keys are taken."""
        try:
            points.create(self.table(table), entity)
        except ResourceExistsError:
            return False
        except AzureError as exc:
            raise _storage_error(f"write {table}", exc) from None
        return True

    def insert_versioned(self, table: str, entity: Entity, *,
                         resend: bool = False) -> str | None:
        """Create an entity and return its ETag; None (nothing written) if its keys are taken.

        ``resend``: send it again after a connection reset (an insert is a POST, which
        azure-core does not resend): only for a caller that knows its own entity in a key
        that is taken, as the first copy may have been written and its answer lost.
        """
        try:
            return points.create(self.table(table), entity,
                                 **({"retry_on_methods": _IDEMPOTENT_POST} if resend else {}))
        except ResourceExistsError:
            return None
        except AzureError as exc:
            raise _storage_error(f"write {table}", exc) from None

    def delete_if_unchanged(self, table: str, partition: str, row: str, etag: str) -> bool:
        """Delete an entity only if it still has ``etag``; False if another writer changed it
        first (an entity already gone counts as deleted)."""
        try:
            points.delete(self.table(table), partition, row, if_match=etag)
        except ResourceNotFoundError:
            return True
        except ResourceModifiedError:
            return False
        except AzureError as exc:
            raise _storage_error(f"delete entities of {table}", exc) from None
        return True

    def get_versioned(self, table: str, partition: str, row: str) -> tuple[Entity, str] | None:
        """An entity with its ETag, for a later ``update_if_unchanged``."""
        try:
            return points.read(self.table(table), partition, row)
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise _storage_error(f"read {table}", exc) from None

    def update_if_unchanged(self, table: str, entity: Entity, etag: str, *,
                            merge: bool = False) -> str | None:
        """Replace (or, with ``merge``, merge into) an entity only if it still has ``etag``
        (optimistic concurrency); its new ETag, or None if another writer changed or removed
        it first."""
        try:
            return points.update(self.table(table), entity, merge=merge, if_match=etag)
        except (ResourceModifiedError, ResourceNotFoundError):
            return None
        except AzureError as exc:
            raise _storage_error(f"write {table}", exc) from None

    def merge(self, table: str, entity: Entity) -> bool:
        """Write ``entity``'s properties into the stored entity, leaving its others as they
        are; False (nothing written) if there is no such entity."""
        try:
            points.update(self.table(table), entity, merge=True, if_match="*")
        except ResourceNotFoundError:
            return False
        except AzureError as exc:
            raise _storage_error(f"write {table}", exc) from None
        return True

    def upsert(self, table: str, entity: Entity) -> None:
        try:
            points.update(self.table(table), entity, merge=False, if_match=None)
        except AzureError as exc:
            raise _storage_error(f"write {table}", exc) from None

    def write(
        self, table: str, entities: Iterable[Entity], *, max_chars: int | None = None
    ) -> WriteStats:
        """Upsert entities in transactions of at most 100 per partition (and, with
        ``max_chars``, of about that many characters of entity data at most).

        Raises:
            StorageError: a transaction failed; earlier transactions stay written (each is
            atomic on its own, and every write is an idempotent upsert).
            InputError: invalid keys (checked as entities stream in: as above, earlier
            transactions stay written).
        """
        stats = WriteStats()
        client = self.table(table)

        def submit(batch: list[Entity]) -> int:
            if len(batch) == 1:
                points.update(client, batch[0], merge=False, if_match=None)
            else:
                # A POST: azure-core sends it again on a 500/503/504, not after a dropped
                # answer (read errors: idempotent methods only). Upserts are idempotent.
                submit_upserts(client, batch, retry_on_methods=_IDEMPOTENT_POST)
            return len(batch)

        # Batches leave as they fill, a few waiting at most: no write holds all its entities.
        pool: CrewPool | None = None
        pending: deque[Future[int]] = deque()

        def collect(future: Future[int]) -> None:
            stats.entities += future.result()
            stats.transactions += 1

        def send(batch: list[Entity]) -> None:
            nonlocal pool
            if pool is None:
                pool = CrewPool(self._write_concurrency, name="table-write")
            pending.append(pool.submit(carried(submit), batch))
            while len(pending) >= 2 * self._write_concurrency:
                collect(pending.popleft())

        try:
            batches = _batches(entities, max_chars)
            first = next(batches, None)
            if first is None:
                return stats
            second = next(batches, None)
            if second is None:
                stats.entities, stats.transactions = submit(first), 1  # one: no threads
                return stats
            for batch in chain((first, second), batches):
                send(batch)
            while pending:
                collect(pending.popleft())
        except AzureError as exc:
            raise _storage_error(f"write {table}", exc) from None
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        return stats


# azure-core's methods retried after a read error, and POST (transactions of upserts).
_IDEMPOTENT_POST = frozenset({"HEAD", "GET", "PUT", "DELETE", "OPTIONS", "TRACE", "POST"})


def entity_chars(entity: Entity) -> int:
    """About how many characters an entity adds to a transaction's body."""
    return sum(len(k) + (len(v) * 4 // 3 if isinstance(v, bytes) else len(str(v))) + 16
               for k, v in entity.items())  # binary values travel base64-encoded


def _batches(entities: Iterable[Entity], max_chars: int | None) -> Iterator[list[Entity]]:
    """``entities`` cut into transactions, as they come: per partition, at most MAX_BATCH
    and (with ``max_chars``) about that many characters each, in order within a partition.

    Raises:
        InputError: an entity's keys are not valid Table Storage keys.
    """
    filling: dict[str, tuple[list[Entity], int]] = {}  # partition -> (batch, chars)
    for entity in entities:
        table_key(entity["PartitionKey"], "partition key")
        table_key(entity["RowKey"], "row key")
        batch, size = filling.get(entity["PartitionKey"], ([], 0))
        chars = entity_chars(entity) if max_chars else 0
        if batch and (len(batch) == MAX_BATCH or (max_chars and size + chars > max_chars)):
            yield batch
            batch, size = [], 0
        batch.append(entity)
        filling[entity["PartitionKey"]] = (batch, size + chars)
    for batch, _ in filling.values():
        if batch:
            yield batch


def _encode_token(token: Any) -> str | None:
    if not token:
        return None
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode()


def _decode_token(token: str | None) -> Any:
    if not token:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, UnicodeDecodeError):
        raise InputError("continuation token is not valid", code="invalid_continuation") from None
    # Only the two resume keys the service sends, as printable ASCII (they become headers).
    if (
        not isinstance(decoded, dict)
        or not decoded
        or not set(decoded) <= {"PartitionKey", "RowKey"}
        or not all(isinstance(v, str) and _TOKEN_PART.match(v) for v in decoded.values())
    ):
        raise InputError("continuation token is not valid", code="invalid_continuation")
    return decoded


def _storage_error(action: str, exc: AzureError) -> StorageError:
    status = exc.status_code if isinstance(exc, HttpResponseError) else None
    detail = f"HTTP {status}" if status else type(exc).__name__
    return StorageError(f"Table Storage could not {action} ({detail}); will retry on the next run")
