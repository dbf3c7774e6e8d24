"""Graph change notifications in Azure: the anonymous endpoints Graph posts to, the queue of
their follow-up work, and the upkeep timer of the subscriptions.

Graph cannot send a function key, so the two endpoints are functions of their own with
literal routes and auth level ANONYMOUS (as ``consent_callback``: the host adds HTTP routes
in the order of the functions' names, and ``graph_*`` sorts before ``tenantsync_api``).
They answer exactly as the API's own routes of the same paths do locally.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import azure.functions as func

from functions.api.notifications import answer_notification
from functions.notifications import LIFECYCLE_PATH, NOTIFY_PATH
from functions.services import get_services

bp = func.Blueprint()


def _answer(req: func.HttpRequest, *, lifecycle: bool) -> func.HttpResponse:
    status, headers, body = answer_notification(get_services, urlsplit(req.url).query,
                                                req.get_body(), lifecycle=lifecycle)
    return func.HttpResponse(body, status_code=status, headers=headers)


@bp.function_name("graph_notifications")
@bp.route(route=NOTIFY_PATH.removeprefix("/api/"), methods=[func.HttpMethod.POST],
          auth_level=func.AuthLevel.ANONYMOUS)
def graph_notifications(req: func.HttpRequest) -> func.HttpResponse:
    """Graph's change notifications: checked, then a directory sync of each tenant queued."""
    return _answer(req, lifecycle=False)


@bp.function_name("graph_lifecycle")
@bp.route(route=LIFECYCLE_PATH.removeprefix("/api/"), methods=[func.HttpMethod.POST],
          auth_level=func.AuthLevel.ANONYMOUS)
def graph_lifecycle(req: func.HttpRequest) -> func.HttpResponse:
    """Graph's lifecycle events: checked, then answered from the notification queue."""
    return _answer(req, lifecycle=True)


@bp.queue_trigger(arg_name="message", queue_name="%TENANTSYNC_NOTIFICATION_QUEUE%",
                  connection="AzureWebJobsStorage")
def notification_work(message: func.QueueMessage) -> None:
    """A trigger that waited for a reading run to end, or a lifecycle event to answer.
    Storage, Graph or Key Vault failing raises: the host delivers the message again."""
    get_services().notified.handle(message.get_body().decode("utf-8", errors="replace"))


@bp.timer_trigger(arg_name="timer", schedule="0 20,50 * * * *", run_on_startup=False)
def notification_upkeep(timer: func.TimerRequest) -> None:
    """Every 30 minutes: make missing subscriptions (new tenants, new level-1 groups), renew
    those with under 7 days left, remove those of tenants gone (nothing when
    TENANTSYNC_NOTIFICATION_URL is unset and none is left)."""
    services = get_services()
    if services.settings.notification_url or next(services.subscriptions.tenant_ids(), None):
        services.subscriber.upkeep()
