"""The triggers of each kind of sync, made the same way for every kind: a timer that fans
out one queue job per due tenant (discovering partners' customers first, for devices), the
queue function that runs a job, and the function on that queue's poison queue, which turns
a job whose message failed every delivery (host.json maxDequeueCount) into a failed run and
an alert, never a message nobody reads."""

from __future__ import annotations

import logging

import azure.functions as func

from functions.blueprints.jobs import run_queued_job
from functions.core.model import SyncKind, Trigger
from functions.services import get_services

log = logging.getLogger("tenantsync.functions")


def sync_triggers(kind: SyncKind, setting: str) -> func.Blueprint:
    """The three functions of ``kind``, named ``<kind>_schedule``, ``<kind>_job`` and
    ``<kind>_job_poisoned``; ``setting`` names its app settings
    (``TENANTSYNC_<setting>_SCHEDULE`` and ``TENANTSYNC_<setting>_QUEUE``)."""
    bp = func.Blueprint()

    # The schedule and queue name are app settings (%NAME% is resolved by the host).
    @bp.function_name(name=f"{kind}_schedule")
    @bp.timer_trigger(arg_name="timer", schedule=f"%TENANTSYNC_{setting}_SCHEDULE%",
                      run_on_startup=False)
    def schedule(timer: func.TimerRequest) -> None:
        enqueued, skipped = get_services().scheduler.schedule(kind, trigger=Trigger.TIMER)
        log.info("%s schedule: %d jobs enqueued, %d tenants skipped", kind, enqueued, skipped)

    @bp.function_name(name=f"{kind}_job")
    @bp.queue_trigger(arg_name="message", queue_name=f"%TENANTSYNC_{setting}_QUEUE%",
                      connection="AzureWebJobsStorage")
    def job(message: func.QueueMessage) -> None:
        run_queued_job(message, kind)

    # The host moves a message to "<queue>-poison" after its last failed delivery; %NAME% is
    # resolved inside the string, so the name follows the app setting of the queue.
    @bp.function_name(name=f"{kind}_job_poisoned")
    @bp.queue_trigger(arg_name="message", queue_name=f"%TENANTSYNC_{setting}_QUEUE%-poison",
                      connection="AzureWebJobsStorage")
    def poisoned(message: func.QueueMessage) -> None:
        # Storage failing raises: the host delivers the poisoned message again.
        get_services().poisoned.handle(message.get_body().decode("utf-8", errors="replace"),
                                       kind)

    return bp


directory = sync_triggers(SyncKind.DIRECTORY, "DIRECTORY")
devices = sync_triggers(SyncKind.DEVICES, "DEVICES")
