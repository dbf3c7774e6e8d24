"""Jobs whose message failed every delivery: the Functions host moves such a message to
``<queue>-poison`` after host.json's ``maxDequeueCount`` attempts (the local worker stops at
the same count). Each becomes a failed run with its cause and a telemetry event that an
alert watches: never a message nobody reads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from functions.core import telemetry
from functions.core.errors import ErrorCode, InputError
from functions.core.model import Run, RunStatus, SyncKind, new_run_id, utcnow
from functions.storage.queues import SyncJob
from functions.storage.runs import RunTable
from functions.sync.ledger import RunLedger

log = logging.getLogger("tenantsync.poison")

# host.json extensions.queues.maxDequeueCount: deliveries before the host gives a message up.
MAX_DELIVERIES = 5
POISON_EVENT = "tenantsync.poison"


def poison_queue_name(queue_name: str) -> str:
    """Where the Functions host moves a message that failed every delivery."""
    return f"{queue_name}-poison"


@dataclass
class PoisonedJobs:
    """Turns a poisoned job message into a failed run (``job_poisoned``)."""

    runs: RunTable
    ledger: RunLedger
    clock: Callable[[], datetime] = utcnow

    def handle(self, text: str, kind: SyncKind, deliveries: int = MAX_DELIVERIES) -> Run | None:
        """Close the job's run as failed, or record a failed run if it has none; the run it
        ended in (or the one that had already ended), None for a message that is no job.
        Each poisoned message is logged and emitted as a ``tenantsync.poison`` event.

        Raises:
            StorageError: storage did not answer (the host delivers the message again).
        """
        why = (f"Its queue message failed all {deliveries} deliveries (storage unavailable, "
               "or the worker crashed; see the function's logs for the run id) and was set "
               "aside; the next start or schedule queues the tenant again.")
        try:
            job = SyncJob.from_json(text)
        except InputError as exc:
            log.error("a poisoned %s message is no sync job (%s); it is dropped", kind,
                      exc.message)
            self._event(kind, "", "", "not_a_job", deliveries)
            return None
        run = self._close(job, why) if job.run_id else None
        if run is None:
            run = self._record(job, why)
        outcome = "closed" if run.error_code == ErrorCode.JOB_POISONED else "already_ended"
        log.error("%s job of tenant %s failed %d deliveries: run %s %s", kind, job.tenant_id,
                  deliveries, run.run_id, run.status.value,
                  extra={"run_id": run.run_id, "tenant_id": job.tenant_id})
        self._event(kind, job.tenant_id, run.run_id, outcome, deliveries)
        return run

    def _close(self, job: SyncJob, why: str) -> Run | None:
        assert job.run_id is not None
        for _ in range(3):  # a lease renewed meanwhile changes the ETag: read it again
            found = self.runs.get_versioned(job.tenant_id, job.run_id)
            if found is None:
                return None
            run, etag = found
            if not run.active:
                return run  # it ended after all (its message was not deleted)
            if self.ledger.close(run, etag, ErrorCode.JOB_POISONED, why):
                return run
        return self.runs.get(job.tenant_id, job.run_id)

    def _record(self, job: SyncJob, why: str) -> Run:
        # A message put on the queue by hand, or whose run was never recorded: the failure
        # still gets a run of its own, so that it shows in the tenant's history.
        now = self.clock()
        run = Run(job.run_id or new_run_id(now), job.tenant_id, job.kind, job.trigger, now,
                  status=RunStatus.FAILED, options=job.options, ended_at=now,
                  error_code=ErrorCode.JOB_POISONED, error=why)
        self.runs.save(run)
        telemetry.run_finished(run)
        return run

    @staticmethod
    def _event(kind: SyncKind, tenant_id: str, run_id: str, outcome: str,
               deliveries: int) -> None:
        telemetry.emit(POISON_EVENT, kind=kind, tenant_id=tenant_id, run_id=run_id,
                       outcome=outcome, deliveries=deliveries)
