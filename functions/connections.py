"""The clients a deployment connects with, built once per process from :class:`Settings`:
storage (tables and queues), Key Vault, the token provider and the per-tenant Graph clients.
The composition root (:mod:`functions.services`) builds everything else on top of them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import requests
from azure.core.credentials import TokenCredential
from azure.keyvault.secrets import SecretClient

from functions.clients.entra import TokenProvider
from functions.clients.federation import ManagedIdentityAssertion
from functions.clients.identity import BareAdapter, TrustingSession, azure_credential
from functions.clients.pacing import SharedBudget
from functions.clients.retry import RetryPolicy
from functions.clients.tenant_graph import TenantGraphs
from functions.clients.vault import SecretStore
from functions.core.config import Settings
from functions.core.errors import ConfigurationError
from functions.core.kinds import KINDS
from functions.core.model import SyncKind, utcnow
from functions.storage.budgets import BudgetTable
from functions.storage.queues import JobQueue
from functions.storage.tables import TableStore


@dataclass
class Connections:
    settings: Settings
    # Set in a LocalRunner's worker processes: one limit on Graph requests for all of them.
    shared_graph_slots: Any = None
    # What the sync engine's parts take as now (the starter, engine, ledger, schedule,
    # guard, health and outbox): the wall clock, or a test's clock that it moves on.
    clock: Callable[[], datetime] = utcnow

    # --- clients ---------------------------------------------------------------------

    @cached_property
    def credential(self) -> TokenCredential:
        return azure_credential(self.settings)

    @cached_property
    def session(self) -> requests.Session:
        session = TrustingSession(self.settings.verify)
        adapter = BareAdapter(pool_connections=16, pool_maxsize=32)
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
    def queues(self) -> dict[SyncKind, JobQueue]:
        """The job queue of each kind of sync."""
        return {kind.name: self._queue(kind.queue(self.settings)) for kind in KINDS}

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
        s = self.settings
        return TokenProvider(
            s.authority_host, self.session, instance_discovery=s.instance_discovery,
            retry=RetryPolicy(s.graph_max_retries, s.graph_max_retry_wait),
            federation=ManagedIdentityAssertion(s.managed_identity_client_id),
        )

    @cached_property
    def graph_slots(self) -> threading.Semaphore:
        """At most TENANTSYNC_GRAPH_CONCURRENCY Graph requests in flight in this process (or
        in all of a LocalRunner's worker processes together)."""
        if self.shared_graph_slots is not None:
            return self.shared_graph_slots
        return threading.BoundedSemaphore(max(1, self.settings.graph_concurrency))

    @cached_property
    def graphs(self) -> TenantGraphs:
        s = self.settings
        budget = None
        if s.graph_app_budget > 0:
            budget = SharedBudget(BudgetTable(self.tables), s.graph_app_budget,
                                  s.graph_app_window_seconds, prefix="graph-directory-")
        return TenantGraphs(s, self.tokens, self.secrets, self.session, self.graph_slots,
                            app_budget=budget)
