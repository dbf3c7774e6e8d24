"""What both queue-triggered functions do with a message."""

from __future__ import annotations

import logging

import azure.functions as func

from functions.core.errors import InputError, NotFoundError
from functions.services import get_services
from functions.storage.queues import SyncJob

log = logging.getLogger("tenantsync.functions")


def run_queued_job(message: func.QueueMessage, kind: str) -> None:
    """Run the sync a queue message asks for.

    A tenant's own failure is recorded as a failed run and not retried by the queue (the
    next schedule retries it); a storage outage raises, so the host retries the message.
    A malformed message is logged and dropped.
    """
    try:
        job = SyncJob.from_json(message.get_body().decode("utf-8", errors="replace"))
        if job.kind != kind:
            raise InputError(f"a {job.kind} job on the {kind} queue", code="invalid_job")
        get_services().run_job(job)
    except NotFoundError as exc:
        log.warning("%s job dropped: %s", kind, exc.message)
    except InputError as exc:
        log.error("%s job rejected: %s", kind, exc.message)
