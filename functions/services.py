"""The composition root: builds the real clients from :class:`Settings`, once per process."""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import requests
from azure.core.credentials import TokenCredential
from azure.keyvault.secrets import SecretClient

from functions.clients.entra import TokenProvider
from functions.clients.vault import SecretStore
from functions.core import telemetry
from functions.core.config import Settings
from functions.core.errors import ConfigurationError, ConflictError, TenantSyncError
from functions.core.model import Run, utcnow
from functions.devices.store import InventoryTables
from functions.devices.sync import DeviceSync
from functions.directory.store import DirectoryTables
from functions.directory.sync import DirectorySync
from functions.onboarding import Onboarding
from functions.partners import Partners
from functions.storage.partners import PartnerTable
from functions.storage.queues import JobQueue, SyncJob
from functions.storage.runs import RunTable
from functions.storage.tables import TableStore
from functions.storage.tenants import TenantTable
from functions.sync.health import schedulable
from functions.sync.ledger import RunLedger
from functions.sync.starts import queue_claimed
from functions.sync.tenant_sync import TenantSync

log = logging.getLogger("tenantsync.services")


def azure_credential(settings: Settings) -> TokenCredential:
    """The identity the app uses for Key Vault (and storage, when no connection string)."""

    from azure.identity import (
        ClientSecretCredential,
        DefaultAzureCredential,
        ManagedIdentityCredential,
    )

    if settings.vault_auth == "managed-identity":
        return ManagedIdentityCredential(client_id=settings.managed_identity_client_id)
    if settings.vault_auth == "developer":
        return DefaultAzureCredential()
    # client-secret: a service principal against the configured authority (the simulator,
    # or a sovereign cloud).
    if not (settings.vault_tenant_id and settings.vault_client_id
            and settings.vault_client_secret):
        raise ConfigurationError(
            "TENANTSYNC_VAULT_AUTH=client-secret needs AZURE_TENANT_ID, AZURE_CLIENT_ID and "
            "AZURE_CLIENT_SECRET to be set"
        )
    return ClientSecretCredential(
        settings.vault_tenant_id, settings.vault_client_id,
        settings.vault_client_secret.reveal(),
        authority=settings.authority_host,
        disable_instance_discovery=not settings.instance_discovery,
        connection_verify=settings.verify,
    )


class TrustingSession(requests.Session):
    """A session whose trust setting wins over REQUESTS_CA_BUNDLE in the environment.

    requests lets that variable override ``Session.verify`` for every request that does
    not pass ``verify`` itself (MSAL's do not), so the configured CA bundle is passed on
    each request.
    """

    def __init__(self, verify: str | bool) -> None:
        super().__init__()
        self.verify = verify
        # Without proxy variables there is nothing to read from the environment; leaving
        # trust_env on would scan it (and look for .netrc) on every request.
        self.trust_env = any(
            os.environ.get(name) for name in
            ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
        )

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("verify", self.verify)
        return super().request(method, url, *args, **kwargs)


@dataclass
class Services:
    settings: Settings
    # Set in sync_many's worker processes: one limit on Graph requests shared by all of them.
    shared_graph_slots: Any = None

    @cached_property
    def credential(self) -> TokenCredential:
        return azure_credential(self.settings)

    @cached_property
    def session(self) -> requests.Session:
        session = TrustingSession(self.settings.verify)
        adapter = requests.adapters.HTTPAdapter(pool_connections=16, pool_maxsize=32)
        session.mount("https://", adapter)
        return session

    @cached_property
    def tables(self) -> TableStore:
        s = self.settings
        s.require_storage()
        if s.storage_connection:
            store = TableStore.from_connection_string(s.storage_connection, s.table_prefix)
        else:
            assert s.table_endpoint
            store = TableStore.from_endpoint(s.table_endpoint, self.credential, s.table_prefix)
        store.ensure_tables()
        return store

    def _queue(self, name: str) -> JobQueue:
        s = self.settings
        s.require_storage()
        if s.storage_connection:
            queue = JobQueue.from_connection_string(s.storage_connection, name)
        elif s.queue_endpoint:
            queue = JobQueue.from_endpoint(s.queue_endpoint, name, self.credential)
        else:
            raise ConfigurationError("set TENANTSYNC_QUEUE_ENDPOINT to use the job queue")
        queue.ensure()
        return queue

    @cached_property
    def directory_queue(self) -> JobQueue:
        return self._queue(self.settings.directory_queue)

    @cached_property
    def devices_queue(self) -> JobQueue:
        return self._queue(self.settings.devices_queue)

    def queue_for(self, kind: str) -> JobQueue:
        return self.directory_queue if kind == "directory" else self.devices_queue

    @cached_property
    def secrets(self) -> SecretStore:
        client = SecretClient(
            self.settings.require_vault(),
            self.credential,
            # The challenge's resource must match the vault's domain; a vault on another host
            # (the local simulator) turns this off through TENANTSYNC_VAULT_VERIFY_CHALLENGE.
            verify_challenge_resource=self.settings.vault_verify_challenge,
            connection_verify=self.settings.verify,
        )
        return SecretStore(client, max_age=self.settings.secret_cache_seconds)

    @cached_property
    def tokens(self) -> TokenProvider:
        return TokenProvider(
            self.settings.authority_host, self.session,
            instance_discovery=self.settings.instance_discovery,
        )

    @cached_property
    def tenants(self) -> TenantTable:
        return TenantTable(self.tables)

    @cached_property
    def directory(self) -> DirectoryTables:
        return DirectoryTables(self.tables)

    @cached_property
    def runs(self) -> RunTable:
        return RunTable(self.tables)

    @cached_property
    def ledger(self) -> RunLedger:
        return RunLedger(self.settings, self.tenants, self.runs)

    @cached_property
    def directory_sync(self) -> DirectorySync:
        return DirectorySync(
            self.settings, self.tenants, self.ledger, self.secrets, self.tokens, self.session,
            directory=self.directory, graph_slots=self.graph_slots,
        )

    @cached_property
    def onboarding(self) -> Onboarding:
        return Onboarding(self.settings, self.tenants, self.secrets, self.tokens, self.session)

    @cached_property
    def inventory(self) -> InventoryTables:
        return InventoryTables(self.tables)

    @cached_property
    def partner_table(self) -> PartnerTable:
        return PartnerTable(self.tables)

    @cached_property
    def device_sync(self) -> DeviceSync:
        return DeviceSync(
            self.settings, self.tenants, self.ledger, self.secrets, self.tokens, self.session,
            inventory=self.inventory, graph_slots=self.graph_slots,
        )

    @cached_property
    def graph_slots(self) -> threading.Semaphore:
        """At most TENANTSYNC_GRAPH_CONCURRENCY Graph requests in flight in this process (or
        in all of sync_many's worker processes together)."""
        if self.shared_graph_slots is not None:
            return self.shared_graph_slots
        return threading.BoundedSemaphore(max(1, self.settings.graph_concurrency))

    @cached_property
    def partners(self) -> Partners:
        return Partners(self.settings, self.partner_table, self.tenants, self.secrets,
                        self.tokens, self.session)

    def schedule(self, kind: str, trigger: str = "timer") -> tuple[int, int]:
        """Enqueue one job of ``kind`` per tenant due for it; returns (enqueued, skipped).

        Disabled, excluded, inactive, unsupported and quarantined (until their back-off
        ends) tenants are skipped, and so is a tenant whose sync of ``kind`` is still queued
        or running. For devices, every partner's customers are discovered
        first; one partner's failing discovery does not stop the others.
        """
        if kind == "devices":
            for partner in self.partner_table.list():
                try:
                    self.partners.discover(partner.partner_tenant_id)
                except TenantSyncError as exc:
                    log.warning("discovery failed for partner %s: %s",
                                partner.partner_tenant_id, exc.message)
        enqueued = skipped = 0
        now = utcnow()
        queue = self.queue_for(kind)
        queue_run = self.sync_of(kind).queue_run
        for tenant in self.tenants.list():
            if not schedulable(tenant, kind, now):
                skipped += 1
                continue
            try:
                # A queued run, as for a start over HTTP, under the same claim: a tenant
                # whose sync is still queued or running is not queued twice.
                queue_claimed(self.runs, queue, tenant.tenant_id, kind, trigger, queue_run)
                enqueued += 1
            except ConflictError:
                skipped += 1
        telemetry.schedule_fired(kind, enqueued, skipped)
        return enqueued, skipped

    def schedule_directory_syncs(self, trigger: str = "timer") -> tuple[int, int]:
        return self.schedule("directory", trigger)

    def sync_many(
        self, kind: str, tenant_ids: list[str], trigger: str, *, full: bool = False
    ) -> list[Run]:
        """Run syncs of many tenants concurrently (each tenant's pages stay sequential):
        TENANTSYNC_DEVICE_CONCURRENCY tenants at once, sharing TENANTSYNC_GRAPH_CONCURRENCY
        Graph requests in flight, so that one tenant's storage writes and parsing overlap
        the others' Graph requests. With TENANTSYNC_WORKER_PROCESSES above 1 the tenants are
        shared out between that many worker processes (each with its share of both limits),
        as the function host's worker processes would: the parsing and encoding run on
        every core, not behind one interpreter lock. The Graph limit stays one limit, shared
        by the processes.

        One tenant's failure is its own failed run; the others go on; a worker process that
        dies has the tenants it had not reported synced again in this process. Runs come
        back in the order of ``tenant_ids``.
        """
        processes = self.settings.worker_processes
        if processes <= 1 or len(tenant_ids) <= 1:
            return self._sync_here(kind, tenant_ids, trigger, full)
        shares = [share for share in (tenant_ids[i::processes] for i in range(processes))
                  if share]
        pool = self._worker_pool(processes)
        futures = [pool.submit(_sync_share, (kind, share, trigger, full)) for share in shares]
        by_tenant: dict[str, Run] = {}
        lost: list[str] = []
        for share, future in zip(shares, futures, strict=True):
            try:
                by_tenant.update((run.tenant_id, run) for run in future.result())
            except BrokenProcessPool:
                lost.extend(share)
        if lost:
            # A worker process died (killed, out of memory): the pool is unusable, and the
            # tenants it had not reported are synced again here. A run it left "running"
            # stops blocking starts once stale; an unchanged tenant writes nothing again.
            log.error("a worker process died; syncing %d tenants in this process", len(lost))
            self.close()
            by_tenant.update((run.tenant_id, run)
                             for run in self._sync_here(kind, lost, trigger, full))
        return [by_tenant[tenant_id] for tenant_id in tenant_ids]

    def _sync_here(self, kind: str, tenant_ids: list[str], trigger: str, full: bool
                   ) -> list[Run]:
        with ThreadPoolExecutor(max_workers=max(1, self.settings.device_concurrency)) as threads:
            return list(threads.map(
                lambda tenant_id: self.run_job(SyncJob(tenant_id, kind, trigger), full=full),
                tenant_ids,
            ))

    def _worker_pool(self, processes: int) -> ProcessPoolExecutor:
        """Worker processes kept for the life of this object (their token and secret caches
        stay warm between calls); each builds its own clients from these settings."""
        with _lock:
            pool = self.__dict__.get("_pool")
            if pool is None:
                share = replace(
                    self.settings, worker_processes=1,
                    device_concurrency=math.ceil(self.settings.device_concurrency / processes),
                )
                # spawn, not fork: this process has threads (HTTP pools, SDK clients) whose
                # locks a forked child could inherit held.
                context = multiprocessing.get_context("spawn")
                slots = context.BoundedSemaphore(max(1, self.settings.graph_concurrency))
                pool = ProcessPoolExecutor(processes, mp_context=context,
                                           initializer=_start_worker, initargs=(share, slots))
                self.__dict__["_pool"] = pool
            return pool

    def start_workers(self) -> None:
        """Start sync_many's worker processes now rather than at its first call (a
        long-lived host does this once; each process imports the app and builds its
        clients)."""
        processes = self.settings.worker_processes
        if processes > 1:
            list(self._worker_pool(processes).map(_warm, range(processes)))

    def close(self) -> None:
        """Stop the worker processes, if any were started."""
        pool = self.__dict__.pop("_pool", None)
        if pool is not None:
            pool.shutdown()

    def run_job(self, job: SyncJob, *, full: bool = False) -> Run:
        """Run one queued job (what the queue-triggered functions do)."""
        return self.sync_of(job.kind).run(job.tenant_id, job.trigger, run_id=job.run_id,
                                          full=full)

    def sync_of(self, kind: str) -> TenantSync:
        return self.directory_sync if kind == "directory" else self.device_sync

_services: Services | None = None
_lock = threading.Lock()
_worker: Services | None = None  # in a worker process of sync_many


def _start_worker(settings: Settings, graph_slots: Any) -> None:
    global _worker
    _worker = Services(settings, shared_graph_slots=graph_slots)


def _warm(_: int) -> None:
    assert _worker is not None, "started without _start_worker"
    _worker.tables  # noqa: B018 - builds the storage clients


def _sync_share(job: tuple[str, list[str], str, bool]) -> list[Run]:
    kind, tenant_ids, trigger, full = job
    assert _worker is not None, "started without _start_worker"
    return _worker.sync_many(kind, tenant_ids, trigger, full=full)


def get_services() -> Services:
    """The process-wide services, built from the environment on first use."""
    global _services
    with _lock:
        if _services is None:
            _services = Services(Settings.from_env())
            telemetry.configure_azure_monitor()
        return _services
