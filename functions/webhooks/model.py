"""Webhook subscriptions, deliveries and the events they carry (plain records)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# The events a portal can subscribe to.
SYNC_FINISHED = "sync.finished"
HEALTH_CHANGED = "tenant.health_changed"
CREDENTIAL_EXPIRING = "credential.expiring"
CONSENT_GRANTED = "tenant.consented"  # tenantsync consented its app from the partner's side
CONSENT_REVOKED = "tenant.consent_revoked"  # a removal took back what that consent wrote
EVENT_TYPES = (SYNC_FINISHED, HEALTH_CHANGED, CREDENTIAL_EXPIRING, CONSENT_GRANTED,
               CONSENT_REVOKED)

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


@dataclass
class Subscription:
    """Where to deliver which events, and how that is going. Its signing secret is only in
    Key Vault (``secret_name``; ``previous_secret_name`` until ``previous_until``)."""

    id: str
    url: str
    event_types: tuple[str, ...]
    tenant_ids: tuple[str, ...] = ()  # empty: every tenant
    description: str = ""
    enabled: bool = True
    disabled_reason: str = ""
    disabled_at: datetime | None = None
    created_at: datetime | None = None
    failures_in_a_row: int = 0
    secret_name: str = ""
    secret_version: str = ""  # the Key Vault version signing now (a cached other is stale)
    previous_secret_name: str = ""
    previous_until: datetime | None = None

    def wants(self, event_type: str, tenant_id: str) -> bool:
        return (self.enabled and event_type in self.event_types
                and (not self.tenant_ids or tenant_id in self.tenant_ids))


@dataclass(frozen=True)
class Attempt:
    at: datetime
    status_code: int | None  # None: no answer (timeout, refused, unreachable)
    error: str
    duration_ms: int


@dataclass
class Delivery:
    """One event for one subscription: sent until a 2xx, retried with back-off. Its
    ``message_id`` is the ``webhook-id`` of every attempt (receivers deduplicate by it)."""

    subscription_id: str
    id: str
    event_type: str
    payload: str  # the JSON body, exactly as signed and sent
    created_at: datetime
    status: str = PENDING
    attempts: list[Attempt] = field(default_factory=list)
    generation: int = 0  # a re-send starts a new one; older queue messages are dropped
    delivered_at: datetime | None = None
    next_attempt_at: datetime | None = None

    @property
    def message_id(self) -> str:
        return f"msg_{self.id}"


@dataclass(frozen=True)
class Event:
    type: str
    tenant_id: str
    data: dict[str, Any]
