"""The outbox relay: hands each pending event to its listeners once the change it describes
is stored, and drops the events whose change never was; its sweep does the same for what a
crash left behind, and records in the change feed what a dead run wrote after its intent
(docs/design.md, "Outbox").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from functions.core.changes import Change
from functions.core.config import Settings
from functions.core.model import Health, Run, SyncKind, TenantRecord, utcnow
from functions.partners.audit import ConsentListener, stored_consent
from functions.storage.entities import iso
from functions.storage.feed import ChangeFeed
from functions.storage.health import HealthChange, HealthListener, happened
from functions.storage.outbox import CONSENT, HEALTH, RUN, Outbox, OutboxEvent
from functions.storage.partner_access import ConsentAuditTable, ConsentRecord
from functions.storage.runs import RunTable
from functions.storage.tenants import TenantTable
from functions.sync.engine import alive
from functions.sync.slice import SyncSlice

log = logging.getLogger("tenantsync.outbox")
# A writer publishes its own events within a second of writing them; an event whose change
# is still not stored this long after is taken as never stored (its writer failed).
GRACE = timedelta(minutes=2)

RunListener = Callable[[Run, str], None]  # a run that ended, and its event's id


@dataclass
class EventRelay:
    settings: Settings
    outbox: Outbox
    tenants: TenantTable
    runs: RunTable
    health_listeners: list[HealthListener] = field(default_factory=list)
    run_listeners: list[RunListener] = field(default_factory=list)
    feed: ChangeFeed | None = None
    slices: Mapping[SyncKind, SyncSlice[Any, Any, Any]] = field(default_factory=dict)
    clock: Callable[[], datetime] = utcnow
    consents: ConsentAuditTable | None = None  # proves a consent event's change is stored
    consent_listeners: list[ConsentListener] = field(default_factory=list)
    # Entered around each publication (``WebhookNotices.publication``).
    scopes: list[Callable[[], AbstractContextManager[object]]] = field(default_factory=list)
    # Whether a run listener wants a tenant's runs' ends (``WebhookNotices.wants_run_end``);
    # None: every run's end is wanted.
    run_interest: list[Callable[[str], bool]] | None = None

    def wants_run_end(self, tenant_id: str) -> bool:
        """Whether a run's end of this tenant would reach any run listener now.

        Raises:
            StorageError: storage did not answer.
        """
        if self.run_interest is None:
            return True
        return any(wants(tenant_id) for wants in self.run_interest)

    def publish(self, tenant_id: str, written: Sequence[OutboxEvent] = (),
                run: Run | None = None, consent: ConsentRecord | None = None,
                tenant: TenantRecord | None = None) -> int:
        """Hand a tenant's pending events to their listeners, oldest first, each once its
        change is stored; returns how many were handed on.

        ``written``: events the caller has just written, with ``run``, the run record it
        has just saved (or ``consent``, the consent audit row). When they are all runs'
        ends, consents or a side's first change of health, only they are published (each
        is proved by its own record, so without reading the outbox; what an earlier crash
        left waits for the sweep). Any other change of health is published with everything
        pending of its tenant: the chain of its side's changes proves which were written,
        and they are told oldest first. ``tenant``: the tenant record the caller has just
        saved (the side of ``run``), which then proves that side's changes without
        reading it again.

        Raises:
            StorageError: storage did not answer (what is left stays pending).
        """
        quick = bool(written) and all(e.topic in (RUN, CONSENT) or _first_change(e)
                                      for e in written)
        events = list(written) if quick else self.outbox.pending(tenant_id)
        if not events:
            return 0
        now = self.clock()
        published = 0
        sides: dict[str, list[OutboxEvent]] = {}
        done: list[OutboxEvent] = []  # removed together once handed on (or dropped)
        try:
            with self.publication():
                for event in events:
                    if event.topic == RUN:
                        published += self._run_ended(event, now, run, done)
                    elif event.topic == HEALTH:
                        sides.setdefault(event.subject, []).append(event)
                    elif event.topic == CONSENT:
                        published += self._consented(event, now, consent, done)
                    else:
                        log.error("outbox event %s of tenant %s has an unknown topic %r; "
                                  "dropped", event.id, tenant_id, event.topic)
                        done.append(event)
                if sides:
                    saved = run.kind if run is not None and tenant is not None else None
                    found = tenant if saved is not None and set(sides) == {str(saved)} \
                        else self.tenants.find(tenant_id)
                    for rows in sides.values():
                        published += self._health_changed(found, rows, now, done)
        finally:
            self.outbox.remove_all(done)
        return published

    @contextmanager
    def publication(self) -> Iterator[None]:
        """One publication: listeners that read what they need once for all its events
        (the webhook subscriptions) do so inside it."""
        with ExitStack() as stack:
            for scope in self.scopes:
                stack.enter_context(scope())
            yield

    def sweep(self) -> int:
        """Publish what writers left pending (they crashed, or storage failed them before
        they published), and settle the feed intents of runs that died; returns how many
        events and feed entries that made.

        Raises:
            StorageError: storage did not answer (the next sweep goes on).
        """
        now = self.clock()
        published = sum(self.publish(t) for t in list(self.outbox.tenants_due(now - GRACE)))
        return published + self._settle_intents(now)

    # --- a run ended ---------------------------------------------------------------------

    def _run_ended(self, event: OutboxEvent, now: datetime, saved: Run | None,
                   done: list[OutboxEvent]) -> int:
        if saved is not None and saved.run_id == event.subject:
            run: Run | None = saved
        else:
            found = self.runs.get_versioned(event.tenant_id, event.subject)
            run = found[0] if found else None
        if run is not None and not run.active and iso(run.ended_at) == event.data["endedAt"]:
            for listener in self.run_listeners:
                listener(run, event.id)
            done.append(event)
            return 1
        if (run is not None and alive(run, now, self.settings)) or self._young(event, now):
            return 0  # its end may still be written
        log.warning("run %s of tenant %s did not end as announced (its record was not "
                    "saved); its event is dropped", event.subject, event.tenant_id)
        done.append(event)
        return 0

    # --- tenantsync consented (or removed a consent) in the customer's tenant ------------

    def _consented(self, event: OutboxEvent, now: datetime, saved: ConsentRecord | None,
                   done: list[OutboxEvent]) -> int:
        if self.consents is None:
            return 0  # a relay that cannot prove it leaves it to one that can
        record = saved if saved is not None and saved.key == event.subject else \
            stored_consent(self.consents, event)
        if record is not None:
            for listener in self.consent_listeners:
                listener(record, event.id)
            done.append(event)
            return 1
        if not self._young(event, now):
            log.warning("consent %s of tenant %s was never audited; its event is dropped",
                        event.subject, event.tenant_id)
            done.append(event)
        return 0

    # --- a side's health changed -----------------------------------------------------------

    def _health_changed(self, tenant: TenantRecord | None, rows: list[OutboxEvent],
                        now: datetime, done: list[OutboxEvent]) -> int:
        changes = [HealthChange.of(e) for e in rows]
        stored = happened(changes, tenant.state(changes[0].kind)) if tenant else []
        for change in stored:
            for listener in self.health_listeners:
                listener.health_changed(change)
        told = {c.event_id for c in stored}
        for event in rows:
            if event.id in told:
                done.append(event)
            elif not self._young(event, now):
                log.warning("health change %s of tenant %s was never stored; dropped",
                            event.id, event.tenant_id)
                done.append(event)
        return len(stored)

    @staticmethod
    def _young(event: OutboxEvent, now: datetime) -> bool:
        return now - event.created_at < GRACE

    # --- the change feed's intents -----------------------------------------------------------

    def _settle_intents(self, now: datetime) -> int:
        """Append what dead runs wrote after recording their intent (as the next run of the
        kind would, without waiting for it)."""
        if self.feed is None:
            return 0
        appended = 0
        for tenant_id, kind in self.feed.pending_intents():
            intent = self.feed.intent(tenant_id, kind)
            if intent is None:
                self.feed.clear(tenant_id, kind, "")
                continue
            found = self.runs.get_versioned(tenant_id, intent.run_id)
            part = self.slices.get(kind)
            if part is None or (found is not None and alive(found[0], now, self.settings)):
                continue  # writing now: the run appends its own
            added = self.feed.settle(tenant_id, intent, _written(part, part.load(tenant_id)))
            log.warning("run %s of tenant %s died before appending its %d changes; %d of them "
                        "(written) were appended by the sweep", intent.run_id, tenant_id,
                        len(intent.changes), added)
            appended += added
        return appended


def _first_change(event: OutboxEvent) -> bool:
    """A side's first change of health (from ``unknown``, never changed before): no older
    change of that side can be stored, so none has to be told before it (an older one
    still pending was never stored, and is dropped by the sweep as before)."""
    return (event.topic == HEALTH and event.data.get("previous") == Health.UNKNOWN.value
            and not event.data.get("previousSince"))


def _written(part: SyncSlice, stored: object) -> Callable[[list[Change]], list[Change]]:
    """The planned changes that ``stored`` holds as planned (what a dead run did write)."""
    return lambda planned: part.settled(stored, planned)
