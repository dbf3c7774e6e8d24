"""Device sync triggers: a timer discovers customers and fans out one job per tenant."""

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
    arg_name="timer", schedule="%TENANTSYNC_DEVICES_SCHEDULE%", run_on_startup=False
)
def devices_schedule(timer: func.TimerRequest) -> None:
    """Discover every partner's customers, then enqueue one device job per active tenant."""
    enqueued, skipped = get_services().scheduler.schedule(
        SyncKind.DEVICES, trigger=Trigger.TIMER)
    log.info("devices schedule: %d jobs enqueued, %d tenants skipped", enqueued, skipped)


@bp.queue_trigger(
    arg_name="message", queue_name="%TENANTSYNC_DEVICES_QUEUE%", connection="AzureWebJobsStorage"
)
def devices_job(message: func.QueueMessage) -> None:
    """Run one tenant's device and software sync."""
    run_queued_job(message, SyncKind.DEVICES)
