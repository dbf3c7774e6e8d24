"""The poison queues of the sync queues: a job whose message failed every delivery the host
allows (host.json maxDequeueCount) becomes a failed run and an alert, never a message nobody
reads."""

from __future__ import annotations

import azure.functions as func

from functions.core.model import SyncKind
from functions.services import get_services

bp = func.Blueprint()


def _poisoned(message: func.QueueMessage, kind: SyncKind) -> None:
    # Storage failing raises: the host delivers the poisoned message again.
    get_services().poisoned.handle(message.get_body().decode("utf-8", errors="replace"), kind)


# The host moves a message to "<queue>-poison" after its last failed delivery; %NAME% is
# resolved inside the string, so the name follows the app setting of the queue.
@bp.queue_trigger(arg_name="message", queue_name="%TENANTSYNC_DIRECTORY_QUEUE%-poison",
                  connection="AzureWebJobsStorage")
def directory_job_poisoned(message: func.QueueMessage) -> None:
    """Close the run of a directory job that failed every delivery as ``job_poisoned``."""
    _poisoned(message, SyncKind.DIRECTORY)


@bp.queue_trigger(arg_name="message", queue_name="%TENANTSYNC_DEVICES_QUEUE%-poison",
                  connection="AzureWebJobsStorage")
def devices_job_poisoned(message: func.QueueMessage) -> None:
    """Close the run of a device job that failed every delivery as ``job_poisoned``."""
    _poisoned(message, SyncKind.DEVICES)
