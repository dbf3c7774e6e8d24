"""Webhook deliveries: a queue trigger makes one attempt per message (retries come back as
new messages with a visibility delay), and a timer publishes what the outbox holds and
queues again the deliveries whose message was lost."""

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


@bp.timer_trigger(arg_name="timer", schedule="0 */10 * * * *", run_on_startup=False)
def webhook_sweep(timer: func.TimerRequest) -> None:
    """Every 10 minutes: publish the outbox's events that a crash left pending (and record
    in the change feed what dead runs wrote), then queue again each pending delivery that
    is 15 minutes overdue (its message was lost). Storage failing raises: the next sweep
    tries again."""
    services = get_services()
    services.relay.sweep()
    services.delivery_sweep.sweep()
