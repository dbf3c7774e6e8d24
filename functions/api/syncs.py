"""Syncs started over HTTP: recorded as a queued run, then run by the queue function."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import timedelta

from ..domain import Run, RunStatus, utcnow
from ..errors import ConflictError, StorageError
from ..storage.queues import JobQueue, SyncJob
from ..storage.repositories import RunTable
from .urls import run_url

TRIGGER = "http"
# A run queued or running for longer than this is taken as dead (its worker crashed) and no
# longer blocks a new start.
STALE_AFTER = timedelta(minutes=30)


def start_sync(
    runs: RunTable, queue: JobQueue, tenant_id: str, kind: str,
    queue_run: Callable[[str, str], Run],
) -> Run:
    """Record a queued run of ``kind`` for the tenant and put its job on ``queue``.

    Raises:
        ConflictError: ``sync_running`` with the run id, when one is queued or running.
        StorageError: the run could not be recorded or queued (a queued run that could not
        be put on the queue is recorded as failed, so that it blocks nothing).
    """
    ensure_idle(runs, tenant_id, (kind,))
    run = queue_run(tenant_id, TRIGGER)
    try:
        queue.put(SyncJob(tenant_id, kind, TRIGGER, run.run_id))
    except StorageError:
        run.status, run.ended_at = RunStatus.FAILED, utcnow()
        run.error_code = "enqueue_failed"
        run.error = "The sync job could not be put on the queue; start the sync again."
        with contextlib.suppress(StorageError):
            runs.save(run)
        raise
    return run


def ensure_idle(runs: RunTable, tenant_id: str, kinds: tuple[str, ...]) -> None:
    """Raise ConflictError ``sync_running`` if a sync of one of ``kinds`` is queued or running."""
    for kind in kinds:
        active = runs.active(tenant_id, kind, stale_after=STALE_AFTER)
        if active is not None:
            raise ConflictError(
                f"a {kind} sync of tenant {tenant_id} is already {active.status.value} "
                f"(run {active.run_id}); follow it at {run_url(tenant_id, active.run_id)}",
                code="sync_running", run_id=active.run_id,
            )
