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
from functions.directory.delta import FollowedTree
from functions.directory.digest import tree_fingerprint
from functions.directory.model import GroupTree, StoredDirectory
from functions.directory.plan import (
    DirectoryChanges,
    deletion_guard,
    plan_directory_changes,
)
from functions.directory.reader import GroupTreeReader
from functions.directory.resync import DirectoryReads
from functions.directory.store import DirectoryTables
from functions.storage.tables import WriteStats


@dataclass
class DirectorySlice:
    settings: Settings
    tables: DirectoryTables
    # Delta re-syncs (None: every sync reads in full). See ``resync``.
    reads: DirectoryReads | None = None

    kind = SyncKind.DIRECTORY
    incomplete_note = "Nobody was marked deleted by this run."
    holds_back = True

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

    def read(self, graph: GraphClient, tenant: TenantRecord, *, full: bool = False,
             known: str = "") -> GroupTree:
        assert tenant.directory is not None
        if self.reads is not None:
            return self.reads.read(graph, tenant, tenant.directory.group_id, full=full)
        return GroupTreeReader(graph, tenant.tenant_id).read(tenant.directory.group_id)

    def observe(self, tenant: TenantRecord, read: GroupTree, run: Run) -> bool:
        run.ignored = read.ignored  # counted whether or not anything changed
        return False

    def digest(self, read: GroupTree) -> str:
        if isinstance(read, FollowedTree) and read.unchanged and read.delta is not None:
            return read.delta.fingerprint  # no change since the tree the tables hold
        if isinstance(read, FollowedTree) and read.digest:
            return read.digest  # the part a delta touched: the whole tree's digest
        digest = tree_fingerprint(read)
        if self.reads is not None:
            self.reads.digested(read, digest)
        return digest

    def count_unchanged(self, read: GroupTree, run: Run) -> None:
        if (isinstance(read, FollowedTree) and (read.unchanged or read.digest)
                and read.delta is not None):
            run.users.unchanged = read.delta.user_count
            run.groups.unchanged = read.delta.group_count
        else:
            run.users.unchanged, run.groups.unchanged = len(read.users), len(read.groups)
        if self.reads is not None:
            # The tables hold exactly this read: its delta state (new links) may be kept.
            self.reads.written(run.tenant_id)

    def load(self, tenant_id: str) -> StoredDirectory:
        return self.reads.stored(tenant_id) if self.reads else self.tables.load(tenant_id)

    def plan(self, read: GroupTree, stored: StoredDirectory, now: datetime) -> DirectoryChanges:
        tree = self.reads.tree_for(read, stored) if self.reads else read
        return plan_directory_changes(tree, stored, now)

    def count(self, changes: DirectoryChanges, run: Run) -> None:
        run.users, run.groups = changes.user_counts, changes.group_counts
        run.memberships_added = changes.memberships_added
        run.memberships_removed = changes.memberships_removed

    def hold(self, changes: DirectoryChanges, stored: StoredDirectory) -> str | None:
        return deletion_guard(changes, stored, ratio=self.settings.deletion_guard_ratio,
                              minimum=self.settings.deletion_guard_min)

    def write(self, tenant_id: str, stored: StoredDirectory,
              changes: DirectoryChanges) -> WriteStats:
        written = self.tables.write(tenant_id, stored, changes)
        if self.reads is not None:
            self.reads.written(tenant_id)  # only once the tree is written whole
        return written

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
