"""Consent that heals itself: after a consent (a link, or the partner's side) Entra can take
seconds to minutes before app-only tokens carry the new roles (AADSTS700016, or a token
without ``roles``). Such a tenant is ``awaiting_consent`` (for that kind of sync): its
connection is tested again about 30 s, 1, 3, 10 and 30 minutes after, and its first sync
starts once a test passes; after an hour it is ``consent_missing`` with the fix named.

Any tenant is swept, whichever way it was consented (the onboarding slice marks a link's
tenant awaiting by the same fields, :func:`await_consent`'s)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from functions.clients.claims import token_roles
from functions.clients.entra import TokenProvider, VaultCredential
from functions.clients.vault import SecretStore
from functions.core.config import DEFAULT_GRAPH_SCOPE
from functions.core.errors import AuthenticationError, ErrorCode, SecretStoreError
from functions.core.model import Credential, Health, SyncKind, SyncState, TenantRecord
from functions.core.permissions import DEVICE_NEEDS, DIRECTORY_NEEDS, missing
from functions.storage.health import TenantHealth
from functions.storage.tenants import TenantTable

log = logging.getLogger("tenantsync.partners")

# Seconds after the consent at which the connection is tested again (the CSP Graph guide
# waits 3 minutes, then a minute more per failure; no replication SLA is documented).
BACKOFF = (30, 60, 180, 600, 1800)
GIVE_UP = timedelta(hours=1)
GAVE_UP = ("The consent was given over an hour ago, yet the inventory app still gets no "
           "token with its permissions in this tenant: check in the tenant's Enterprise "
           "applications that the app is there with its permissions granted, then consent "
           "again (tenantsync partner consent, or a consent link).")


def connection_ready(tokens: TokenProvider, secrets: SecretStore, tenant_id: str,
                     client_id: str, credential: Credential,
                     needs: tuple[str, ...] = DEVICE_NEEDS) -> bool:
    """Whether the app gets a token with every permission ``needs`` names. Each try asks
    Entra anew: a cached token lacks claims granted since (the CSP Graph guide)."""
    tokens.forget_app(tenant_id, client_id)
    vault = VaultCredential(tokens, secrets, tenant_id, client_id, credential,
                            DEFAULT_GRAPH_SCOPE)
    try:
        return not missing(needs, token_roles(vault()))
    except AuthenticationError:
        return False


def awaiting(state: SyncState, now: datetime) -> None:
    """Mark one kind of a consented tenant ``awaiting_consent`` from ``now`` (in place); the
    timer leaves it to the retries until they give up (``quarantined_until``)."""
    state.health, state.health_since = Health.AWAITING_CONSENT, now
    state.last_error_code = ErrorCode.CONSENT_PENDING
    state.last_error = ("Consented; Microsoft Entra is propagating it: the connection is "
                        "tested again shortly and the first sync starts once it passes.")
    state.consecutive_failures, state.quarantined_until = 0, now + GIVE_UP


def await_consent(health: TenantHealth, tenants: TenantTable, tenant_id: str,
                  now: datetime) -> None:
    """Mark a tenant's device side ``awaiting_consent`` from ``now``."""
    tenant = tenants.find(tenant_id)
    if tenant is not None:
        awaiting(tenant.device_state, now)
        health.replace(tenant)


def due(state: SyncState, now: datetime) -> bool:
    """Whether an awaiting kind's next test is due (``consecutive_failures``: tests made)."""
    if state.health != Health.AWAITING_CONSENT or state.health_since is None:
        return False
    tried = state.consecutive_failures
    wait = sum(BACKOFF[: tried + 1]) if tried < len(BACKOFF) else GIVE_UP.total_seconds()
    return now >= state.health_since + timedelta(seconds=wait)


@dataclass
class ConsentRetry:
    tenants: TenantTable
    health: TenantHealth  # every change of a side's health goes through it
    tokens: TokenProvider
    secrets: SecretStore
    start: Callable[[str, SyncKind], str]  # (tenant, kind) -> run id of its first sync

    def sweep(self, now: datetime) -> dict[str, str]:
        """Test every awaiting tenant that is due: "tenant/kind" -> "connected" (first sync
        queued), "waiting" or "gave_up". One tenant's failure never stops the others."""
        due_now = [(tenant, kind, conn.client_id, conn.credential, needs)
                   for tenant in self.tenants.list()
                   for kind, conn, needs in (
                       (SyncKind.DEVICES, tenant.devices, DEVICE_NEEDS),
                       (SyncKind.DIRECTORY, tenant.directory, DIRECTORY_NEEDS))
                   if conn is not None and due(tenant.state(kind), now)]

        def one(item: tuple[TenantRecord, SyncKind, str, Credential, tuple[str, ...]]
                ) -> tuple[str, str]:
            tenant, kind = item[0], item[1]
            key = f"{tenant.tenant_id}/{kind}"
            try:
                return key, self._retry(*item, now)
            except (SecretStoreError, AuthenticationError) as exc:
                log.warning("consent retry of %s failed: %s", key, exc.code)
                return key, "waiting"

        # Each test waits on Entra: many awaiting tenants are tested side by side.
        with ThreadPoolExecutor(max_workers=8) as pool:
            return dict(pool.map(one, due_now))

    def _retry(self, tenant: TenantRecord, kind: SyncKind, client_id: str,
               credential: Credential, needs: tuple[str, ...], now: datetime) -> str:
        state = tenant.state(kind)
        assert state.health_since is not None
        if connection_ready(self.tokens, self.secrets, tenant.tenant_id, client_id, credential,
                            needs):
            state.health, state.health_since = Health.UNKNOWN, now
            state.last_error_code = state.last_error = ""
            state.consecutive_failures, state.quarantined_until = 0, None
            self.health.replace(tenant)
            self.start(tenant.tenant_id, kind)
            return "connected"
        if now - state.health_since >= GIVE_UP:
            state.health, state.health_since = Health.CONSENT_MISSING, now
            state.last_error_code, state.last_error = ErrorCode.CONSENT_MISSING, GAVE_UP
            state.consecutive_failures, state.quarantined_until = 0, None
            self.health.replace(tenant)
            return "gave_up"
        state.consecutive_failures += 1
        self.health.replace(tenant)
        return "waiting"
