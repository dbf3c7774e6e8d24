"""Events become deliveries, and deliveries are attempted: one queue message per attempt,
retried with exponential back-off (the message's visibility delay), at least once.

Message: ``{"s": subscription id, "d": delivery id, "g": generation, "a": attempt}``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import requests

from functions.clients.vault import SecretStore
from functions.core.errors import NotFoundError, SecretStoreError, StorageError
from functions.core.model import utcnow
from functions.core.sensitive import SecretValue
from functions.storage.queues import JobQueue
from functions.webhooks.destination import refused_in
from functions.webhooks.model import (
    DELIVERED,
    FAILED,
    PENDING,
    Attempt,
    Delivery,
    Event,
    Subscription,
)
from functions.webhooks.signing import signature
from functions.webhooks.store import WebhookTables, event_delivery_id, new_delivery_id

log = logging.getLogger("tenantsync.webhooks")
MAX_DELAY_SECONDS = 6 * 3600  # a retry waits at most this long (the queue allows 7 days)
# A pending delivery whose message has not been handled this long after it was due is taken
# as lost. The Functions host polls a queue at least once a minute (its default maximum
# polling interval), so a live message is long handled by then.
OVERDUE_AFTER = timedelta(minutes=15)


def queue_message(delivery: Delivery, attempt: int) -> str:
    return json.dumps({"s": delivery.subscription_id, "d": delivery.id,
                       "g": delivery.generation, "a": attempt})


@dataclass
class WebhookEvents:
    """Turns an event into one delivery per subscription that wants it."""

    tables: WebhookTables
    queue: Callable[[], JobQueue]
    clock: Callable[[], datetime] = utcnow

    def publish(self, event: Event, subscriptions: list[Subscription] | None = None, *,
                once: tuple[str, datetime] | None = None) -> list[Delivery]:
        """Record and queue the event's deliveries (none when nobody subscribed to it).
        ``subscriptions``: every subscription, when the caller has just read them (a run's
        events share one read); read here otherwise.

        ``once``: the outbox event's id and time. Each delivery's id is then made from them,
        so that publishing the event again (after a crash) finds the delivery recorded and
        neither records nor queues a second one (the same ``webhook-id`` for a subscriber).

        Raises:
            StorageError: storage did not answer.
        """
        if subscriptions is None:
            subscriptions = self.tables.all()
        wanted = [s for s in subscriptions if s.wants(event.type, event.tenant_id)]
        if not wanted:
            return []
        now = self.clock()
        body = json.dumps({"type": event.type, "timestamp": now.isoformat().replace(
            "+00:00", "Z"), "data": event.data}, separators=(",", ":"))
        deliveries = []
        for subscription in wanted:
            delivery_id = (new_delivery_id(now) if once is None else
                           event_delivery_id(once[0], event.type, subscription.id, once[1]))
            delivery = Delivery(subscription.id, delivery_id, event.type, body, now,
                                next_attempt_at=now)
            if not self.tables.add_delivery(delivery):
                continue  # published before: its message is queued, or the sweep's to queue
            self.queue().send(queue_message(delivery, attempt=0))
            deliveries.append(delivery)
        return deliveries


@dataclass
class Deliverer:
    """Makes one attempt of a delivery and decides what follows it."""

    tables: WebhookTables
    secrets: SecretStore
    queue: Callable[[], JobQueue]
    session: requests.Session
    retry_base: float
    max_attempts: int
    disable_after: int
    timeout: float
    clock: Callable[[], datetime] = utcnow

    def handle(self, text: str) -> Delivery | None:
        """Attempt the delivery a queue message names (None: the message is stale or
        malformed and is dropped).

        Raises:
            StorageError, SecretStoreError: try the message again later.
        """
        try:
            message = json.loads(text)
            subscription_id, delivery_id = str(message["s"]), str(message["d"])
            generation, attempt = int(message["g"]), int(message["a"])
        except (ValueError, KeyError, TypeError):
            log.error("webhook message dropped: not one of ours")
            return None
        try:
            subscription = self.tables.get(subscription_id)
            delivery = self.tables.delivery(subscription_id, delivery_id)
        except NotFoundError:
            return None  # removed meanwhile
        if delivery.generation != generation or delivery.status != PENDING:
            return None  # re-sent since, or already delivered
        if not subscription.enabled:
            delivery.status, delivery.next_attempt_at = FAILED, None
            delivery.attempts.append(Attempt(self.clock(), None, "the subscription is "
                                             f"disabled: {subscription.disabled_reason}", 0))
            self.tables.save_delivery(delivery)
            return delivery
        return self._attempt(subscription, delivery, attempt)

    def _secrets(self, s: Subscription) -> list[SecretValue]:
        current = self.secrets.get(s.secret_name)
        if s.secret_version and current.version != s.secret_version:
            # Rotated (by another instance) since this one cached it.
            current = self.secrets.get(s.secret_name, fresh=True)
        found = [current.value]
        if s.previous_secret_name and s.previous_until and s.previous_until > self.clock():
            try:
                found.append(self.secrets.get(s.previous_secret_name, fresh=True).value)
            except SecretStoreError as exc:
                if exc.code != "secret_missing":
                    raise
        return found

    def _attempt(self, s: Subscription, delivery: Delivery, attempt: int) -> Delivery:
        timestamp = int(self.clock().timestamp())
        headers = {
            "content-type": "application/json", "user-agent": "tenantsync-webhooks/1",
            "webhook-id": delivery.message_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(self._secrets(s), delivery.message_id, timestamp,
                                           delivery.payload),
        }
        started = time.monotonic()
        status: int | None = None
        try:
            answer = self.session.post(s.url, data=delivery.payload.encode(), headers=headers,
                                       timeout=(min(5.0, self.timeout), self.timeout),
                                       allow_redirects=False)
            status = answer.status_code
            error = "" if 200 <= status < 300 else f"answered HTTP {status}"
            answer.close()
        except requests.Timeout:
            error = f"no answer within {self.timeout:g} s"
        except requests.RequestException as exc:
            # Only our own words: the library's text could quote the URL, whose query
            # string may hold the receiver's token.
            refused = refused_in(exc)
            error = (f"refused: {refused}" if refused
                     else f"could not connect ({type(exc).__name__})")
        now = self.clock()
        delivery.attempts.append(Attempt(now, status, error,
                                         int((time.monotonic() - started) * 1000)))
        ok = not error
        if ok:
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = DELIVERED, now, None
        elif attempt + 1 >= self.max_attempts:
            delivery.status, delivery.next_attempt_at = FAILED, None
        subscription = self._count(s.id, ok, error)
        if not ok and delivery.status == PENDING and not subscription.enabled:
            delivery.status, delivery.next_attempt_at = FAILED, None
        if delivery.status == PENDING:
            delay = min(MAX_DELAY_SECONDS, self.retry_base * (2 ** attempt))
            delivery.next_attempt_at = now + timedelta(seconds=delay)
        self.tables.save_delivery(delivery)
        if delivery.status == PENDING:
            self.queue().send(queue_message(delivery, attempt + 1),
                              delay_seconds=max(0, round(delay)))
        log.info("webhook %s to subscription %s: %s", delivery.message_id, s.id,
                 "delivered" if ok else error)
        return delivery

    def _count(self, subscription_id: str, ok: bool, error: str) -> Subscription:
        """Count the attempt on the subscription: a success clears its failures, the
        ``disable_after``-th failure in a row disables it with the reason."""
        def apply(s: Subscription) -> bool:
            if ok:
                if not s.failures_in_a_row:
                    return False
                s.failures_in_a_row = 0
                return True
            s.failures_in_a_row += 1
            if s.enabled and s.failures_in_a_row >= self.disable_after:
                s.enabled, s.disabled_at = False, self.clock()
                s.disabled_reason = (f"disabled after {s.failures_in_a_row} failed attempts "
                                     f"in a row (the last {error}); fix the endpoint, then "
                                     "enable it again (PATCH with enabled: true)")
                log.warning("webhook subscription %s disabled: %s", s.id, s.disabled_reason)
            return True

        return self.tables.change(subscription_id, apply)


@dataclass
class DeliverySweep:
    """Queues again the pending deliveries whose message was lost: the queue send after the
    delivery was saved failed, or the queue dropped the message. The deliveries table is the
    outbox; this sweep empties what the queue did not."""

    tables: WebhookTables
    queue: Callable[[], JobQueue]
    clock: Callable[[], datetime] = utcnow

    def sweep(self) -> int:
        """Queue every overdue pending delivery again; returns how many were.

        Raises:
            StorageError: storage did not answer (the next sweep tries again).
        """
        now = self.clock()
        queued = 0
        for delivery, etag in self.tables.overdue(now - OVERDUE_AFTER):
            # A new generation: the lost message, should it come back after all, is stale,
            # and the delivery is attempted once. Its attempts so far still count.
            delivery.generation += 1
            delivery.next_attempt_at = now
            if not self.tables.replace_delivery(delivery, etag):
                continue  # a worker saved it meanwhile: its message is not lost
            self.queue().send(queue_message(delivery, attempt=len(delivery.attempts)))
            log.warning("webhook %s to subscription %s: its message was lost; queued again",
                        delivery.message_id, delivery.subscription_id)
            queued += 1
        return queued


@dataclass
class DeliveryWorker:
    """Drains the deliveries' queue locally, as the queue-triggered function does in Azure."""

    deliverer: Deliverer
    queue: Callable[[], JobQueue]
    visibility_seconds: int = 60
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def drain(self, stop: threading.Event | None = None) -> int:
        """Attempt every delivery that is due now; returns how many messages were handled.

        Raises:
            StorageError: the queue could not be read.
        """
        handled = 0
        with self._lock:
            while not (stop and stop.is_set()):
                messages = self.queue().receive(visibility_seconds=self.visibility_seconds)
                if not messages:
                    return handled
                for delivery in messages:
                    try:
                        self.deliverer.handle(delivery.text)
                    except (StorageError, SecretStoreError) as exc:
                        log.warning("webhook delivery left on the queue: %s", exc.message)
                        continue
                    self.queue().delete(delivery)
                    handled += 1
        return handled

    def serve(self, stop: threading.Event, poll_seconds: float = 0.5,
              sweep: Callable[[], object] | None = None, sweep_seconds: float = 600.0) -> None:
        """Drain the queue every ``poll_seconds`` until ``stop`` is set, and call ``sweep``
        every ``sweep_seconds``, as the function app's timer does."""
        swept = time.monotonic()
        while not stop.wait(poll_seconds):
            try:
                if sweep is not None and time.monotonic() - swept >= sweep_seconds:
                    swept = time.monotonic()
                    sweep()
                self.drain(stop)
            except StorageError as exc:
                log.warning("webhook worker: %s", exc.message)
            except Exception:
                log.exception("webhook worker: a delivery crashed; going on with the next")
