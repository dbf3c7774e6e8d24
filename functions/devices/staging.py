"""Where a read part-way keeps its progress: the checkpoint row and the parts already read.

Table ``<p>checkpoints``, partition = tenant ID. Row ``devices``: the checkpoint (JSON in
``State``, plus ``Cycle``, ``Step`` and ``StartedAt`` for a person looking). Rows
``devices.<cycle>.<kind>.<random>``: one part each (binary properties ``p0``, ``p1``, ...
of at most 60,000 bytes: compressed JSON). Saves of the checkpoint are conditional on its
ETag, so a run that lost the tenant's read to another run cannot overwrite it.
"""

from __future__ import annotations

import logging
import os

from functions.core.errors import ErrorCode, StorageError, TenantSyncError
from functions.devices.checkpoint import Checkpoint
from functions.devices.model import SavedRead
from functions.storage.entities import iso
from functions.storage.tables import TableStore, WriteStats

log = logging.getLogger("tenantsync.devices")

CHECKPOINT_TABLE = "checkpoints"
ROW = "devices"
CHUNK_BYTES = 60_000  # per binary property: under 64 KiB
MAX_PART_BYTES = 12 * CHUNK_BYTES  # per row: well under the 1 MiB entity limit


class CheckpointTaken(TenantSyncError):
    """Another run saved the tenant's read since this run read it: this one must stop."""

    code = ErrorCode.CHECKPOINT_TAKEN


class CheckpointStore:
    """A tenant's device-read checkpoint and the parts it has read."""

    def __init__(self, store: TableStore) -> None:
        self._store = store

    def load(self, tenant_id: str) -> tuple[Checkpoint | None, str | None]:
        """The checkpoint (None if there is none, or none this version can read) and the
        ETag of its row (None if there is no row).

        Raises:
            StorageError: storage did not answer.
        """
        found = self._store.get_versioned(CHECKPOINT_TABLE, tenant_id, ROW)
        if found is None:
            return None, None
        entity, etag = found
        return Checkpoint.from_json(str(entity.get("State") or "")), etag

    def save(self, tenant_id: str, checkpoint: Checkpoint, etag: str | None) -> str:
        """Save the checkpoint over the one read with ``etag`` (or as the first one); its new
        ETag.

        Raises:
            CheckpointTaken: another run saved it meanwhile.
            StorageError: storage did not answer.
        """
        entity = {"PartitionKey": tenant_id, "RowKey": ROW, "State": checkpoint.to_json(),
                  "Cycle": checkpoint.cycle, "Step": checkpoint.step.value,
                  "StartedAt": iso(checkpoint.started_at)}
        if etag is None:
            created = self._store.insert_versioned(CHECKPOINT_TABLE, entity)
            if created is not None:
                return created
        else:
            new_etag = self._store.update_if_unchanged(CHECKPOINT_TABLE, entity, etag)
            if new_etag is not None:
                return new_etag
        raise CheckpointTaken(
            f"Another run took over tenant {tenant_id}'s inventory read (its worker "
            "stalled past its lease); this run stopped without writing.")

    def put(self, tenant_id: str, cycle: str, part_type: str,
            data: bytes) -> tuple[str, WriteStats]:
        """Save one part of the read (``data``: at most MAX_PART_BYTES); its row key."""
        if len(data) > MAX_PART_BYTES:
            raise ValueError(f"a {part_type} part of {len(data)} bytes is over {MAX_PART_BYTES}")
        key = f"{ROW}.{cycle}.{part_type}.{os.urandom(4).hex()}"
        entity: dict[str, object] = {"PartitionKey": tenant_id, "RowKey": key}
        for n, start in enumerate(range(0, max(len(data), 1), CHUNK_BYTES)):
            entity[f"p{n}"] = data[start:start + CHUNK_BYTES]
        return key, self._store.write(CHECKPOINT_TABLE, [entity])

    def get(self, tenant_id: str, key: str) -> bytes:
        """One saved part.

        Raises:
            TenantSyncError: ``checkpoint_taken`` when the part is gone (another run ended
            the read meanwhile). StorageError: storage did not answer.
        """
        entity = self._store.get(CHECKPOINT_TABLE, tenant_id, key)
        if entity is None:
            raise CheckpointTaken(f"A saved part of tenant {tenant_id}'s inventory read is "
                                  "gone: another run ended that read; this run stopped.")
        chunks: list[bytes] = []
        while f"p{len(chunks)}" in entity:
            chunks.append(bytes(entity[f"p{len(chunks)}"]))
        return b"".join(chunks)

    def drop(self, tenant_id: str, cycle: str) -> None:
        """Delete every part of a read (after it was applied, or when it starts over)."""
        prefix = f"{ROW}.{cycle}."
        rows = self._store.query(
            CHECKPOINT_TABLE, "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            {"pk": tenant_id, "lo": prefix, "hi": prefix[:-1] + "/"},
            select=("PartitionKey", "RowKey"))
        for row in list(rows):
            self._store.delete(CHECKPOINT_TABLE, tenant_id, str(row["RowKey"]))

    def clear(self, tenant_id: str, etag: str) -> None:
        """End the read: its checkpoint row goes (if it is still ours).

        Raises:
            CheckpointTaken: another run saved it meanwhile.
        """
        if not self._store.delete_if_unchanged(CHECKPOINT_TABLE, tenant_id, ROW, etag):
            raise CheckpointTaken(
                f"Another run took over tenant {tenant_id}'s inventory read meanwhile.")

    def purge(self, tenant_id: str) -> int:
        """Hard-delete every checkpoint row and part of a tenant; returns how many rows."""
        return self._store.delete_partition(CHECKPOINT_TABLE, tenant_id)


def end_read(checkpoints: CheckpointStore, tenant_id: str, saved: SavedRead | None) -> None:
    """End a read that was applied: its checkpoint and parts go (a read that never had to
    be saved left none).

    Raises:
        CheckpointTaken: another run took the read over meanwhile.
    """
    if saved is None:
        return
    checkpoints.clear(tenant_id, saved.etag)
    try:
        checkpoints.drop(tenant_id, saved.cycle)
    except StorageError:
        log.warning("parts of an applied inventory read were left behind",
                    extra={"tenant_id": tenant_id, "cycle": saved.cycle})
