"""One directory sync of one tenant: read, compare, write, record the run."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import ClassVar

from functions.clients.graph import RequestStats
from functions.core.errors import TenantSyncError
from functions.core.model import Run, RunStatus, TenantRecord
from functions.directory.model import GroupTree
from functions.directory.plan import deletion_guard, plan_directory_changes, tree_fingerprint
from functions.directory.reader import GroupTreeReader
from functions.directory.store import DirectoryTables
from functions.sync.ledger import failures_recorded
from functions.sync.tenant_sync import TenantSync

log = logging.getLogger("tenantsync.directory")

KIND = "directory"

@dataclass
class DirectorySync(TenantSync):
    """Runs directory syncs."""

    kind: ClassVar[str] = KIND
    directory: DirectoryTables = field(kw_only=True)

    def run(
        self, tenant_id: str, trigger: str, *, allow_mass_deletion: bool = False,
        run_id: str | None = None, full: bool = False,
    ) -> Run:
        """Sync one tenant and return its recorded run.

        A failure inside the tenant ends as a failed run (never an exception); only an
        unknown tenant (NotFoundError) or unreachable storage (StorageError) raise. ``full``
        compares with every stored entity even when the tree's digest is unchanged.
        """
        tenant = self.tenants.get(tenant_id)
        run = self.ledger.begin(tenant_id, KIND, trigger, run_id)
        loaded = replace(tenant.directory_state)
        requests_made = RequestStats()
        with failures_recorded(run):
            self._sync(tenant, run, requests_made, allow_mass_deletion, full)
        return self.ledger.finish(tenant, run, requests_made, loaded)

    def _sync(self, tenant: TenantRecord, run: Run, stats: RequestStats,
              allow_mass_deletion: bool, full: bool) -> None:
        tenant_id, state = tenant.tenant_id, tenant.directory_state
        if tenant.directory is None:
            raise TenantSyncError(
                f"tenant {tenant_id} has no directory connection", code="not_configured"
            )
        connection = tenant.directory
        graph = self.graph_for(tenant_id, connection.client_id, connection.secret_name,
                               connection.scope, state=state, run=run, stats=stats)
        tree = GroupTreeReader(graph, tenant_id).read(connection.group_id)
        run.ignored = tree.ignored
        digest = tree_fingerprint(tree) if tree.complete else ""
        if digest and digest == state.fingerprint and not full:
            # Same tree as the last complete, fully written read: the tables already
            # hold exactly this, so there is nothing to compare or write.
            run.users.unchanged, run.groups.unchanged = len(tree.users), len(tree.groups)
            run.status = RunStatus.SUCCEEDED
        else:
            self._apply(tenant_id, tree, run, allow_mass_deletion)
            state.fingerprint = digest if run.status == RunStatus.SUCCEEDED else ""

    def _apply(self, tenant_id: str, tree: GroupTree, run: Run, allow_mass_deletion: bool) -> None:
        stored = self.directory.load(tenant_id)
        changes = plan_directory_changes(tree, stored, self.clock())
        run.users, run.groups = changes.user_counts, changes.group_counts
        run.memberships_added = changes.memberships_added
        run.memberships_removed = changes.memberships_removed
        held = None if allow_mass_deletion else deletion_guard(
            changes, stored,
            ratio=self.settings.deletion_guard_ratio, minimum=self.settings.deletion_guard_min,
        )
        if held:
            run.status, run.error_code, run.error = RunStatus.SKIPPED, "deletion_guard", held
            return
        written = self.directory.write(
            tenant_id, changes.users, changes.groups, changes.memberships
        )
        run.entities_written, run.transactions = written.entities, written.transactions
        if tree.complete:
            run.status = RunStatus.SUCCEEDED
        else:
            run.status, run.error_code = RunStatus.PARTIAL, tree.error_code
            run.error = f"{tree.error} Nobody was marked deleted by this run."
