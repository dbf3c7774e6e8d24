"""Run records, the tenant's health after each run, and their telemetry."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime

from functions.clients.graph import RequestStats
from functions.core import telemetry, usage
from functions.core.config import Settings
from functions.core.errors import ErrorCode, StorageError, TenantSyncError
from functions.core.model import (
    Run,
    RunStatus,
    SyncKind,
    SyncState,
    TenantRecord,
    iso,
    new_run_id,
    utcnow,
)
from functions.storage.health import TenantHealth
from functions.storage.outbox import RUN, OutboxEvent
from functions.storage.runs import RunTable
from functions.storage.tenants import TenantTable
from functions.sync.health import next_health
from functions.sync.lease import Lease, LeaseLost

log = logging.getLogger("tenantsync.runs")


@contextmanager
def failures_recorded(run: Run) -> Iterator[None]:
    """Turn a failure inside a tenant into the run's failed status (never an exception).

    Storage outages propagate (the queue retries the job later), and so does a lost lease
    (another worker has the run). Unexpected errors keep
    their traceback in the log, not in the stored run.
    """
    try:
        yield
    except (StorageError, LeaseLost):
        raise
    except TenantSyncError as exc:
        run.status, run.error_code, run.error = RunStatus.FAILED, exc.code, exc.message
    except Exception:
        log.exception("%s sync crashed", run.kind,
                      extra={"tenant_id": run.tenant_id, "run_id": run.run_id})
        run.status, run.error_code = RunStatus.FAILED, ErrorCode.INTERNAL_ERROR
        run.error = "Unexpected error; see the function's logs for the run id."


@dataclass
class RunLedger:
    """Records how runs end and, after each, the tenant's state (written only when it
    changed, through ``TenantHealth``), with their telemetry. A run's end is announced in
    the outbox before its record is saved, and published once it is."""

    settings: Settings
    tenants: TenantTable
    runs: RunTable
    health: TenantHealth
    clock: Callable[[], datetime] = utcnow
    # Told of every run once it ended and was recorded (the tenant, the run, the state it
    # had before); its failure is logged, never the run's.
    ended_hook: Callable[[TenantRecord, Run, SyncState], None] | None = None

    def finish(
        self, tenant: TenantRecord, run: Run, requests: RequestStats, loaded: SyncState,
        *, lease: Lease, tenant_changed: bool = False,
    ) -> Run:
        """Save the run (under its lease) and the tenant's new state, emit telemetry.

        ``loaded`` is a copy of the tenant's state as it was read before the run, so that
        the tenant is written only when the run changed it.

        Raises:
            LeaseLost: another worker closed or took the run meanwhile; nothing was written
            but the announcement of its end, which the relay drops (the run did not end so).
            StorageError: storage did not answer.
        """
        run.graph_requests, run.throttled = requests.requests, requests.throttled
        run.ended_at = self.clock()
        run.lease_until = None
        with self.health.publication():  # the run's end is wanted, then told: one look
            events = self._announce(tenant, run, loaded)
            measured = usage.current()
            if measured is not None:  # what the run used, up to the save of this record
                run.cpu_ms = round(measured.cpu_seconds() * 1000)
                run.storage_operations = measured.storage_operations + 1  # and the save
            if not lease.save(run):
                raise LeaseLost(run.run_id)
            self._after(tenant, run, loaded, events, tenant_changed=tenant_changed)
        return run

    def _announce(self, tenant: TenantRecord | None, run: Run, loaded: SyncState
                  ) -> list[OutboxEvent]:
        """The run's end (``sync.finished`` once saved) and the change of health it makes
        (the tenant's state moved here), in the outbox before either record: one request."""
        assert run.ended_at is not None
        ended = (RUN, run.run_id, {"endedAt": iso(run.ended_at), "status": run.status.value})
        if tenant is None:
            return [self.health.outbox.add(run.tenant_id, *ended)]
        next_health(tenant.state(run.kind), run, run.ended_at, self.settings)
        if tenant.state(run.kind).health == loaded.health and \
                not self.health.run_end_wanted(run.tenant_id):
            # Nobody listens for this tenant's runs' ends (no webhook subscription wants
            # sync.finished now) and its health stays: there is nothing to announce.
            return []
        return self.health.announce_with(tenant, run.kind, loaded, ended, run.run_id)

    def _after(self, tenant: TenantRecord, run: Run, loaded: SyncState,
               events: list[OutboxEvent], *, tenant_changed: bool = False) -> None:
        """The tenant's state after ``run`` ended (moved by ``_announce``), its telemetry,
        its events and its log line."""
        if tenant_changed or tenant.state(run.kind) != loaded:
            self.health.write_state(tenant, run.kind, organization=tenant_changed)
        telemetry.run_finished(run)
        # The run's end and its change of health (with whatever is pending of the tenant).
        if events:
            self.health.published(run.tenant_id, events, run, tenant)
        t = run.totals
        log.info(
            "%s sync %s: tenant %s, +%d ~%d =%d deleted %d restored %d, %d entities written, "
            "%d Graph requests (%d throttled)%s",
            run.kind, run.status.value, run.tenant_id, t.created, t.updated, t.unchanged,
            t.marked_deleted, t.restored, run.entities_written, run.graph_requests,
            run.throttled, f", error {run.error_code}" if run.error_code else "",
            extra={"run_id": run.run_id, "tenant_id": run.tenant_id, "status": run.status.value},
        )
        if self.ended_hook is not None:
            try:
                self.ended_hook(tenant, run, loaded)
            except Exception:
                log.exception("after run %s of tenant %s", run.run_id, run.tenant_id)

    def close_dead(self, run: Run, etag: str) -> bool:
        """Close a run nobody will finish: a running run whose lease ran out (its worker was
        killed or crashed), or a queued run that never started. False if its record changed
        since it was read (its worker is alive after all, or another closer was first).

        Raises:
            StorageError: storage did not answer.
        """
        if run.status == RunStatus.RUNNING:
            return self.close(run, etag, ErrorCode.RUN_ABANDONED,
                              "The worker running this sync stopped before it finished "
                              "(killed, crashed or out of time); what it wrote stays, nobody "
                              "was marked deleted by it, and the next sync converges.")
        return self.close(run, etag, ErrorCode.RUN_NOT_STARTED,
                          "This sync was queued but no worker started it in time (its job "
                          "was lost); the next start or schedule queues it again.")

    def close(self, run: Run, etag: str, code: ErrorCode, why: str) -> bool:
        """Close an active run as failed with ``code`` (the tenant's health and telemetry
        follow); False if its record changed since it was read.

        Raises:
            StorageError: storage did not answer.
        """
        run.error_code, run.error = code, why
        run.status, run.ended_at, run.lease_until = RunStatus.FAILED, self.clock(), None
        tenant = self.tenants.find(run.tenant_id)
        loaded = replace(tenant.state(run.kind)) if tenant is not None else SyncState()
        events = self._announce(tenant, run, loaded)
        if self.runs.save_if(run, etag) is None:
            return False
        log.warning("closed %s run %s of tenant %s: %s", run.kind, run.run_id, run.tenant_id,
                    run.error_code, extra={"run_id": run.run_id, "tenant_id": run.tenant_id})
        if tenant is not None:
            self._after(tenant, run, loaded, events)
        else:
            telemetry.run_finished(run)
            self.health.published(run.tenant_id, events, run)
        return True

    def duplicate(self, tenant_id: str, kind: SyncKind, trigger: str, holder: Run | None,
                  run_id: str | None) -> Run:
        """Record a delivery of a job whose run another worker has (or had) taken: it ends
        at once, as a skipped run of its own that names the run, never as a second sync.

        Raises:
            StorageError: storage did not answer.
        """
        now = self.clock()
        state = holder.status.value if holder is not None else "not recorded"
        run = Run(new_run_id(now), tenant_id, kind, trigger, now, status=RunStatus.SKIPPED,
                  ended_at=now, error_code=ErrorCode.DUPLICATE_DELIVERY,
                  error=f"The job of run {run_id} was delivered again while that run was "
                        f"{state}; this delivery ended at once without syncing.")
        self.runs.save(run)
        log.info("duplicate delivery of run %s (%s)", run_id, state,
                 extra={"run_id": run.run_id, "tenant_id": tenant_id})
        telemetry.run_finished(run)
        return run
