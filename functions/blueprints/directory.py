"""Directory sync triggers: a timer fans out one queue job per tenant; the queue runs it."""

from __future__ import annotations

import logging

import azure.functions as func

from functions.blueprints.jobs import run_queued_job
from functions.core.model import SyncKind, Trigger
from functions.services import get_services

log = logging.getLogger("tenantsync.functions")

bp = func.Blueprint()


# The schedule and queue name are app settings (%NAME% is resolved by the host).
@bp.timer_trigger(
    arg_name="timer", schedule="%TENANTSYNC_DIRECTORY_SCHEDULE%", run_on_startup=False
)
def directory_schedule(timer: func.TimerRequest) -> None:
    """Enqueue one directory sync job per enabled tenant."""
    enqueued, skipped = get_services().scheduler.schedule(
        SyncKind.DIRECTORY, trigger=Trigger.TIMER)
    log.info("directory schedule: %d jobs enqueued, %d tenants skipped", enqueued, skipped)


@bp.queue_trigger(
    arg_name="message", queue_name="%TENANTSYNC_DIRECTORY_QUEUE%", connection="AzureWebJobsStorage"
)
def directory_job(message: func.QueueMessage) -> None:
    """Run one tenant's directory sync."""
    run_queued_job(message, SyncKind.DIRECTORY)
