"""Consent that heals itself: after a consent (a link, or the partner's side) Entra can take
seconds to minutes before app-only tokens carry the new roles (AADSTS700016, or a token
without ``roles``). Such a tenant is ``awaiting_consent``: its connection is tested again
about 30 s, 1, 3, 10 and 30 minutes after, and its first sync starts once a test passes;
after an hour it is ``consent_missing`` with the fix named."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from functions.clients.claims import token_roles
from functions.clients.entra import TokenProvider, VaultCredential
from functions.clients.vault import SecretStore
from functions.core.config import DEFAULT_GRAPH_SCOPE
from functions.core.errors import AuthenticationError, ErrorCode, SecretStoreError
from functions.core.model import Health, PartnerConnection, TenantRecord
from functions.core.permissions import DEVICE_NEEDS, missing
from functions.storage.partners import PartnerTable
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


def connection_ready(tokens: TokenProvider, secrets: SecretStore, partner: PartnerConnection,
                     tenant_id: str) -> bool:
    """Whether the inventory app gets a token with every permission the device sync needs.
    Each try asks Entra anew: a cached token lacks claims granted since (the CSP guide)."""
    tokens.forget_app(tenant_id, partner.inventory_client_id)
    credential = VaultCredential(tokens, secrets, tenant_id, partner.inventory_client_id,
                                 partner.inventory_credential, DEFAULT_GRAPH_SCOPE)
    try:
        return not missing(DEVICE_NEEDS, token_roles(credential()))
    except AuthenticationError:
        return False


def await_consent(tenants: TenantTable, tenant_id: str, now: datetime) -> None:
    """Mark a consented tenant ``awaiting_consent`` from ``now``; the timer leaves it to
    the retries until they give up (``quarantined_until``)."""
    tenant = tenants.find(tenant_id)
    if tenant is None:
        return
    state = tenant.device_state
    state.health, state.health_since = Health.AWAITING_CONSENT, now
    state.last_error_code = ErrorCode.CONSENT_PENDING
    state.last_error = ("Consented; Microsoft Entra is propagating it: the connection is "
                        "tested again shortly and the first sync starts once it passes.")
    state.consecutive_failures, state.quarantined_until = 0, now + GIVE_UP
    tenants.save(tenant)


def due(tenant: TenantRecord, now: datetime) -> bool:
    """Whether an awaiting tenant's next test is due (``consecutive_failures``: tests made)."""
    state = tenant.device_state
    if state.health != Health.AWAITING_CONSENT or state.health_since is None:
        return False
    tried = state.consecutive_failures
    wait = sum(BACKOFF[: tried + 1]) if tried < len(BACKOFF) else GIVE_UP.total_seconds()
    return now >= state.health_since + timedelta(seconds=wait)


@dataclass
class ConsentRetry:
    tenants: TenantTable
    partners: PartnerTable
    tokens: TokenProvider
    secrets: SecretStore
    start: Callable[[str], str]  # tenant -> run id of its first device sync

    def sweep(self, now: datetime) -> dict[str, str]:
        """Test every awaiting tenant that is due: tenant -> "connected" (first sync
        queued), "waiting" or "gave_up". One tenant's failure never stops the others."""
        outcomes: dict[str, str] = {}
        for tenant in self.tenants.list():
            if not due(tenant, now) or tenant.devices is None:
                continue
            try:
                outcomes[tenant.tenant_id] = self._retry(tenant, now)
            except (SecretStoreError, AuthenticationError) as exc:
                log.warning("consent retry of %s failed: %s", tenant.tenant_id, exc.code)
                outcomes[tenant.tenant_id] = "waiting"
        return outcomes

    def _retry(self, tenant: TenantRecord, now: datetime) -> str:
        assert tenant.devices is not None
        partner = self.partners.get(tenant.devices.partner_tenant_id)
        state = tenant.device_state
        assert state.health_since is not None
        if connection_ready(self.tokens, self.secrets, partner, tenant.tenant_id):
            state.health, state.health_since = Health.UNKNOWN, now
            state.last_error_code = state.last_error = ""
            state.consecutive_failures, state.quarantined_until = 0, None
            self.tenants.save(tenant)
            self.start(tenant.tenant_id)
            return "connected"
        if now - state.health_since >= GIVE_UP:
            state.health, state.health_since = Health.CONSENT_MISSING, now
            state.last_error_code, state.last_error = ErrorCode.CONSENT_MISSING, GAVE_UP
            state.consecutive_failures, state.quarantined_until = 0, None
            self.tenants.save(tenant)
            return "gave_up"
        state.consecutive_failures += 1
        self.tenants.save(tenant)
        return "waiting"
