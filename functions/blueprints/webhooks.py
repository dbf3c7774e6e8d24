"""Webhook deliveries: a queue trigger makes one attempt per message (retries come back as
new messages with a visibility delay)."""

from __future__ import annotations

import azure.functions as func

from functions.services import get_services

bp = func.Blueprint()


@bp.queue_trigger(
    arg_name="message", queue_name="%TENANTSYNC_WEBHOOK_QUEUE%", connection="AzureWebJobsStorage"
)
def webhook_delivery(message: func.QueueMessage) -> None:
    """Attempt one webhook delivery. Storage or Key Vault failing raises, so that the host
    delivers the message again; the endpoint failing is a recorded attempt and a retry."""
    get_services().deliverer.handle(message.get_body().decode("utf-8", errors="replace"))
