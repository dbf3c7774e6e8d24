"""Webhook subscriptions: subscribe, list, read, change, remove, rotate the secret; their
deliveries with every attempt; re-send one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from functions.api.errors import located, responses
from functions.api.models import Guid
from functions.api.models.webhooks import (
    DeliveryOut,
    DeliveryPage,
    SecretRotation,
    Webhook,
    WebhookCreate,
    WebhookCreated,
    WebhookPage,
    WebhookUpdate,
    delivery_out,
    webhook_out,
)
from functions.api.paging import PageParams
from functions.api.params import KEYED, ServicesDep
from functions.api.urls import API_PREFIX
from functions.core.errors import InputError

router = APIRouter(prefix="/webhooks", tags=["webhooks"], dependencies=KEYED)

WebhookId = Annotated[Guid, Path(alias="webhookId", description="A subscription's id")]
DeliveryId = Annotated[str, Path(alias="deliveryId", pattern=r"^[0-9]{13}-[0-9a-f]{8}$",
                                 description="A delivery's id")]


def webhook_url(webhook_id: str) -> str:
    return f"{API_PREFIX}/webhooks/{webhook_id}"


@router.post("", status_code=201, response_model=WebhookCreated,
             responses={**responses(400, 413, 503), **located(201, "Subscribed")})
def create_webhook(body: WebhookCreate, response: Response,
                   services: ServicesDep) -> WebhookCreated:
    """Subscribe an HTTPS endpoint to events (`sync.finished`, `tenant.health_changed`,
    `credential.expiring`), of every tenant or of `tenantIds`.

    The answer carries the signing secret (`whsec_...`) **once**; tenantsync keeps it in Key
    Vault. Deliveries are signed as Standard Webhooks 1.0 says (`webhook-id`,
    `webhook-timestamp`, `webhook-signature`).
    """
    subscription, secret = services.webhooks.subscribe(
        body.url, list(body.eventTypes), list(body.tenantIds), body.description)
    response.headers["Location"] = webhook_url(subscription.id)
    return WebhookCreated(**webhook_out(subscription).model_dump(), secret=secret.reveal())


@router.get("", response_model=WebhookPage, responses=responses(400, 503))
def list_webhooks(page: PageParams, services: ServicesDep) -> WebhookPage:
    """Every subscription (never a secret), by id."""
    found, token = services.webhook_tables.page(page_size=page.size, continuation=page.token)
    return WebhookPage(items=[webhook_out(s) for s in found], continuationToken=token)


@router.get("/{webhookId}", response_model=Webhook, responses=responses(400, 404, 503))
def get_webhook(webhook_id: WebhookId, services: ServicesDep) -> Webhook:
    """One subscription: its events, whether it is enabled, why it was disabled."""
    return webhook_out(services.webhook_tables.get(webhook_id))


@router.patch("/{webhookId}", response_model=Webhook,
              responses=responses(400, 404, 413, 503))
def update_webhook(webhook_id: WebhookId, body: WebhookUpdate,
                   services: ServicesDep) -> Webhook:
    """Change a subscription; `{"enabled": true}` turns a disabled one on again."""
    if not body.model_fields_set:
        raise InputError("the body names no field to change", code="invalid_request")
    return webhook_out(services.webhooks.update(
        webhook_id, url=body.url,
        event_types=list(body.eventTypes) if body.eventTypes is not None else None,
        tenant_ids=list(body.tenantIds) if body.tenantIds is not None else None,
        description=body.description, enabled=body.enabled))


@router.delete("/{webhookId}", status_code=204, responses=responses(400, 404, 503))
def delete_webhook(webhook_id: WebhookId, services: ServicesDep) -> Response:
    """Remove a subscription, its deliveries and its secrets."""
    services.webhooks.remove(webhook_id)
    return Response(status_code=204)


@router.post("/{webhookId}/rotate-secret", response_model=WebhookCreated,
             responses=responses(400, 404, 413, 503))
def rotate_webhook_secret(webhook_id: WebhookId, services: ServicesDep,
                          body: SecretRotation | None = None) -> WebhookCreated:
    """A new signing secret, shown once. The current one stays valid for `graceHours`
    (default 24): deliveries carry both signatures until then."""
    subscription, secret = services.webhooks.rotate(
        webhook_id, (body or SecretRotation()).graceHours)
    return WebhookCreated(**webhook_out(subscription).model_dump(), secret=secret.reveal())


@router.get("/{webhookId}/deliveries", response_model=DeliveryPage,
            responses=responses(400, 404, 503))
def list_deliveries(webhook_id: WebhookId, page: PageParams,
                    services: ServicesDep) -> DeliveryPage:
    """A subscription's deliveries, newest first, each with its attempts."""
    services.webhook_tables.get(webhook_id)
    found, token = services.webhook_tables.deliveries_page(
        webhook_id, page_size=page.size, continuation=page.token)
    return DeliveryPage(items=[delivery_out(d) for d in found], continuationToken=token)


@router.get("/{webhookId}/deliveries/{deliveryId}", response_model=DeliveryOut,
            responses=responses(400, 404, 503))
def get_delivery(webhook_id: WebhookId, delivery_id: DeliveryId,
                 services: ServicesDep) -> DeliveryOut:
    """One delivery and its attempts."""
    services.webhook_tables.get(webhook_id)
    return delivery_out(services.webhook_tables.delivery(webhook_id, delivery_id))


@router.post("/{webhookId}/deliveries/{deliveryId}/resend", status_code=202,
             response_model=DeliveryOut, responses=responses(400, 404, 503))
def resend_delivery(webhook_id: WebhookId, delivery_id: DeliveryId,
                    services: ServicesDep) -> DeliveryOut:
    """Send a delivery again: the same message (`webhook-id`), a new round of attempts."""
    return delivery_out(services.webhooks.resend(webhook_id, delivery_id))
