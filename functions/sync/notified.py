"""What a Graph change notification starts: a directory sync of its tenant, through the one
start path (:class:`SyncStarter`), never the work itself (Graph wants an answer within 3 s).

Many notifications for one tenant become one run: while the tenant's run is still queued
its read has not begun, so it will see every change notified so far, and a later
notification is folded into it. A notification that arrives while a run is *reading* may
describe a change that read missed: its trigger waits on the notification queue and starts
the next run once that one ended. Lifecycle events wait on the same queue, and so does the
making of a new tenant's subscriptions after its first successful sync.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from functions.core.errors import ConflictError, ErrorCode, NotFoundError, StorageError
from functions.core.model import Run, RunStatus, SyncKind, SyncState, TenantRecord, Trigger, utcnow
from functions.notifications import Subscriber
from functions.storage.entities import iso, parse_time
from functions.storage.queues import JobQueue
from functions.sync.starts import SyncStarter

log = logging.getLogger("tenantsync.notified")

RETRY_SECONDS = 5  # how long a trigger waits for the tenant's reading run to end
# The run a trigger finds is most often one that has written already and is finishing (its
# feed, its state): look again after a second at first, then every RETRY_SECONDS.
QUICK_RETRY_SECONDS = 1
QUICK_RETRIES_FOR = timedelta(seconds=10)
GIVE_UP_AFTER = timedelta(hours=1)  # past this the timer's sync has it anyway


class Triggered(StrEnum):
    STARTED = "started"  # a run was queued
    JOINED = "joined"  # folded into the tenant's queued run
    WAITING = "waiting"  # a run is reading: tried again once it ended
    DROPPED = "dropped"  # the tenant is gone, or waited too long


@dataclass
class NotifiedSyncs:
    starter: SyncStarter
    queue: Callable[[], JobQueue]
    subscriber: Subscriber
    clock: Callable[[], datetime] = utcnow
    retry_seconds: int = RETRY_SECONDS

    def trigger(self, tenant_id: str, since: datetime | None = None) -> Triggered:
        """Start (or join) a directory sync of a tenant a notification named.

        Raises:
            StorageError: the run or a message could not be stored (Graph is answered 5xx
            and delivers the notification again).
        """
        since = since or self.clock()
        for _ in range(2):
            try:
                self.starter.start(tenant_id, SyncKind.DIRECTORY, Trigger.NOTIFICATION)
                return Triggered.STARTED
            except NotFoundError:
                return Triggered.DROPPED
            except ConflictError as exc:
                if exc.code != ErrorCode.SYNC_RUNNING:
                    return Triggered.DROPPED
            holder = self.starter.holder(tenant_id, SyncKind.DIRECTORY)
            if holder is None:
                continue  # it ended meanwhile: start again
            if holder.status == RunStatus.QUEUED:
                return Triggered.JOINED
            break
        if self.clock() - since > GIVE_UP_AFTER:
            log.info("notification of tenant %s dropped: a run kept reading", tenant_id)
            return Triggered.DROPPED
        quick = self.clock() - since < QUICK_RETRIES_FOR
        delay = min(QUICK_RETRY_SECONDS, self.retry_seconds) if quick else self.retry_seconds
        self.queue().send(json.dumps({"kind": "trigger", "tenantId": tenant_id,
                                      "since": iso(since)}), delay_seconds=delay)
        return Triggered.WAITING

    def after_run(self, tenant: TenantRecord, run: Run, before: SyncState) -> None:
        """After a tenant's first successful directory sync (its level-1 groups now stored),
        queue the making of its subscriptions, unless it has some already: it hears of
        changes from then on, not only after the next upkeep (which stays the safety net)."""
        first = before.verified_at is None  # set by every complete, written sync
        if (run.kind != SyncKind.DIRECTORY or run.status != RunStatus.SUCCEEDED or not first
                or not self.subscriber.enabled
                or self.subscriber.table.status(tenant.tenant_id) is not None):
            return
        self.queue().send(json.dumps({"kind": "subscribe", "tenantId": tenant.tenant_id}))

    def lifecycle(self, tenant_id: str, subscription_id: str, event: str) -> None:
        """Queue the answer to a lifecycle event (Graph wants the POST answered at once)."""
        self.queue().send(json.dumps({"kind": "lifecycle", "tenantId": tenant_id,
                                      "subscriptionId": subscription_id, "event": event}))

    def handle(self, text: str) -> None:
        """One message of the notification queue. Storage, Graph or Key Vault failing
        raises, so that the message is delivered again; a malformed one is dropped."""
        try:
            message = json.loads(text)
            kind, tenant_id = message["kind"], str(message["tenantId"])
        except (ValueError, KeyError, TypeError):
            log.warning("notification queue: a malformed message was dropped")
            return
        if kind == "trigger":
            self.trigger(tenant_id, parse_time(message.get("since")) or self.clock())
        elif kind == "subscribe":
            try:
                self.subscriber.ensure(tenant_id)
            except NotFoundError:
                log.info("tenant %s was removed before its subscriptions were made", tenant_id)
        elif kind == "lifecycle":
            event = str(message.get("event", ""))
            subscription_id = str(message.get("subscriptionId", ""))
            if event in ("reauthorizationRequired", "subscriptionRemoved"):
                self.subscriber.recreate(tenant_id, subscription_id)
            # Whatever the event, changes may have gone unheard meanwhile (users and groups
            # have no `missed` event): a sync reads them.
            self.trigger(tenant_id)

    def drain(self) -> int:
        """Handle every visible message of the notification queue, as the queue function
        does in Azure (a message is deleted once handled); how many."""
        queue, handled = self.queue(), 0
        while deliveries := queue.receive(visibility_seconds=60):
            for delivery in deliveries:
                self.handle(delivery.text)
                queue.delete(delivery)
                handled += 1
        return handled

    def serve(self, stop: threading.Event, poll_seconds: float = 1.0) -> None:
        """Drain the notification queue every ``poll_seconds`` until ``stop`` is set (the
        local stack's stand-in for the queue function)."""
        while not stop.wait(poll_seconds):
            try:
                self.drain()
            except StorageError as exc:
                log.warning("notification worker: %s", exc.message)
            except Exception:
                log.exception("notification worker: a message failed; going on")
