"""The directory sync as the engine runs it: the level-0 group's tree, read, planned and
written (the engine owns the run's life; see ``functions.sync.slice``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from functions.clients.graph import GraphClient
from functions.core import changes as ch
from functions.core.changes import Change, written_as_planned
from functions.core.config import Settings
from functions.core.errors import ErrorCode, TenantSyncError
from functions.core.model import AppConnection, Run, SyncKind, TenantRecord
from functions.directory.model import GroupTree, StoredDirectory
from functions.directory.plan import (
    DirectoryChanges,
    deletion_guard,
    plan_directory_changes,
    tree_fingerprint,
)
from functions.directory.reader import GroupTreeReader
from functions.directory.store import DirectoryTables
from functions.storage.tables import WriteStats


@dataclass
class DirectorySlice:
    settings: Settings
    tables: DirectoryTables

    kind = SyncKind.DIRECTORY
    incomplete_note = "Nobody was marked deleted by this run."

    def app(self, tenant: TenantRecord) -> AppConnection:
        conn = tenant.directory
        if conn is None:
            raise TenantSyncError(f"tenant {tenant.tenant_id} has no directory connection",
                                  code=ErrorCode.NOT_CONFIGURED)
        return AppConnection(conn.client_id, conn.credential, conn.scope)

    def standing(self, tenant: TenantRecord) -> tuple[ErrorCode, str] | None:
        assert tenant.directory is not None
        if not tenant.directory.group_id:
            return (ErrorCode.GROUP_REQUIRED, "The tenant is connected but has no level-0 "
                    "group yet: choose one of its groups (PATCH groupId) to start syncing.")
        return None

    def read(self, graph: GraphClient, tenant: TenantRecord) -> GroupTree:
        assert tenant.directory is not None
        return GroupTreeReader(graph, tenant.tenant_id).read(tenant.directory.group_id)

    def observe(self, tenant: TenantRecord, read: GroupTree, run: Run) -> bool:
        run.ignored = read.ignored  # counted whether or not anything changed
        return False

    def digest(self, read: GroupTree) -> str:
        return tree_fingerprint(read)

    def count_unchanged(self, read: GroupTree, run: Run) -> None:
        run.users.unchanged, run.groups.unchanged = len(read.users), len(read.groups)

    def load(self, tenant_id: str) -> StoredDirectory:
        return self.tables.load(tenant_id)

    def plan(self, read: GroupTree, stored: StoredDirectory, now: datetime) -> DirectoryChanges:
        return plan_directory_changes(read, stored, now)

    def count(self, changes: DirectoryChanges, run: Run) -> None:
        run.users, run.groups = changes.user_counts, changes.group_counts
        run.memberships_added = changes.memberships_added
        run.memberships_removed = changes.memberships_removed

    def hold(self, changes: DirectoryChanges, stored: StoredDirectory) -> str | None:
        return deletion_guard(changes, stored, ratio=self.settings.deletion_guard_ratio,
                              minimum=self.settings.deletion_guard_min)

    def write(self, tenant_id: str, stored: StoredDirectory,
              changes: DirectoryChanges) -> WriteStats:
        return self.tables.write(tenant_id, stored, changes)

    def feed(self, changes: DirectoryChanges) -> list[Change]:
        return changes.entries

    def settled(self, stored: StoredDirectory, changes: list[Change]) -> list[Change]:
        def lookup(entity: str, entity_id: str) -> object | None:
            if entity == ch.USER:
                return stored.users.get(entity_id)
            if entity == ch.GROUP:
                return stored.groups.get(entity_id)
            group_id, _, user_id = entity_id.partition("_")
            return stored.memberships.get((group_id, user_id))

        return written_as_planned(changes, lookup)
