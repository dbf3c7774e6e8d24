"""Managing webhook subscriptions: subscribe (the secret generated here, kept in Key Vault,
shown once), change, rotate the secret with a grace period, remove, re-send a delivery."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from functions.clients.vault import SecretStore
from functions.core.errors import ErrorCode, InputError
from functions.core.model import utcnow
from functions.core.sensitive import SecretValue
from functions.storage.queues import JobQueue
from functions.webhooks.destination import check_url
from functions.webhooks.model import EVENT_TYPES, PENDING, Delivery, Subscription
from functions.webhooks.signing import new_secret
from functions.webhooks.store import WebhookTables
from functions.webhooks.worker import queue_message

MAX_GRACE_HOURS = 168


def secret_name(subscription_id: str, previous: bool = False) -> str:
    return f"whsec-{subscription_id}{'-previous' if previous else ''}"


def _event_types(types: list[str]) -> tuple[str, ...]:
    unknown = sorted(set(types) - set(EVENT_TYPES))
    if unknown or not types:
        raise InputError(f"eventTypes: must be one or more of {', '.join(EVENT_TYPES)}",
                         code=ErrorCode.INVALID_REQUEST)
    return tuple(dict.fromkeys(types))


@dataclass
class Webhooks:
    tables: WebhookTables
    secrets: SecretStore
    queue: Callable[[], JobQueue]
    allow_private: bool
    clock: Callable[[], datetime] = utcnow

    def subscribe(self, url: str, event_types: list[str], tenant_ids: list[str],
                  description: str = "") -> tuple[Subscription, SecretValue]:
        """Save a subscription and its new signing secret (in Key Vault only); returns both,
        the secret for the caller to show once.

        Raises:
            InputError: ``invalid_url``, ``destination_refused``, ``invalid_request``.
            SecretStoreError, StorageError: nothing usable was saved.
        """
        check_url(url, self.allow_private)
        subscription = Subscription(
            id=str(uuid.uuid4()), url=url, event_types=_event_types(event_types),
            tenant_ids=tuple(dict.fromkeys(tenant_ids)), description=description,
            created_at=self.clock())
        secret = new_secret()
        subscription.secret_name = secret_name(subscription.id)
        saved = self.secrets.put(subscription.secret_name, secret, expires_on=None)
        subscription.secret_version = saved.version
        self.tables.add(subscription)
        return subscription, secret

    def update(self, subscription_id: str, *, url: str | None = None,
               event_types: list[str] | None = None, tenant_ids: list[str] | None = None,
               description: str | None = None, enabled: bool | None = None) -> Subscription:
        """Change a subscription; ``enabled=True`` turns a disabled one on again (its count
        of failures starts over).

        Raises:
            NotFoundError: ``unknown_webhook``. InputError: as for ``subscribe``.
        """
        if url is not None:
            check_url(url, self.allow_private)
        types = _event_types(event_types) if event_types is not None else None

        def apply(s: Subscription) -> bool:
            s.url = url if url is not None else s.url
            s.event_types = types if types is not None else s.event_types
            if tenant_ids is not None:
                s.tenant_ids = tuple(dict.fromkeys(tenant_ids))
            s.description = description if description is not None else s.description
            if enabled is not None:
                s.enabled = enabled
                if enabled:
                    s.disabled_reason, s.disabled_at, s.failures_in_a_row = "", None, 0
                elif not s.disabled_at:
                    s.disabled_reason, s.disabled_at = "disabled by an admin", self.clock()
            return True

        return self.tables.change(subscription_id, apply)

    def rotate(self, subscription_id: str, grace_hours: float
               ) -> tuple[Subscription, SecretValue]:
        """A new signing secret; the current one stays valid for ``grace_hours`` (both
        signatures are sent meanwhile). Returns the subscription and the new secret.

        Raises:
            NotFoundError: ``unknown_webhook``. InputError: a grace out of range.
            SecretStoreError: the vault failed (the old secret stays the only one).
        """
        if not 0 <= grace_hours <= MAX_GRACE_HOURS:
            raise InputError(f"graceHours: 0 to {MAX_GRACE_HOURS}", code="invalid_request")
        current = self.tables.get(subscription_id)
        old = self.secrets.get(current.secret_name, fresh=True).value
        previous = secret_name(subscription_id, previous=True)
        if grace_hours:
            self.secrets.put(previous, old, expires_on=None)
        secret = new_secret()
        saved = self.secrets.put(current.secret_name, secret, expires_on=None)
        until = self.clock() + timedelta(hours=grace_hours)

        def apply(s: Subscription) -> bool:
            s.secret_version = saved.version
            s.previous_secret_name = previous if grace_hours else ""
            s.previous_until = until if grace_hours else None
            return True

        return self.tables.change(subscription_id, apply), secret

    def remove(self, subscription_id: str) -> None:
        """Delete a subscription, its deliveries and (soft-deleted in Key Vault) secrets.

        Raises:
            NotFoundError: ``unknown_webhook``.
        """
        subscription = self.tables.get(subscription_id)
        self.tables.remove(subscription_id)
        self.secrets.delete(subscription.secret_name)
        self.secrets.delete(secret_name(subscription_id, previous=True))

    def resend(self, subscription_id: str, delivery_id: str) -> Delivery:
        """Send a delivery again (the same message id, a new round of attempts).

        Raises:
            NotFoundError: ``unknown_webhook`` / ``unknown_delivery``.
        """
        self.tables.get(subscription_id)
        delivery = self.tables.delivery(subscription_id, delivery_id)
        delivery.status, delivery.generation = PENDING, delivery.generation + 1
        delivery.next_attempt_at, delivery.delivered_at = self.clock(), None
        self.tables.save_delivery(delivery)
        self.queue().send(queue_message(delivery, attempt=0))
        return delivery
