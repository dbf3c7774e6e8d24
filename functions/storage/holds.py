"""The preview of a sync the deletion guard held back: what it would have written, kept
until a release applies it, a later run replaces it, or an admin discards it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from functions.core.changes import Change
from functions.core.model import SyncKind
from functions.storage.entities import Entity, iso, parse_time
from functions.storage.feed import TRANSACTION_CHARS
from functions.storage.feed_rows import ENTRIES_PER_ROW, decode_changes, encode_changes
from functions.storage.tables import TableStore

HOLDS_TABLE = "holds"


@dataclass(frozen=True)
class Hold:
    """A held sync of one kind: the run that was held, why, and its planned changes
    (``digest``: of what they change, see ``core.changes.plan_digest``)."""

    kind: SyncKind
    run_id: str
    held_at: datetime
    reason: str
    digest: str
    changes: list[Change]

    def count(self, entity: str, change: str) -> int:
        return sum(1 for c in self.changes if c.entity == entity and c.change == change)


class HoldTable:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    def save(self, tenant_id: str, hold: Hold) -> None:
        """Keep ``hold`` as the tenant's held sync of its kind (replacing any before it),
        over as many rows as its changes need.

        Raises:
            StorageError: storage did not answer.
        """
        rows: list[Entity] = [{"PartitionKey": tenant_id, "RowKey": f"{hold.kind}-{n:05d}",
                 **encode_changes(hold.changes[start:start + ENTRIES_PER_ROW])}
                for n, start in enumerate(range(0, max(len(hold.changes), 1), ENTRIES_PER_ROW))]
        rows[0].update(RunId=hold.run_id, HeldAt=iso(hold.held_at), Reason=hold.reason[:2000],
                       Digest=hold.digest, Rows=len(rows), Count=len(hold.changes))
        keep = {r["RowKey"] for r in rows}
        for old in self._rows(tenant_id, hold.kind):
            if old["RowKey"] not in keep:
                self._store.delete(HOLDS_TABLE, tenant_id, old["RowKey"])
        # Later rows first: the first row, which names how many there are, goes last.
        self._store.write(HOLDS_TABLE, rows[1:], max_chars=TRANSACTION_CHARS)
        self._store.upsert(HOLDS_TABLE, rows[0])

    def _rows(self, tenant_id: str, kind: SyncKind) -> list[Entity]:
        return sorted(self._store.query(
            HOLDS_TABLE, "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            {"pk": tenant_id, "lo": f"{kind}-", "hi": f"{kind}."}),
            key=lambda r: str(r["RowKey"]))

    def get(self, tenant_id: str, kind: SyncKind) -> Hold | None:
        rows = self._rows(tenant_id, kind)
        if not rows or "Rows" not in rows[0]:
            return None
        first = rows[0]
        changes = [c for r in rows[:int(str(first["Rows"]))] for c in decode_changes(r)]
        return Hold(kind, str(first.get("RunId", "")),
                    parse_time(first.get("HeldAt")) or datetime.fromtimestamp(0, UTC),
                    str(first.get("Reason", "")), str(first.get("Digest", "")), changes)

    def delete(self, tenant_id: str, kind: SyncKind) -> None:
        rows = self._rows(tenant_id, kind)
        # The first row first: without it nothing is held, whatever rows stay behind.
        for row in rows:
            self._store.delete(HOLDS_TABLE, tenant_id, str(row["RowKey"]))

    def purge(self, tenant_id: str) -> int:
        return self._store.delete_partition(HOLDS_TABLE, tenant_id)
