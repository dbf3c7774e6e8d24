"""What both queue-triggered functions do with a message."""

from __future__ import annotations

import azure.functions as func

from functions.core.model import SyncKind
from functions.services import get_services


def run_queued_job(message: func.QueueMessage, kind: SyncKind) -> None:
    """Run the sync a queue message asks for.

    A tenant's own failure is recorded as a failed run and not retried by the queue (the
    next schedule retries it); a storage outage raises, so the host delivers the message
    again; a second delivery of a job whose run is taken ends at once as a duplicate. A
    malformed message is logged and dropped.
    """
    get_services().jobs.handle(message.get_body().decode("utf-8", errors="replace"), kind)
