"""Run records, the tenant's health after each run, and their telemetry."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from functions.clients.graph import RequestStats
from functions.core import telemetry
from functions.core.config import Settings
from functions.core.errors import StorageError, TenantSyncError
from functions.core.model import Run, RunStatus, SyncState, TenantRecord, utcnow
from functions.storage.runs import RunTable, new_run_id
from functions.storage.tenants import TenantTable
from functions.sync.health import next_health

log = logging.getLogger("tenantsync.runs")


@contextmanager
def failures_recorded(run: Run) -> Iterator[None]:
    """Turn a failure inside a tenant into the run's failed status (never an exception).

    Storage outages propagate: the queue retries the job later. Unexpected errors keep
    their traceback in the log, not in the stored run.
    """
    try:
        yield
    except StorageError:
        raise
    except TenantSyncError as exc:
        run.status, run.error_code, run.error = RunStatus.FAILED, exc.code, exc.message
    except Exception:
        log.exception("%s sync crashed", run.kind,
                      extra={"tenant_id": run.tenant_id, "run_id": run.run_id})
        run.status, run.error_code = RunStatus.FAILED, "internal_error"
        run.error = "Unexpected error; see the function's logs for the run id."


@dataclass
class RunLedger:
    """Records runs and, after each, the tenant's health (written only when it changed)."""

    settings: Settings
    tenants: TenantTable
    runs: RunTable
    clock: Callable[[], datetime] = utcnow

    def queue(self, tenant_id: str, kind: str, trigger: str, run_id: str | None = None) -> Run:
        """Record a run as queued (started now, run later by the queue function).

        Raises:
            NotFoundError: the tenant is not onboarded.
        """
        self.tenants.get(tenant_id)
        now = self.clock()
        run = Run(run_id or new_run_id(now), tenant_id, kind, trigger, now,
                  status=RunStatus.QUEUED)
        self.runs.save(run)
        return run

    def begin(self, tenant_id: str, kind: str, trigger: str, run_id: str | None) -> Run:
        started = self.clock()
        run = Run(run_id or new_run_id(started), tenant_id, kind, trigger, started)
        self.runs.save(run)
        return run

    def finish(
        self, tenant: TenantRecord, run: Run, requests: RequestStats, loaded: SyncState,
        *, tenant_changed: bool = False,
    ) -> Run:
        """Save the run and the tenant's new state, emit telemetry.

        ``loaded`` is a copy of the tenant's state as it was read before the run, so that
        the tenant is written only when the run changed it.
        """
        run.graph_requests, run.throttled = requests.requests, requests.throttled
        run.ended_at = self.clock()
        self.runs.save(run)
        state = tenant.state(run.kind)
        next_health(state, run, run.ended_at, self.settings)
        if tenant_changed or state != loaded:
            self.tenants.save(tenant)
        if state.health != loaded.health:
            telemetry.health_changed(tenant, run.kind, loaded.health.value)
        telemetry.run_finished(run)
        t = run.totals
        log.info(
            "%s sync %s: tenant %s, +%d ~%d =%d deleted %d restored %d, %d entities written, "
            "%d Graph requests (%d throttled)%s",
            run.kind, run.status.value, run.tenant_id, t.created, t.updated, t.unchanged,
            t.marked_deleted, t.restored, run.entities_written, run.graph_requests,
            run.throttled, f", error {run.error_code}" if run.error_code else "",
            extra={"run_id": run.run_id, "tenant_id": run.tenant_id, "status": run.status.value},
        )
        return run
