"""Graph change notifications: where Graph delivers them (anonymous in Azure: the
`graph_notifications` and `graph_lifecycle` functions) and a tenant's subscriptions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from functions.api.errors import responses
from functions.api.models import ErrorBody
from functions.api.models.notifications import TenantNotificationsOut, notifications_out
from functions.api.notifications import answer_notification
from functions.api.params import KEYED, ServicesDep, TenantId, services
from functions.api.strict import checks_own_query
from functions.api.urls import API_PREFIX
from functions.notifications import LIFECYCLE_PATH, NOTIFY_PATH

router = APIRouter(tags=["notifications"])
# Graph's own endpoints: Microsoft Graph calls them, never an operator, so they have no
# command (functions/api/app.py mounts them apart from ROUTERS).
graph_router = APIRouter(tags=["notifications"])


async def _raw_body(request: Request) -> bytes:
    return await request.body()


_DELIVERY: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/plain": {"schema": {"type": "string"}}},
          "description": "The validation handshake: the token, as plain text"},
    202: {"description": "Taken: the tenants named are synced soon"},
    **responses(400, 404, 409, 413, 503),
    403: {"model": ErrorBody, "description": "Every notification refused (not this "
          "deployment's: unknown subscription, wrong clientState, replay)"},
}


@graph_router.post(NOTIFY_PATH.removeprefix(API_PREFIX), status_code=202, responses=_DELIVERY)
@checks_own_query  # validationToken only: answer_notification
def graph_notifications(request: Request, body: bytes = Depends(_raw_body)) -> Response:
    """Where Microsoft Graph delivers change notifications of directory tenants.

    Answers the validation handshake (`?validationToken=`) with the token as `text/plain`.
    Each notification must name one of this deployment's subscriptions with its
    `clientState`, and must not have been taken before; it only starts a directory sync of
    its tenant (its content is never used as data). Refusals are counted in telemetry.
    """
    status, headers, content = answer_notification(services, request.url.query, body,
                                                   lifecycle=False)
    return Response(content, status_code=status, headers=headers)


@graph_router.post(LIFECYCLE_PATH.removeprefix(API_PREFIX), status_code=202, responses=_DELIVERY)
@checks_own_query
def graph_lifecycle(request: Request, body: bytes = Depends(_raw_body)) -> Response:
    """Where Graph delivers lifecycle events (`reauthorizationRequired`): checked as
    notifications are, then the subscription is reauthorized (or made again) from the
    notification queue."""
    status, headers, content = answer_notification(services, request.url.query, body,
                                                   lifecycle=True)
    return Response(content, status_code=status, headers=headers)


@router.get("/tenants/{tenantId}/notifications", response_model=TenantNotificationsOut,
            dependencies=KEYED, responses=responses(400, 404, 503))
def tenant_notifications(tenant_id: TenantId, services: ServicesDep) -> TenantNotificationsOut:
    """Whether Graph tells this deployment of the tenant's directory changes: `health`
    (`off`, `active`, `permission_missing`, `quota_reached`, `failing`), the fix when it is
    not active, and the subscriptions (id, resource, expiry; never their clientState)."""
    services.tenants.get(tenant_id)
    enabled = bool(services.settings.notification_url)
    return notifications_out(tenant_id, services.subscriptions.status(tenant_id),
                             services.subscriptions.of_tenant(tenant_id), enabled)
