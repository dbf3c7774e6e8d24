"""A tenant's health: every change of either side's health, whatever made it (a run's end,
discovery, a released or discarded hold, onboarding), is written here, and reaches its
listeners (telemetry, the change feed, the webhooks) once (docs/design.md, "Health").

A change is recorded in the outbox before the tenant's state is written; the relay
(``functions.sync.outbox``) hands it to the listeners once the state is stored as it says.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from functions.core import telemetry
from functions.core.changes import CHANGED, HEALTH_ENTITY, Change
from functions.core.errors import TenantSyncError
from functions.core.kinds import KINDS
from functions.core.model import Health, Run, SyncKind, SyncState, TenantRecord, utcnow
from functions.storage.entities import iso, parse_time
from functions.storage.feed import ChangeFeed
from functions.storage.outbox import HEALTH, Outbox, OutboxEvent
from functions.storage.tenants import TenantTable

log = logging.getLogger("tenantsync.health")


@dataclass(frozen=True)
class HealthChange:
    """One side of a tenant went from ``previous`` to ``health`` at ``since``. ``event_id``
    is the outbox row that carries it: the change's identity for every listener."""

    tenant_id: str
    kind: SyncKind
    previous: Health
    previous_since: datetime | None
    health: Health
    since: datetime | None
    error_code: str = ""
    error: str = ""
    run_id: str = ""
    secret_expires_on: datetime | None = None
    event_id: str = ""

    def data(self) -> dict[str, Any]:
        return {"kind": str(self.kind), "previous": self.previous.value,
                "previousSince": iso(self.previous_since), "health": self.health.value,
                "since": iso(self.since), "errorCode": self.error_code, "error": self.error,
                "runId": self.run_id, "secretExpiresOn": iso(self.secret_expires_on)}

    @classmethod
    def of(cls, event: OutboxEvent) -> HealthChange:
        d = event.data
        return cls(event.tenant_id, KINDS.stored(d["kind"]), Health(d["previous"]),
                   parse_time(d.get("previousSince")), Health(d["health"]),
                   parse_time(d.get("since")), d.get("errorCode", ""), d.get("error", ""),
                   d.get("runId", ""), parse_time(d.get("secretExpiresOn")), event.id)


class HealthListener(Protocol):
    """Told of every change of a side's health, once it is stored (and, after a crash,
    told by the sweep; a listener makes a second telling of the same ``event_id`` a no-op)."""

    def health_changed(self, change: HealthChange) -> None: ...


def move(state: SyncState, health: Health, now: datetime) -> bool:
    """Set a side's health (pure, in place); its ``health_since`` moves only on a change.
    Returns whether it changed."""
    if state.health == health:
        return False
    state.health, state.health_since = health, now
    return True


def _point(health: Health, since: datetime | None) -> tuple[str, str]:
    return health.value, iso(since)


def happened(pending: Sequence[HealthChange], state: SyncState) -> list[HealthChange]:
    """The pending changes of one side that the stored ``state`` proves were written, oldest
    first: walking back from the stored health, each change whose outcome is where the walk
    stands happened, and the walk moves to where it came from. A change off that chain was
    never stored (its writer failed), or is being written now."""
    chain: list[HealthChange] = []
    at = _point(state.health, state.health_since)
    for change in reversed(pending):
        if _point(change.health, change.since) == at:
            chain.append(change)
            at = _point(change.previous, change.previous_since)
    return chain[::-1]


@dataclass
class TenantHealth:
    """The one way a tenant's health is written: the change into the outbox first, then the
    tenant, then the change is published at once (the sweep publishes what a crash left)."""

    tenants: TenantTable
    outbox: Outbox
    # Publishes a tenant's pending events now (the relay's ``publish``: the tenant, the
    # events just written, the run just saved, the tenant record just saved); set by the
    # composition root.
    publish: Callable[[str, Sequence[OutboxEvent], Run | None, TenantRecord | None],
                      object] | None = None
    clock: Callable[[], datetime] = utcnow
    # Whether any listener wants a tenant's runs' ends (the relay's ``wants_run_end``),
    # and the scope in which that look and the publication share their reads (the
    # relay's ``publication``); without them every run's end is announced.
    wants_run_end: Callable[[str], bool] | None = None
    scope: Callable[[], AbstractContextManager[object]] | None = None

    def run_end_wanted(self, tenant_id: str) -> bool:
        """Whether a run's end of this tenant has anyone to tell (True when unknown).

        Raises:
            StorageError: storage did not answer.
        """
        return self.wants_run_end is None or self.wants_run_end(tenant_id)

    def publication(self) -> AbstractContextManager[object]:
        """One run's end: whether it is wanted, and its publication, read once."""
        return self.scope() if self.scope is not None else nullcontext()

    def save_state(self, tenant: TenantRecord, kind: SyncKind, before: SyncState, *,
                   run_id: str = "", organization: bool = False,
                   publish: bool = True) -> HealthChange | None:
        """Write one side's state (``TenantTable.save_state``), announcing a change of its
        health from ``before`` (published at once, unless the caller has more to publish
        and calls :meth:`published` itself).

        Raises:
            StorageError: storage did not answer (the state may or may not be written; the
            change is announced only if it was).
        """
        change = self._announce(tenant, kind, before, run_id)
        self.tenants.save_state(tenant, kind, organization=organization)
        if change is not None and publish:
            self.published(tenant.tenant_id)
        return change

    def save(self, tenant: TenantRecord, before: TenantRecord | None) -> list[HealthChange]:
        """Write a whole tenant record (``TenantTable.save``), announcing the change of each
        side's health from ``before`` (None: a new tenant, whose sides were ``unknown``).

        Raises:
            StorageError: storage did not answer.
        """
        changes = [c for kind in SyncKind if (c := self._announce(
            tenant, kind, before.state(kind) if before else SyncState(), "")) is not None]
        self.tenants.save(tenant)
        if changes:
            self.published(tenant.tenant_id)
        return changes

    def replace(self, tenant: TenantRecord) -> list[HealthChange]:
        """Write a tenant record changed by hand (onboarding, a consent), announcing each
        side's change of health from the record as stored now.

        Raises:
            StorageError: storage did not answer.
        """
        return self.save(tenant, self.tenants.find(tenant.tenant_id))

    def set(self, tenant: TenantRecord, kind: SyncKind, health: Health, *,
            error_code: str = "", error: str = "") -> HealthChange | None:
        """Put one side in ``health`` with the error that explains it, and write it.

        Raises:
            StorageError: storage did not answer.
        """
        state = tenant.state(kind)
        before = replace(state)
        move(state, health, self.clock())
        state.last_error_code, state.last_error = error_code, error
        if state == before:
            return None
        return self.save_state(tenant, kind, before)

    def announce_with(self, tenant: TenantRecord, kind: SyncKind, before: SyncState,
                      first: tuple[str, str, dict[str, Any]], run_id: str
                      ) -> list[OutboxEvent]:
        """Record the caller's event ``first`` (topic, subject, data) and the change of one
        side's health from ``before`` (if it changed) in the outbox, in one request, before
        either change is written; then :meth:`write_state` and :meth:`published`.

        Raises:
            StorageError: storage did not answer (nothing may be written then).
        """
        change = self._change(tenant, kind, before, run_id)
        events = [first] if change is None else [first, (HEALTH, str(kind), change.data())]
        return self.outbox.add_all(tenant.tenant_id, events)

    def write_state(self, tenant: TenantRecord, kind: SyncKind, *,
                    organization: bool = False) -> None:
        """Write one side's state, its change of health announced (``announce_with``).

        Raises:
            StorageError: storage did not answer.
        """
        self.tenants.save_state(tenant, kind, organization=organization)

    def _change(self, tenant: TenantRecord, kind: SyncKind, before: SyncState,
                run_id: str) -> HealthChange | None:
        state = tenant.state(kind)
        if state.health == before.health:
            return None
        return HealthChange(tenant.tenant_id, kind, before.health, before.health_since,
                            state.health, state.health_since, state.last_error_code,
                            state.last_error[:2000], run_id, state.secret_expires_on)

    def _announce(self, tenant: TenantRecord, kind: SyncKind, before: SyncState,
                  run_id: str) -> HealthChange | None:
        change = self._change(tenant, kind, before, run_id)
        if change is None:
            return None
        event = self.outbox.add(tenant.tenant_id, HEALTH, str(kind), change.data())
        return replace(change, event_id=event.id)

    def published(self, tenant_id: str, written: Sequence[OutboxEvent] = (),
                  run: Run | None = None, tenant: TenantRecord | None = None) -> None:
        """Publish the tenant's pending events now (see ``EventRelay.publish`` for
        ``written``, ``run`` and ``tenant``). Never raises: what cannot be published now
        stays in the outbox for the sweep."""
        if self.publish is None:
            return
        try:
            self.publish(tenant_id, written, run, tenant)
        except TenantSyncError as exc:
            log.warning("events of tenant %s left for the outbox sweep: %s", tenant_id,
                        exc.message)
        except Exception:
            log.exception("publishing the events of tenant %s crashed; the outbox sweep "
                          "tries again", tenant_id)


class HealthTelemetry:
    """``tenantsync.health``, the event the workbook's health panels query."""

    def health_changed(self, change: HealthChange) -> None:
        telemetry.health_changed(change.tenant_id, change.kind, change.health.value,
                                 change.previous.value, change.error_code)


@dataclass
class HealthEntries:
    """A change of health in the tenant's change feed: entity ``health``, the side as its
    id, change ``changed``, the new health as its name (appended once per change)."""

    feed: ChangeFeed

    def health_changed(self, change: HealthChange) -> None:
        entry = Change(HEALTH_ENTITY, str(change.kind), CHANGED, change.health.value,
                       iso(change.since))
        self.feed.append(change.tenant_id, change.kind, change.run_id, [entry],
                         change.since, key=change.event_id)
