"""One directory sync of one tenant: read, compare, write, record the run."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import requests

from .. import telemetry
from ..config import Settings
from ..domain import Health, Run, RunStatus, TenantRecord, utcnow
from ..errors import StorageError, TenantSyncError
from ..graph import GraphClient
from ..secrets import SecretStore
from ..storage.repositories import DirectoryTables, RunTable, TenantTable, new_run_id
from ..tokens import TokenProvider
from .diff import deletion_guard, plan_directory_changes
from .reader import GroupTreeReader

log = logging.getLogger("tenantsync.directory")

KIND = "directory"

# Error code -> the health it means; anything else is "failing".
_HEALTH_BY_ERROR = {
    "secret_expired": Health.SECRET_EXPIRED,
    "app_not_found": Health.CONSENT_MISSING,
    "consent_missing": Health.CONSENT_MISSING,
    "permission_missing": Health.PERMISSION_MISSING,
}


@dataclass
class DirectorySync:
    """Runs directory syncs; every collaborator is injected so tests use the real ones."""

    settings: Settings
    tenants: TenantTable
    directory: DirectoryTables
    runs: RunTable
    secrets: SecretStore
    tokens: TokenProvider
    session: requests.Session
    clock: Callable[[], datetime] = utcnow

    def queue_run(self, tenant_id: str, trigger: str) -> Run:
        """Record a run as queued (for a sync started now and run by the queue function)."""
        self.tenants.get(tenant_id)
        now = self.clock()
        run = Run(new_run_id(now), tenant_id, KIND, trigger, now, status=RunStatus.QUEUED)
        self.runs.save(run)
        return run

    def run(
        self, tenant_id: str, trigger: str, *, allow_mass_deletion: bool = False,
        run_id: str | None = None,
    ) -> Run:
        """Sync one tenant and return its recorded run.

        A failure inside the tenant ends as a failed run (never an exception); only an
        unknown tenant (NotFoundError) or unreachable storage (StorageError) raise.
        """
        tenant = self.tenants.get(tenant_id)
        started = self.clock()
        run = Run(run_id or new_run_id(started), tenant_id, KIND, trigger, started)
        self.runs.save(run)
        graph: GraphClient | None = None
        try:
            if tenant.directory is None:
                raise TenantSyncError(
                    f"tenant {tenant_id} has no directory connection", code="not_configured"
                )
            connection = tenant.directory
            secret = self.secrets.get(connection.secret_name)
            if secret.expires_on:
                tenant.secret_expires_on = secret.expires_on
                telemetry.secret_expiry(tenant_id, KIND, secret.expires_on, started)
            graph = GraphClient(
                self.settings.graph_url,
                lambda: self.tokens.token(
                    tenant_id, connection.client_id, secret.value, connection.scope
                ),
                self.session,
                max_retries=self.settings.graph_max_retries,
                max_retry_wait=self.settings.graph_max_retry_wait,
                timeout=self.settings.graph_timeout,
            )
            tree = GroupTreeReader(graph, tenant_id).read(connection.group_id)
            stored = self.directory.load(tenant_id)
            changes = plan_directory_changes(tree, stored, self.clock())
            run.users, run.groups = changes.user_counts, changes.group_counts
            run.memberships_added = changes.memberships_added
            run.memberships_removed = changes.memberships_removed
            run.ignored = tree.ignored
            held = None if allow_mass_deletion else deletion_guard(
                changes, stored,
                ratio=self.settings.deletion_guard_ratio, minimum=self.settings.deletion_guard_min,
            )
            if held:
                run.status, run.error_code, run.error = RunStatus.SKIPPED, "deletion_guard", held
            else:
                written = self.directory.write(
                    tenant_id, changes.users, changes.groups, changes.memberships
                )
                run.entities_written, run.transactions = written.entities, written.transactions
                if tree.complete:
                    run.status = RunStatus.SUCCEEDED
                else:
                    run.status, run.error_code = RunStatus.PARTIAL, tree.error_code
                    run.error = f"{tree.error} Nobody was marked deleted by this run."
        except StorageError:
            raise
        except TenantSyncError as exc:
            run.status, run.error_code, run.error = RunStatus.FAILED, exc.code, exc.message
        except Exception:
            # Unexpected: keep the traceback in the log, not in the stored run.
            log.exception("directory sync crashed", extra={"tenant_id": tenant_id})
            run.status, run.error_code = RunStatus.FAILED, "internal_error"
            run.error = "Unexpected error; see the function's logs for the run id."
        finally:
            if graph is not None:
                run.graph_requests = graph.stats.requests
                run.throttled = graph.stats.throttled
        run.ended_at = self.clock()
        self.runs.save(run)
        self._update_health(tenant, run)
        telemetry.run_finished(run)
        log.info(
            "directory sync %s: tenant %s, users +%d ~%d -%d restored %d, groups +%d -%d, "
            "%d entities written, %d Graph requests (%d throttled)%s",
            run.status.value, tenant_id, run.users.created, run.users.updated,
            run.users.marked_deleted, run.users.restored, run.groups.created,
            run.groups.marked_deleted, run.entities_written, run.graph_requests, run.throttled,
            f", error {run.error_code}" if run.error_code else "",
            extra={"run_id": run.run_id, "tenant_id": tenant_id, "status": run.status.value},
        )
        return run

    def _update_health(self, tenant: TenantRecord, run: Run) -> None:
        """Write the tenant's health only when something about it changed."""
        before = (tenant.health, tenant.last_error_code, tenant.consecutive_failures,
                  tenant.secret_expires_on, tenant.last_error)
        previous = tenant.health
        now = run.ended_at or self.clock()
        if run.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL, RunStatus.SKIPPED):
            tenant.consecutive_failures = 0
            tenant.last_error_code, tenant.last_error = run.error_code, run.error
            health = Health.HEALTHY
            expires = tenant.secret_expires_on
            if expires and (expires - now).days < self.settings.secret_warning_days:
                health = Health.SECRET_EXPIRING if expires > now else Health.SECRET_EXPIRED
        else:
            tenant.consecutive_failures += 1
            tenant.last_error_code, tenant.last_error = run.error_code, run.error
            health = _HEALTH_BY_ERROR.get(run.error_code, Health.FAILING)
        if health != tenant.health:
            tenant.health, tenant.health_since = health, now
        after = (tenant.health, tenant.last_error_code, tenant.consecutive_failures,
                 tenant.secret_expires_on, tenant.last_error)
        if after != before:
            self.tenants.save(tenant)
        if tenant.health != previous:
            telemetry.health_changed(tenant, KIND, previous.value)

