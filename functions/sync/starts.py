"""The one way to start a sync: claim, record a queued run, put its job on the queue."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import timedelta

from functions.core.errors import ConflictError, StorageError
from functions.core.model import Run, RunStatus, utcnow
from functions.storage.queues import JobQueue, SyncJob
from functions.storage.runs import RunTable, new_run_id

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
