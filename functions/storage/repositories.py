"""Typed reads and writes of tenants, directory data and runs on top of :class:`TableStore`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from ..domain import (
    GroupRecord,
    MembershipRecord,
    Run,
    StoredDirectory,
    TenantRecord,
    UserRecord,
)
from ..errors import NotFoundError
from . import entities as ent
from .tables import TableStore, WriteStats


def new_run_id(now: datetime) -> str:
    """A run id that sorts newest first within a tenant's partition and is unique."""
    inverted = 10**13 - int(now.timestamp() * 1000)
    return f"{inverted:013d}-{os.urandom(4).hex()}"


class TenantTable:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    def get(self, tenant_id: str) -> TenantRecord:
        """Raises NotFoundError for a tenant that was never onboarded."""
        entity = self._store.get("tenants", ent.TENANT_PARTITION, tenant_id)
        if entity is None:
            raise NotFoundError(
                f"tenant {tenant_id} is not onboarded (tenantsync tenant add ...)",
                code="unknown_tenant",
            )
        return ent.tenant_record(entity)

    def find(self, tenant_id: str) -> TenantRecord | None:
        entity = self._store.get("tenants", ent.TENANT_PARTITION, tenant_id)
        return ent.tenant_record(entity) if entity else None

    def save(self, tenant: TenantRecord) -> None:
        self._store.upsert("tenants", ent.tenant_entity(tenant))

    def list(self) -> list[TenantRecord]:
        rows = self._store.query("tenants", "PartitionKey eq @pk", {"pk": ent.TENANT_PARTITION})
        return [ent.tenant_record(e) for e in rows]


@dataclass
class UserFilter:
    deleted_only: bool = False
    group_id: str | None = None
    anonymous_only: bool = False


class DirectoryTables:
    """Users, groups and memberships of tenants."""

    def __init__(self, store: TableStore) -> None:
        self._store = store

    def load(self, tenant_id: str) -> StoredDirectory:
        """Everything stored for a tenant's directory, for the sync to compare against."""
        stored = StoredDirectory()
        params = {"pk": tenant_id}
        for e in self._store.query("users", "PartitionKey eq @pk", params):
            user = ent.user_record(e)
            stored.users[user.id] = user
        for e in self._store.query("groups", "PartitionKey eq @pk", params):
            group = ent.group_record(e)
            stored.groups[group.id] = group
        for e in self._store.query("memberships", "PartitionKey eq @pk", params):
            membership = ent.membership_record(e)
            stored.memberships[(membership.group_id, membership.user_id)] = membership
        return stored

    def write(
        self,
        tenant_id: str,
        users: list[UserRecord],
        groups: list[GroupRecord],
        memberships: list[MembershipRecord],
    ) -> WriteStats:
        stats = WriteStats()
        # Groups before memberships before users: a reader never sees a membership whose
        # group is missing, and users (the bulk) go last.
        stats.add(self._store.write("groups", (ent.group_entity(tenant_id, g) for g in groups)))
        stats.add(self._store.write(
            "memberships", (ent.membership_entity(tenant_id, m) for m in memberships)
        ))
        stats.add(self._store.write("users", (ent.user_entity(tenant_id, u) for u in users)))
        return stats

    def users(self, tenant_id: str, flt: UserFilter) -> Iterator[UserRecord]:
        clauses = ["PartitionKey eq @pk"]
        params: dict[str, object] = {"pk": tenant_id}
        if flt.deleted_only:
            clauses.append("AzureDeleted eq @deleted")
            params["deleted"] = True
        if flt.anonymous_only:
            clauses.append("Anonymous eq @anon")
            params["anon"] = True
        member_ids: set[str] | None = None
        if flt.group_id:
            member_ids = {
                m.user_id for m in self.memberships(tenant_id, flt.group_id) if m.active
            }
        for e in self._store.query("users", " and ".join(clauses), params):
            user = ent.user_record(e)
            if member_ids is None or user.id in member_ids:
                yield user

    def groups(self, tenant_id: str) -> Iterator[GroupRecord]:
        for e in self._store.query("groups", "PartitionKey eq @pk", {"pk": tenant_id}):
            yield ent.group_record(e)

    def memberships(
        self, tenant_id: str, group_id: str | None = None
    ) -> Iterator[MembershipRecord]:
        if group_id:
            # RowKeys of a group's memberships share the prefix "<group id>_".
            rows = self._store.query(
                "memberships",
                "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
                {"pk": tenant_id, "lo": f"{group_id}_", "hi": f"{group_id}`"},
            )
        else:
            rows = self._store.query("memberships", "PartitionKey eq @pk", {"pk": tenant_id})
        for e in rows:
            yield ent.membership_record(e)


class RunTable:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    def save(self, run: Run) -> None:
        self._store.upsert("runs", ent.run_entity(run))

    def get(self, tenant_id: str, run_id: str) -> Run:
        entity = self._store.get("runs", tenant_id, run_id)
        if entity is None:
            raise NotFoundError(f"run {run_id} of tenant {tenant_id} not found", code="unknown_run")
        return ent.run_record(entity)

    def recent(self, tenant_id: str, limit: int = 20) -> list[Run]:
        runs: list[Run] = []
        for e in self._store.query("runs", "PartitionKey eq @pk", {"pk": tenant_id},
                                   page_size=min(limit, 1000)):
            runs.append(ent.run_record(e))
            if len(runs) >= limit:
                break
        return runs

