"""Shared request budgets: per budget (an app's Graph budget) and time slot, one row of what
every instance together has claimed, changed only with optimistic concurrency on its ETag."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from functions.core.errors import StorageError
from functions.storage.tables import TableStore

BUDGETS_TABLE = "budgets"
ATTEMPTS = 50  # claims racing for one row; each lost race costs a read and a write


class BudgetTable:
    """Claims of shared budgets (``functions.clients.pacing.BudgetClaims``): PartitionKey the
    budget's key, RowKey the slot number, ``Claimed`` the requests granted in that slot."""

    def __init__(self, store: TableStore, *,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._store = store
        self._sleep = sleep

    def claim(self, key: str, slot: int, limit: int, wanted: int) -> int:
        """Claim up to ``wanted`` of slot ``slot``'s ``limit``; the number granted, 0 when
        the slot is spent. A row another instance changed first is read again.

        Raises:
            StorageError: storage did not answer, or the row stayed contended.
        """
        row = f"{slot:012d}"
        for attempt in range(ATTEMPTS):
            found = self._store.get_versioned(BUDGETS_TABLE, key, row)
            if found is None:
                granted = min(wanted, limit)
                entity = {"PartitionKey": key, "RowKey": row, "Claimed": granted}
                if self._store.insert_versioned(BUDGETS_TABLE, entity) is not None:
                    self._sweep(key, row)
                    return granted
            else:
                entity, etag = found
                claimed = int(str(entity.get("Claimed", 0)))
                granted = min(wanted, limit - claimed)
                if granted <= 0:
                    return 0
                entity["Claimed"] = claimed + granted
                if self._store.update_if_unchanged(BUDGETS_TABLE, entity, etag) is not None:
                    return granted
            # Another instance claimed first: try again after a short, random pause.
            self._sleep(random.uniform(0, 0.005 * (attempt + 1)))  # noqa: S311 - not security
        raise StorageError(f"the shared budget {key!r} stayed contended for {ATTEMPTS} attempts")

    def claimed(self, key: str, slot: int) -> int:
        """What every instance together has claimed of one slot."""
        found = self._store.get(BUDGETS_TABLE, key, f"{slot:012d}")
        return int(str(found.get("Claimed", 0))) if found else 0

    def _sweep(self, key: str, row: str) -> None:
        """The instance that opens a slot removes the rows of slots before the last one
        (they no longer limit anything), so a budget keeps two rows, not one a slot."""
        for old in list(self._store.query(BUDGETS_TABLE, "PartitionKey eq @pk and RowKey lt @rk",
                                     {"pk": key, "rk": f"{int(row) - 1:012d}"})):
            self._store.delete(BUDGETS_TABLE, key, str(old["RowKey"]))
