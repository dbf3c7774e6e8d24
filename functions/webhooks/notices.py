"""What a run's end tells subscribers: the sync finished; the tenant's health changed; its
credential is about to expire (or has)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from functions.core.model import Health, Run, utcnow
from functions.core.summary import json_time, run_summary
from functions.storage.health import HealthChange
from functions.webhooks.model import (
    CREDENTIAL_EXPIRING,
    HEALTH_CHANGED,
    SYNC_FINISHED,
    Event,
    Subscription,
)
from functions.webhooks.worker import WebhookEvents

EXPIRY = frozenset({Health.SECRET_EXPIRING, Health.SECRET_EXPIRED})


def sync_finished(run: Run) -> Event:
    """The run's summary, as ``GET .../runs/{runId}`` answers it (functions.core.summary)."""
    return Event(SYNC_FINISHED, run.tenant_id, run_summary(run))


@dataclass
class WebhookNotices:
    """The webhook listener of the outbox relay: a run that ended is ``sync.finished``; a
    change of a side's health is ``tenant.health_changed`` (and ``credential.expiring`` when
    it is about the secret). Each outbox event is one delivery per subscriber, however often
    it is published."""

    events: WebhookEvents
    # The subscriptions read by the publication running on this thread (see publication).
    _read: threading.local = field(default_factory=threading.local, repr=False)

    @contextmanager
    def publication(self) -> Iterator[None]:
        """The events of one publication (a run's end and its change of health) share one
        read of the subscriptions, made when the first of them needs it. Only for its
        length: a subscription made since on another instance is read by the next one."""
        if getattr(self._read, "open", False):
            yield  # inside one already (a run's end: wanted, then published): its read
            return
        self._read.subscriptions, self._read.open = None, True
        try:
            yield
        finally:
            self._read.subscriptions, self._read.open = None, False

    def wants_run_end(self, tenant_id: str) -> bool:
        """Whether a subscription wants this tenant's ``sync.finished`` now."""
        return any(s.wants(SYNC_FINISHED, tenant_id) for s in self._subscriptions())

    def _subscriptions(self) -> list[Subscription]:
        if not getattr(self._read, "open", False):
            return self.events.tables.all()
        if self._read.subscriptions is None:
            self._read.subscriptions = self.events.tables.all()
        found: list[Subscription] = self._read.subscriptions
        return found

    def run_finished(self, run: Run, event_id: str) -> None:
        self._publish([sync_finished(run)], event_id, run.ended_at or utcnow())

    def health_changed(self, change: HealthChange) -> None:
        events = [Event(HEALTH_CHANGED, change.tenant_id, {
            "tenantId": change.tenant_id, "kind": str(change.kind),
            "health": change.health.value, "previousHealth": change.previous.value,
            "since": json_time(change.since), "errorCode": change.error_code or None,
            "error": change.error or None, "runId": change.run_id or None})]
        if change.health in EXPIRY and change.secret_expires_on is not None:
            days = (change.secret_expires_on - (change.since or utcnow())).total_seconds()
            events.append(Event(CREDENTIAL_EXPIRING, change.tenant_id, {
                "tenantId": change.tenant_id, "kind": str(change.kind),
                "expiresOn": json_time(change.secret_expires_on), "daysLeft": int(days // 86400),
                "expired": change.health == Health.SECRET_EXPIRED}))
        self._publish(events, change.event_id, change.since or utcnow())

    def _publish(self, events: list[Event], event_id: str, at: datetime) -> None:
        """Raises StorageError: the outbox keeps the event for the next publication."""
        subscriptions = self._subscriptions()  # once for the events of one publication
        for event in events:
            self.events.publish(event, subscriptions, once=(event_id, at))
