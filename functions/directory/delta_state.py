"""A directory tenant's delta state in Table Storage: where its next re-sync starts from.

Table ``<p>checkpoints`` (the sync state kept between runs), partition = tenant ID. Row
``directory.delta``: the deltaLinks of the tenant's groups and users rounds, the fingerprint
and counts of the tree the tables hold, when the last full read was and when a run last
loaded every row (``ComparedAt``). Rows
``directory.delta.g.<group id>``: one per tracked group (level 0 and each level-1 group),
its direct members that are not users (by id, with why they are ignored), which the tables
do not keep. The state stands for the tables only while its fingerprint is the tenant's.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime

from functions.storage.entities import iso, parse_time
from functions.storage.tables import TableFilter, TableStore

log = logging.getLogger("tenantsync.directory")

TABLE = "checkpoints"
ROW = "directory.delta"
GROUP_ROW = ROW + ".g."
# A row's string property holds at most 64 KiB (32K UTF-16 characters): a group with more
# non-user members than fit is not followed by delta (every re-sync reads in full).
MAX_OTHERS_CHARS = 30_000


@dataclass
class DeltaState:
    """Where a tenant's next delta re-sync starts, and the tree the tables hold."""

    root_id: str
    root_name: str
    groups_link: str  # deltaLink of the tenant's groups round ($select=displayName,members)
    users_link: str  # deltaLink of the users round (the properties the tables keep)
    full_read_at: datetime
    fingerprint: str = ""
    user_count: int = 0
    group_count: int = 0
    # Tracked group (level 0 and level 1) -> its non-user direct members: id -> reason.
    tracked: dict[str, dict[str, str]] = field(default_factory=dict)
    # When a run last loaded every stored row of the tenant (a delta re-sync that loads only
    # what its changes touch does not): the tables are trusted this long after it.
    compared_at: datetime | None = None

    @property
    def level1(self) -> set[str]:
        return set(self.tracked) - {self.root_id}


def _head(tenant_id: str, state: DeltaState) -> dict[str, object]:
    return {"PartitionKey": tenant_id, "RowKey": ROW, "RootId": state.root_id,
            "RootName": state.root_name, "GroupsLink": state.groups_link,
            "UsersLink": state.users_link, "FullReadAt": iso(state.full_read_at),
            "Fingerprint": state.fingerprint, "UserCount": state.user_count,
            "GroupCount": state.group_count, "ComparedAt": iso(state.compared_at)}


def _others_text(others: dict[str, str]) -> str:
    return json.dumps(others, sort_keys=True, separators=(",", ":"))


def followable(state: DeltaState) -> bool:
    """Whether every tracked group's non-user members fit its row."""
    return all(len(_others_text(o)) <= MAX_OTHERS_CHARS for o in state.tracked.values())


class DeltaStateStore:
    """Loads and saves tenants' delta state; saves write only the rows that changed."""

    def __init__(self, store: TableStore) -> None:
        self._store = store

    def load(self, tenant_id: str) -> DeltaState | None:
        """The tenant's delta state, or None (never saved, or unreadable)."""
        where = TableFilter(tenant_id).prefix("RowKey", ROW)
        head: dict[str, object] | None = None
        tracked: dict[str, dict[str, str]] = {}
        for e in self._store.query(TABLE, where.text, where.params):
            key = str(e["RowKey"])
            if key == ROW:
                head = e
            elif key.startswith(GROUP_ROW):
                try:
                    tracked[key[len(GROUP_ROW):]] = dict(json.loads(str(e.get("Others") or "{}")))
                except ValueError:
                    return None
        full_read_at = parse_time(head.get("FullReadAt")) if head else None
        if head is None or full_read_at is None:
            return None
        return DeltaState(
            root_id=str(head.get("RootId") or ""), root_name=str(head.get("RootName") or ""),
            groups_link=str(head.get("GroupsLink") or ""),
            users_link=str(head.get("UsersLink") or ""), full_read_at=full_read_at,
            fingerprint=str(head.get("Fingerprint") or ""),
            user_count=int(str(head.get("UserCount") or 0)),
            group_count=int(str(head.get("GroupCount") or 0)), tracked=tracked,
            compared_at=parse_time(head.get("ComparedAt")))

    def save(self, tenant_id: str, new: DeltaState, old: DeltaState | None) -> int:
        """Write what differs from ``old`` (the state as loaded); returns rows written or
        deleted. Group rows go first: the head row, last, makes the state count."""
        changed = 0
        rows = [
            {"PartitionKey": tenant_id, "RowKey": GROUP_ROW + group_id,
             "Others": _others_text(others)}
            for group_id, others in new.tracked.items()
            if old is None or old.tracked.get(group_id) != others
        ]
        if rows:
            changed += self._store.write(TABLE, rows).entities
        for group_id in set(old.tracked if old else ()) - set(new.tracked):
            self._store.delete(TABLE, tenant_id, GROUP_ROW + group_id)
            changed += 1
        head = _head(tenant_id, new)
        if old is None or _head(tenant_id, old) != head:
            self._store.upsert(TABLE, head)
            changed += 1
        return changed

    def purge(self, tenant_id: str) -> int:
        """Delete a tenant's delta state (its next sync reads in full)."""
        where = TableFilter(tenant_id).prefix("RowKey", ROW)
        keys = [str(e["RowKey"]) for e in self._store.query(TABLE, where.text, where.params)]
        for key in keys:
            self._store.delete(TABLE, tenant_id, key)
        return len(keys)
