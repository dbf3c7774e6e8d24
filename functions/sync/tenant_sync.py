"""What a sync of one tenant needs, whatever it syncs (directory or devices)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

import requests

from functions.clients.entra import TokenProvider, VaultCredential
from functions.clients.graph import GraphClient, RequestStats
from functions.clients.vault import SecretStore
from functions.core import telemetry
from functions.core.config import Settings
from functions.core.model import Run, SyncState, utcnow
from functions.storage.tenants import TenantTable
from functions.sync.ledger import RunLedger


@dataclass
class TenantSync:
    """The collaborators both syncs share; each subclass adds its own tables (as a
    keyword-only field) and its ``kind``. Every collaborator is injected, so tests use the
    real ones."""

    kind: ClassVar[str]

    settings: Settings
    tenants: TenantTable
    ledger: RunLedger
    secrets: SecretStore
    tokens: TokenProvider
    session: requests.Session
    clock: Callable[[], datetime] = utcnow
    graph_slots: threading.Semaphore | None = None  # Graph requests in flight, per process

    def run(
        self, tenant_id: str, trigger: str, *, run_id: str | None = None, full: bool = False
    ) -> Run:
        """Sync one tenant and return its recorded run (each subclass does its kind)."""
        raise NotImplementedError

    def queue_run(self, tenant_id: str, trigger: str, run_id: str | None = None) -> Run:
        """Record a run as queued (for a sync started now and run by the queue function)."""
        return self.ledger.queue(tenant_id, self.kind, trigger, run_id)

    def graph_for(
        self, tenant_id: str, client_id: str, secret_name: str, scope: str, *,
        state: SyncState, run: Run, stats: RequestStats,
    ) -> GraphClient:
        """A Graph client with tokens at the tenant's own authority, from the app's secret
        in Key Vault; the secret's expiry goes on ``state`` and into telemetry."""
        credential = VaultCredential(self.tokens, self.secrets, tenant_id, client_id,
                                     secret_name, scope)
        expires_on = credential.secret.expires_on
        if expires_on:
            state.secret_expires_on = expires_on
            telemetry.secret_expiry(tenant_id, self.kind, expires_on, run.started_at)
        return GraphClient.configured(self.settings, credential, self.session, stats=stats,
                                      slots=self.graph_slots)
