"""What the webhook endpoints read and write."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, StrictBool

from functions.api.models.fields import MAX_TENANT_IDS, Guid
from functions.api.models.inputs import Input, UpdateInput
from functions.webhooks.model import EVENT_TYPES, Delivery, Subscription

EventType = Literal["sync.finished", "tenant.health_changed", "credential.expiring",
                    "tenant.consented", "tenant.consent_revoked"]
_TYPES = ", ".join(EVENT_TYPES)


class WebhookCreate(Input):
    url: str = Field(min_length=9, max_length=2048,
                     description="An https:// endpoint of the portal (public addresses only, "
                                 "unless the deployment allows private ones)")
    eventTypes: list[EventType] = Field(min_length=1, max_length=len(EVENT_TYPES),
                                        description=f"Events to send: {_TYPES}")
    tenantIds: list[Guid] = Field(default_factory=list, max_length=MAX_TENANT_IDS,
                                  description="Only events of these tenants (none: every one)")
    description: str = Field(default="", max_length=256)


class WebhookUpdate(UpdateInput):
    url: str | None = Field(default=None, min_length=9, max_length=2048)
    eventTypes: list[EventType] | None = Field(default=None, min_length=1,
                                               max_length=len(EVENT_TYPES))
    tenantIds: list[Guid] | None = Field(default=None, max_length=MAX_TENANT_IDS)
    description: str | None = Field(default=None, max_length=256)
    enabled: StrictBool | None = Field(
        default=None, description="true turns a disabled subscription on again")


class SecretRotation(Input):
    graceHours: float = Field(default=24, ge=0, le=168,
                              description="How long the current secret stays valid (both "
                                          "signatures are sent meanwhile)")


class Webhook(BaseModel):
    id: str
    url: str
    eventTypes: list[str]
    tenantIds: list[str]
    description: str
    enabled: bool
    disabledReason: str | None = Field(description="Why it was disabled (repeated failures)")
    disabledAt: datetime | None
    failuresInARow: int
    createdAt: datetime | None
    previousSecretValidUntil: datetime | None = Field(
        description="Until when the secret before the last rotation is still signed with")


class WebhookCreated(Webhook):
    secret: str = Field(description="The signing secret (whsec_...). Shown only in this "
                                    "answer: keep it in the portal's own secret store.")


class WebhookPage(BaseModel):
    items: list[Webhook]
    continuationToken: str | None


class AttemptOut(BaseModel):
    at: datetime
    statusCode: int | None = Field(description="The endpoint's HTTP status; null: no answer")
    error: str | None
    durationMs: int


class DeliveryOut(BaseModel):
    id: str
    messageId: str = Field(description="The webhook-id header: the same on every attempt")
    eventType: str
    status: str = Field(description="pending, delivered or failed")
    createdAt: datetime
    deliveredAt: datetime | None
    nextAttemptAt: datetime | None
    attempts: list[AttemptOut] = Field(description="The latest attempts, oldest first")
    payload: str = Field(description="The body sent, exactly as signed")


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    continuationToken: str | None


def webhook_out(s: Subscription) -> Webhook:
    return Webhook(id=s.id, url=s.url, eventTypes=list(s.event_types),
                   tenantIds=list(s.tenant_ids), description=s.description, enabled=s.enabled,
                   disabledReason=s.disabled_reason or None, disabledAt=s.disabled_at,
                   failuresInARow=s.failures_in_a_row, createdAt=s.created_at,
                   previousSecretValidUntil=s.previous_until if s.previous_secret_name else None)


def delivery_out(d: Delivery) -> DeliveryOut:
    return DeliveryOut(
        id=d.id, messageId=d.message_id, eventType=d.event_type, status=d.status,
        createdAt=d.created_at, deliveredAt=d.delivered_at, nextAttemptAt=d.next_attempt_at,
        attempts=[AttemptOut(at=a.at, statusCode=a.status_code, error=a.error or None,
                             durationMs=a.duration_ms) for a in d.attempts],
        payload=d.payload)
