"""What every sync run shares: its record, the tenant's health after it, its telemetry."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from . import telemetry
from .config import Settings
from .domain import Health, Run, RunStatus, SyncState, TenantRecord, utcnow
from .errors import ConflictError, StorageError, TenantSyncError
from .graph import RequestStats
from .storage.queues import JobQueue, SyncJob
from .storage.repositories import RunTable, TenantTable, new_run_id

log = logging.getLogger("tenantsync.runs")

# Error code -> the health it means; any other failure is "failing".
HEALTH_BY_ERROR = {
    "secret_expired": Health.SECRET_EXPIRED,
    "app_not_found": Health.CONSENT_MISSING,
    "consent_missing": Health.CONSENT_MISSING,
    "permission_missing": Health.PERMISSION_MISSING,
    "intune_not_licensed": Health.INTUNE_NOT_LICENSED,
    "excluded": Health.EXCLUDED,
    "inactive": Health.INACTIVE,
    "unsupported": Health.UNSUPPORTED,
}
# Runs skipped for these reasons say something about the tenant, not a failure.
_STANDING = frozenset({"excluded", "inactive", "unsupported"})


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


def next_health(state: SyncState, run: Run, now: datetime, settings: Settings) -> None:
    """Update a tenant's state for one kind of sync after a run (pure, in place)."""
    if run.error_code in _STANDING:
        state.last_error_code, state.last_error = run.error_code, run.error
        health = HEALTH_BY_ERROR[run.error_code]
    elif run.status in (RunStatus.FAILED, RunStatus.PARTIAL):
        # A partial run wrote what it could, but something keeps it from a complete read.
        state.consecutive_failures += 1
        state.last_error_code, state.last_error = run.error_code, run.error
        health = HEALTH_BY_ERROR.get(run.error_code, Health.FAILING)
        if state.consecutive_failures >= settings.quarantine_after:
            # Retried once the back-off has passed; until then the schedule skips it.
            health = Health.QUARANTINED
            state.quarantined_until = now + timedelta(minutes=settings.quarantine_backoff_minutes)
    else:
        state.consecutive_failures = 0
        state.quarantined_until = None
        state.last_error_code, state.last_error = run.error_code, run.error
        health = Health.HEALTHY
        expires = state.secret_expires_on
        if expires and (expires - now).days < settings.secret_warning_days:
            health = Health.SECRET_EXPIRING if expires > now else Health.SECRET_EXPIRED
    if health != state.health:
        state.health, state.health_since = health, now


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


def schedulable(tenant: TenantRecord, kind: str, now: datetime) -> bool:
    """Whether the timer should enqueue this tenant's sync of ``kind`` now."""
    if not tenant.enabled:
        return False
    if kind == "directory":
        connected = tenant.directory is not None
    else:
        d = tenant.devices
        connected = d is not None and d.active and not d.excluded and not d.unsupported_reason
    until = tenant.state(kind).quarantined_until
    return connected and (until is None or until <= now)


# A run queued or running for longer than this is taken as dead (its worker crashed) and no
# longer blocks a new start.
STALE_AFTER = timedelta(minutes=30)


def queue_claimed(
    runs: RunTable, queue: JobQueue, tenant_id: str, kind: str, trigger: str,
    queue_run: Callable[[str, str, str], Run],
) -> Run:
    """Claim the tenant's sync of ``kind``, record its run as queued and put its job on
    ``queue`` (what an HTTP start and the schedule both do).

    Raises:
        ConflictError: ``sync_running`` with the id of the run that holds the claim (queued
        or running, or just claimed by a start that won a race).
        StorageError: the run could not be recorded or queued (a queued run that could not
        be put on the queue is recorded as failed, so that it blocks nothing).
    """
    run_id = new_run_id(utcnow())
    holder = runs.claim(tenant_id, kind, run_id, stale_after=STALE_AFTER)
    if holder is not None:
        raise ConflictError(
            f"a {kind} sync of tenant {tenant_id} is already queued or running (run {holder})",
            code="sync_running", run_id=holder,
        )
    run = queue_run(tenant_id, trigger, run_id)
    try:
        queue.put(SyncJob(tenant_id, kind, trigger, run.run_id))
    except StorageError:
        run.status, run.ended_at = RunStatus.FAILED, utcnow()
        run.error_code = "enqueue_failed"
        run.error = "The sync job could not be put on the queue; start the sync again."
        with contextlib.suppress(StorageError):
            runs.save(run)
        raise
    return run

