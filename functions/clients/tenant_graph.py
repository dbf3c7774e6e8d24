"""Graph clients that sign in as one app in one tenant, with the app's credential (from Key
Vault, or the function app's managed identity)."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests

from functions.clients.entra import TokenProvider, VaultCredential
from functions.clients.graph import GraphClient, RequestStats
from functions.clients.pacing import PacedSlots, SharedBudget
from functions.clients.vault import SecretStore
from functions.core import telemetry
from functions.core.config import Settings
from functions.core.model import Credential, SyncKind, SyncState


@dataclass
class TenantGraphs:
    """Builds a Graph client per run; every client of a process shares ``slots``."""

    settings: Settings
    tokens: TokenProvider
    secrets: SecretStore
    session: requests.Session
    slots: threading.Semaphore | None = None  # Graph requests in flight, per process
    # Graph's identity and access budget per app, shared with every instance (None: off).
    app_budget: SharedBudget | None = None

    def for_app(
        self, tenant_id: str, client_id: str, credential: Credential | str, scope: str, *,
        kind: SyncKind, state: SyncState, stats: RequestStats, now: datetime,
    ) -> GraphClient:
        """A Graph client with tokens at the tenant's own authority, signing in with the
        app's credential (a secret or certificate from Key Vault, or the managed identity);
        the expiry of a secret or certificate goes on ``state`` and into telemetry.

        Raises:
            SecretStoreError: the credential could not be read from Key Vault.
            InputError: the certificate in Key Vault is not a usable key and certificate.
        """
        signer = VaultCredential(self.tokens, self.secrets, tenant_id, client_id, credential,
                                 scope)
        expires_on = signer.expires_on
        if expires_on:
            state.secret_expires_on = expires_on
            telemetry.secret_expiry(tenant_id, kind, expires_on, now)
        slots: AbstractContextManager[Any] | None = self.slots
        if self.app_budget is not None and kind == SyncKind.DIRECTORY:
            # Directory reads spend the app's budget across all tenants (groups, users).
            slots = PacedSlots(self.app_budget.pacer(client_id), self.slots)
        return GraphClient.configured(self.settings, signer, self.session, stats=stats,
                                      slots=slots)
