"""Graph change notifications: where Graph delivers them (anonymous in Azure: the
`graph_notifications` and `graph_lifecycle` functions) and a tenant's subscriptions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from functions.api.errors import responses
from functions.api.models import ErrorBody
from functions.api.notifications import answer_notification
from functions.api.params import KEYED, ServicesDep, TenantId, services
from functions.api.strict import checks_own_query
from functions.api.urls import API_PREFIX
from functions.notifications import LIFECYCLE_PATH, NOTIFY_PATH

router = APIRouter(tags=["notifications"])


async def _raw_body(request: Request) -> bytes:
    return await request.body()


_DELIVERY: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/plain": {"schema": {"type": "string"}}},
          "description": "The validation handshake: the token, as plain text"},
    202: {"description": "Taken: the tenants named are synced soon"},
    **responses(400, 404, 413, 503),
    403: {"model": ErrorBody, "description": "Every notification refused (not this "
          "deployment's: unknown subscription, wrong clientState, replay)"},
}


@router.post(NOTIFY_PATH.removeprefix(API_PREFIX), status_code=202, responses=_DELIVERY)
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


@router.post(LIFECYCLE_PATH.removeprefix(API_PREFIX), status_code=202, responses=_DELIVERY)
@checks_own_query
def graph_lifecycle(request: Request, body: bytes = Depends(_raw_body)) -> Response:
    """Where Graph delivers lifecycle events (`reauthorizationRequired`): checked as
    notifications are, then the subscription is reauthorized (or made again) from the
    notification queue."""
    status, headers, content = answer_notification(services, request.url.query, body,
                                                   lifecycle=True)
    return Response(content, status_code=status, headers=headers)


@router.get("/tenants/{tenantId}/notifications", dependencies=KEYED,
            responses=responses(400, 404, 503))
def tenant_notifications(tenant_id: TenantId, s: ServicesDep) -> dict[str, object]:
    """Whether Graph tells this deployment of the tenant's directory changes: `health`
    (`off`, `active`, `permission_missing`, `quota_reached`, `failing`), the fix when it is
    not active, and the subscriptions (id, resource, expiry; never their clientState)."""
    s.tenants.get(tenant_id)
    status = s.subscriptions.status(tenant_id) if s.settings.notification_url else None
    return {
        "tenantId": tenant_id,
        "health": status.health.value if status else "off",
        "code": status.code if status else "",
        "message": status.message if status else (
            "" if s.settings.notification_url else
            "Change notifications are off: set TENANTSYNC_NOTIFICATION_URL to turn them on."),
        "checkedAt": status.checked_at.isoformat() if status and status.checked_at else None,
        "subscriptions": [{"id": r.subscription_id, "resource": r.resource,
                           "expiresAt": r.expires_at.isoformat()}
                          for r in s.subscriptions.of_tenant(tenant_id)],
    }
