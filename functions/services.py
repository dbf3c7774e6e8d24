"""The composition root: builds the real clients and services from :class:`Settings`, once
per process, and wires them together. Nothing here decides anything."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from functions.clients.credentials import Credentials
from functions.clients.delegated import DelegatedTokens
from functions.connections import Connections
from functions.core import telemetry
from functions.core.collector import collect_less_often
from functions.core.config import Settings
from functions.core.errors import ConflictError
from functions.core.kinds import KINDS
from functions.core.model import Run, SyncKind, SyncState, TenantRecord, Trigger
from functions.devices.slice import DeviceSlice
from functions.devices.staging import CheckpointStore
from functions.devices.store import InventoryTables
from functions.directory.delta_state import DeltaStateStore
from functions.directory.resync import DirectoryReads
from functions.directory.slice import DirectorySlice
from functions.directory.store import DirectoryTables
from functions.notifications import NotificationReceiver, Subscriber, SubscriptionTable
from functions.onboarding import Onboarding
from functions.onboarding.checks import ConnectionTest
from functions.onboarding.consent import ConsentFlow
from functions.onboarding.consent_state import StateSigner
from functions.partners import Partners
from functions.partners.audit import ConsentEntries, ConsentLog, ConsentNotices
from functions.partners.consent import PartnerConsent
from functions.partners.consent_retry import ConsentRetry
from functions.partners.revoke import ConsentRemoval
from functions.partners.signin import PartnerSignIn
from functions.storage.consents import ConsentTable
from functions.storage.feed import ChangeFeed
from functions.storage.health import HealthEntries, HealthTelemetry, TenantHealth
from functions.storage.holds import HoldTable
from functions.storage.outbox import Outbox, OutboxEvent
from functions.storage.partner_access import ConsentAuditTable, ConsentRecord, PartnerAccessTable
from functions.storage.partners import PartnerTable
from functions.storage.queues import JobQueue
from functions.storage.runs import RunTable
from functions.storage.tenants import TenantTable
from functions.sync.engine import SyncEngine
from functions.sync.guard import DeletionGuard
from functions.sync.ledger import RunLedger
from functions.sync.notified import NotifiedSyncs
from functions.sync.outbox import EventRelay
from functions.sync.poison import PoisonedJobs
from functions.sync.pool import EndedKey, LocalRunner, Share
from functions.sync.schedule import Scheduler
from functions.sync.slice import SyncSlice
from functions.sync.starts import SyncStarter
from functions.sync.worker import JobRunner, QueueWorker
from functions.webhooks import (
    Deliverer,
    DeliverySweep,
    DeliveryWorker,
    WebhookEvents,
    WebhookNotices,
    Webhooks,
    WebhookTables,
    guarded_session,
)


@dataclass
class Services(Connections):
    """Every service of a process, wired from its connections (:class:`Connections`)."""

    # --- tables ----------------------------------------------------------------------

    @cached_property
    def tenants(self) -> TenantTable:
        return TenantTable(self.tables)

    @cached_property
    def runs(self) -> RunTable:
        return RunTable(self.tables)

    @cached_property
    def directory(self) -> DirectoryTables:
        return DirectoryTables(self.tables)

    @cached_property
    def inventory(self) -> InventoryTables:
        return InventoryTables(self.tables)

    @cached_property
    def feed(self) -> ChangeFeed:
        return ChangeFeed(self.tables)

    @cached_property
    def holds(self) -> HoldTable:
        return HoldTable(self.tables)

    @cached_property
    def partner_table(self) -> PartnerTable:
        return PartnerTable(self.tables)

    # --- features --------------------------------------------------------------------

    @cached_property
    def credentials(self) -> Credentials:
        return Credentials(self.secrets, self.tokens)

    @cached_property
    def connection_test(self) -> ConnectionTest:
        return ConnectionTest(self.settings, self.tokens, self.session)

    @cached_property
    def onboarding(self) -> Onboarding:
        return Onboarding(self.tenants, self.health, self.credentials, self.connection_test)

    @cached_property
    def consents(self) -> ConsentTable:
        return ConsentTable(self.tables)

    @cached_property
    def consent(self) -> ConsentFlow:
        def first_sync(tenant_id: str, kind: SyncKind) -> str:
            return self.starter.start(tenant_id, kind, Trigger.HTTP).run_id or ""

        return ConsentFlow(self.settings, self.consents, self.tenants, self.health,
                           self.partner_table, self.credentials, self.connection_test,
                           self.onboarding, StateSigner(self.secrets), first_sync)

    @cached_property
    def partners(self) -> Partners:
        partners = Partners(self.settings, self.partner_table, self.tenants, self.secrets,
                            self.tokens, self.session, self.credentials, self.health)
        partners.after_discovery = lambda found: self.partner_consent.after_discovery(
            found.partner_tenant_id)
        return partners

    # --- consent from the partner's side (functions.partners.signin, .consent) ----------

    @cached_property
    def partner_signin(self) -> PartnerSignIn:
        s = self.settings
        return PartnerSignIn(s, self.partner_table, PartnerAccessTable(self.tables),
                             self.secrets, self.credentials,
                             DelegatedTokens(s.authority_host, self.session,
                                             instance_discovery=s.instance_discovery))

    def _first_sync(self, tenant_id: str, kind: SyncKind = SyncKind.DEVICES) -> str:
        try:
            return self.starter.start(tenant_id, kind, Trigger.HTTP).run_id or ""
        except ConflictError as exc:  # one is queued or running already: that one it is
            return exc.run_id or ""

    @cached_property
    def partner_consent(self) -> PartnerConsent:
        return PartnerConsent(self.settings, self.partner_table, self.tenants, self.health,
                              ConsentAuditTable(self.tables), self.partner_signin, self.tokens,
                              self.secrets, self.session, self._first_sync,
                              outbox=self.outbox, publish=self._publish_consent)

    def _publish_consent(self, tenant_id: str, written: Sequence[OutboxEvent],
                         record: ConsentRecord) -> int:
        return self.relay.publish(tenant_id, written, consent=record)

    @cached_property
    def consent_removal(self) -> ConsentRemoval:
        log = ConsentLog(ConsentAuditTable(self.tables), self.outbox, self._publish_consent)
        return ConsentRemoval(self.settings, self.partner_table, self.partner_signin, log,
                              self.session, clock=self.clock)

    @cached_property
    def consent_retry(self) -> ConsentRetry:
        return ConsentRetry(self.tenants, self.health, self.tokens, self.secrets, self._first_sync)

    # --- the sync engine -------------------------------------------------------------

    @cached_property
    def ledger(self) -> RunLedger:
        def ended(tenant: TenantRecord, run: Run, before: SyncState) -> None:
            if self.settings.notification_url:
                self.notified.after_run(tenant, run, before)

        return RunLedger(self.settings, self.tenants, self.runs, self.health, clock=self.clock,
                         ended_hook=ended)

    # --- health and the outbox: events as durable as the changes they describe --------

    @cached_property
    def outbox(self) -> Outbox:
        return Outbox(self.tables)

    @cached_property
    def health(self) -> TenantHealth:
        return TenantHealth(self.tenants, self.outbox,
                            lambda tenant_id, written, run, tenant: self.relay.publish(
                                tenant_id, written, run, tenant=tenant),
                            clock=self.clock,
                            wants_run_end=lambda tenant_id: self.relay.wants_run_end(tenant_id),
                            scope=lambda: self.relay.publication())

    @cached_property
    def relay(self) -> EventRelay:
        notices = WebhookNotices(self.webhook_events)
        return EventRelay(
            self.settings, self.outbox, self.tenants, self.runs,
            health_listeners=[HealthTelemetry(), HealthEntries(self.feed), notices],
            run_listeners=[notices.run_finished], feed=self.feed, slices=self.slices,
            scopes=[notices.publication], run_interest=[notices.wants_run_end],
            clock=self.clock, consents=ConsentAuditTable(self.tables),
            consent_listeners=[ConsentEntries(self.feed), ConsentNotices(self.webhook_events)])

    # --- webhooks --------------------------------------------------------------------

    @cached_property
    def webhook_queue(self) -> JobQueue:
        return self._queue(self.settings.webhook_queue)

    @cached_property
    def webhook_tables(self) -> WebhookTables:
        return WebhookTables(self.tables)

    @cached_property
    def webhook_events(self) -> WebhookEvents:
        return WebhookEvents(self.webhook_tables, lambda: self.webhook_queue)

    @cached_property
    def webhooks(self) -> Webhooks:
        return Webhooks(self.webhook_tables, self.secrets, lambda: self.webhook_queue,
                        allow_private=self.settings.webhook_allow_private)

    @cached_property
    def deliverer(self) -> Deliverer:
        s = self.settings
        session = guarded_session(allow_private=s.webhook_allow_private,
                                  verify=s.webhook_ca_bundle or True)
        return Deliverer(self.webhook_tables, self.secrets, lambda: self.webhook_queue,
                         session, retry_base=s.webhook_retry_base_seconds,
                         max_attempts=s.webhook_max_attempts,
                         disable_after=s.webhook_disable_after,
                         timeout=s.webhook_timeout_seconds)

    @cached_property
    def delivery_worker(self) -> DeliveryWorker:
        return DeliveryWorker(self.deliverer, lambda: self.webhook_queue)

    @cached_property
    def delivery_sweep(self) -> DeliverySweep:
        return DeliverySweep(self.webhook_tables, lambda: self.webhook_queue)

    # --- change notifications (opt-in) -------------------------------------------------

    @cached_property
    def subscriptions(self) -> SubscriptionTable:
        return SubscriptionTable(self.tables)

    @cached_property
    def subscriber(self) -> Subscriber:
        def tracked_groups(tenant_id: str) -> list[str]:
            return [g.id for g in self.directory.groups(tenant_id) if not g.deleted]

        return Subscriber(self.settings, self.subscriptions, self.tenants, self.secrets,
                          self.graphs, tracked_groups)

    @cached_property
    def notification_receiver(self) -> NotificationReceiver:
        return NotificationReceiver(self.subscriptions, self.secrets)

    @cached_property
    def notification_queue(self) -> JobQueue:
        return self._queue(self.settings.notification_queue)

    @cached_property
    def notified(self) -> NotifiedSyncs:
        return NotifiedSyncs(self.starter, lambda: self.notification_queue, self.subscriber,
                             clock=self.clock)

    @cached_property
    def slices(self) -> dict[SyncKind, SyncSlice[Any, Any, Any]]:
        slices: dict[SyncKind, SyncSlice[Any, Any, Any]] = {
            SyncKind.DIRECTORY: DirectorySlice(self.settings, self.directory, DirectoryReads(
                self.directory, DeltaStateStore(self.tables),
                self.settings.directory_reconcile_hours, self.settings.full_compare_hours)),
            SyncKind.DEVICES: DeviceSlice(self.inventory, CheckpointStore(self.tables),
                                          self.settings),
        }
        # Every other registered kind names its own slice (functions.core.kinds).
        slices.update({kind.name: kind.slice(self) for kind in KINDS if kind.slice})
        return slices

    @cached_property
    def engine(self) -> SyncEngine:
        return SyncEngine(self.settings, self.tenants, self.runs, self.ledger, self.graphs,
                          self.slices, feed=self.feed,
                          guard=DeletionGuard(self.holds, clock=self.clock), clock=self.clock)

    @cached_property
    def starter(self) -> SyncStarter:
        return SyncStarter(self.settings, self.tenants, self.runs, self.ledger, self.queues,
                           clock=self.clock)

    @cached_property
    def scheduler(self) -> Scheduler:
        return Scheduler(self.tenants, self.partner_table, self.partners, self.starter,
                         clock=self.clock)

    @cached_property
    def jobs(self) -> JobRunner:
        return JobRunner(self.engine, self.starter)

    @cached_property
    def poisoned(self) -> PoisonedJobs:
        return PoisonedJobs(self.runs, self.ledger, clock=self.clock)

    @cached_property
    def worker(self) -> QueueWorker:
        # Longer than a lease: a message whose worker died is delivered again only once its
        # run's lease has run out, so the new delivery can take the run over.
        visibility = math.ceil(self.settings.run_lease_seconds * 1.25) + 1
        return QueueWorker(self.jobs, self.queues, visibility, self.poisoned)

    @cached_property
    def runner(self) -> LocalRunner:
        return LocalRunner(self.settings, self.starter, self.engine, self.runs,
                           _start_worker, _run_share)


_services: Services | None = None
_lock = threading.Lock()
_worker: Services | None = None  # in a LocalRunner's worker process
_ended: Any = None  # in a worker process: the queue its runs go on as they end


def _start_worker(settings: Settings, graph_slots: Any, ended: Any) -> None:
    global _worker, _ended
    collect_less_often()
    _worker = Services(settings, shared_graph_slots=graph_slots)
    _ended = ended
    # A run the caller has not read yet must not keep this process from exiting.
    ended.cancel_join_thread()
    _worker.tables  # noqa: B018 - builds the storage clients before the first job


def _run_share(share: Share) -> tuple[list[Run], list[EndedKey]]:
    assert _worker is not None, "started without _start_worker"
    return _worker.runner.run_share_here(share, _ended.put)


def get_services() -> Services:
    """The process-wide services, built from the environment on first use."""
    global _services
    with _lock:
        if _services is None:
            collect_less_often()
            _services = Services(Settings.from_env())
            telemetry.configure_azure_monitor()
        return _services
