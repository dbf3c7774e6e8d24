"""One-click onboarding: admin-consent links to the deployment's multitenant apps (or a
partner's inventory app), and the callback that tests the connection, stores the tenant and
starts its first sync."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urlencode

from functions.clients.claims import token_roles
from functions.clients.credentials import Credentials
from functions.core.config import DEFAULT_GRAPH_SCOPE, Settings
from functions.core.errors import (
    ConfigurationError,
    ConflictError,
    ErrorCode,
    InputError,
    TenantError,
    TenantSyncError,
)
from functions.core.model import (
    ConsentRequest,
    Credential,
    DeviceConnection,
    Health,
    SyncKind,
    TenantRecord,
    utcnow,
)
from functions.core.validation import guid
from functions.onboarding.checks import ConnectionCheck, ConnectionTest
from functions.onboarding.consent_state import StateSigner, callback_parameters
from functions.onboarding.directory import Onboarding
from functions.partners.consent_retry import awaiting
from functions.storage.consents import ConsentTable
from functions.storage.health import TenantHealth
from functions.storage.partners import PartnerTable
from functions.storage.tenants import TenantTable

log = logging.getLogger("tenantsync.consent")

# Where Entra sends the admin back: the API's anonymous callback (the Functions host serves
# HTTP functions under /api). It must be a redirect URI registered on each app.
CALLBACK_PATH = "/api/consent/callback"
# Healths of a partner's customer that an admin's (new) consent fixes: the app is not
# installed in the tenant, or was consented before it asked for all its permissions.
NEEDS_CONSENT = (Health.CONSENT_MISSING, Health.PERMISSION_MISSING)
# What a connection test says while a consent Entra just confirmed is still propagating.
PROPAGATING = frozenset({ErrorCode.APP_NOT_FOUND, ErrorCode.CONSENT_MISSING,
                         ErrorCode.PERMISSION_MISSING})


@dataclass(frozen=True)
class ConsentLink:
    consent: ConsentRequest
    url: str


@dataclass(frozen=True)
class ConsentResult:
    """A completed consent: the tenant connected, and its first run (none while a
    directory connection awaits its level-0 group)."""

    kind: SyncKind
    tenant_id: str
    tenant_name: str
    group_name: str
    run_id: str
    awaiting_group: bool
    consent_id: str = ""  # the link it used (GET /api/consents/{consentId})
    awaiting_consent: bool = False  # Entra still propagates the consent: tested again soon


class ConsentRefused(TenantSyncError):
    """Entra sent the admin back with an error instead of a consent."""


@dataclass
class ConsentFlow:
    settings: Settings
    consents: ConsentTable
    tenants: TenantTable
    health: TenantHealth  # every change of a side's health goes through it
    partners: PartnerTable
    credentials: Credentials
    test: ConnectionTest
    onboarding: Onboarding
    signer: StateSigner
    start: Callable[[str, SyncKind], str]  # (tenant, kind) -> run id, through SyncStarter
    clock: Callable[[], datetime] = utcnow

    # --- links ---------------------------------------------------------------------------

    def create(self, kind: SyncKind, *, tenant_id: str | None = None, group_id: str | None = None,
               partner_tenant_id: str | None = None) -> ConsentLink:
        """A new admin-consent link for ``kind`` (directory or devices): for one tenant, or
        for whichever tenant's admin opens it; with the level-0 group (directory); for a
        partner's customer (devices, the partner's inventory app).

        Raises:
            InputError: a malformed GUID, a group with devices, a partner with directory.
            NotFoundError: ``unknown_partner``.
            ConfigurationError: the deployment's app or public address is not set.
            SecretStoreError / StorageError: the vault or the table failed.
        """
        if kind not in (SyncKind.DIRECTORY, SyncKind.DEVICES):
            raise InputError("kind must be directory or devices", code="invalid_request")
        if group_id and kind != SyncKind.DIRECTORY:
            raise InputError("a level-0 group is for a directory link only",
                             code="invalid_request")
        if partner_tenant_id and kind != SyncKind.DEVICES:
            raise InputError("a partner is for a devices link only", code="invalid_request")
        tenant = guid(tenant_id, "tenant ID") if tenant_id else ""
        group = guid(group_id, "group ID") if group_id else ""
        partner = guid(partner_tenant_id, "partner tenant ID") if partner_tenant_id else ""
        client_id, _ = self._app(kind, partner)
        redirect = self.settings.require_public_url() + CALLBACK_PATH
        now = self.clock()
        consent = ConsentRequest(
            consent_id=os.urandom(16).hex(), kind=kind, client_id=client_id, created_at=now,
            expires_at=now + timedelta(hours=self.settings.consent_link_hours),
            tenant_id=tenant, group_id=group, partner_tenant_id=partner)
        state = self.signer.sign(consent.consent_id, consent.expires_at)
        self.consents.create(consent)
        # v2.0 admin consent: /{tenant|organizations}/v2.0/adminconsent with client_id,
        # scope (the app's static permissions: /.default), redirect_uri and state.
        query = urlencode({"client_id": client_id, "scope": DEFAULT_GRAPH_SCOPE,
                           "redirect_uri": redirect, "state": state})
        url = f"{self.settings.authority_host}/{tenant or 'organizations'}/v2.0/adminconsent"
        return ConsentLink(consent, f"{url}?{query}")

    def partner_links(self, partner_tenant_id: str
                      ) -> list[tuple[TenantRecord, ConsentLink | None]]:
        """Every customer of a partner that is synced (active, not excluded or unsupported),
        each with a new tenant-specific link when its health says an admin must consent.

        Raises:
            NotFoundError: ``unknown_partner``. and what :meth:`create` raises.
        """
        partner = self.partners.get(guid(partner_tenant_id, "partner tenant ID"))
        listed: list[tuple[TenantRecord, ConsentLink | None]] = []
        for tenant in self.tenants.list():
            d = tenant.devices
            if (d is None or d.partner_tenant_id != partner.partner_tenant_id or not d.active
                    or d.excluded or d.unsupported_reason):
                continue
            link = None
            if tenant.device_state.health in NEEDS_CONSENT:
                link = self.create(SyncKind.DEVICES, tenant_id=tenant.tenant_id,
                                   partner_tenant_id=partner.partner_tenant_id)
            listed.append((tenant, link))
        return listed

    def _app(self, kind: SyncKind, partner_tenant_id: str) -> tuple[str, Credential]:
        if kind == SyncKind.DEVICES and partner_tenant_id:
            partner = self.partners.get(partner_tenant_id)
            return partner.inventory_client_id, partner.inventory_credential
        app, setting = ((self.settings.directory_app, "TENANTSYNC_DIRECTORY_APP_ID")
                        if kind == SyncKind.DIRECTORY
                        else (self.settings.inventory_app, "TENANTSYNC_INVENTORY_APP_ID"))
        if app.client_id is None:
            raise ConfigurationError(
                f"No {kind} app of the deployment: set {setting} to its Application (client) "
                "ID (an output of infra/app-registrations.bicep)")
        return app.client_id, app.credential

    # --- the callback --------------------------------------------------------------------

    def complete(self, raw_query: str) -> ConsentResult:
        """Handle Entra's redirect after an admin answered a consent link.

        Nothing is written unless the consent, the state and the connection test are all
        good; then the link is used up, the tenant stored and its first sync started.

        Raises:
            InputError: ``invalid_request`` (parameters), ``invalid_consent_state``,
            ``consent_link_expired``.
            ConflictError: ``consent_link_used``, ``consent_tenant_mismatch``.
            ConsentRefused: ``consent_denied`` / ``consent_failed`` (Entra's error).
            AuthenticationError / TenantError: the connection test failed.
            ConfigurationError, SecretStoreError, StorageError: the deployment failed.
        """
        params = callback_parameters(raw_query)
        if not params.get("state"):
            raise InputError("This page was not opened from a consent link of this service "
                             "(it has no state): ask your provider for a new link.",
                             code=ErrorCode.INVALID_CONSENT_STATE)
        now = self.clock()
        consent_id = self.signer.verify(params["state"], now)
        found = self.consents.find(consent_id)
        if found is None:
            raise InputError("This consent link is not known here: ask your provider for a "
                             "new link.", code=ErrorCode.INVALID_CONSENT_STATE)
        consent, etag = found
        if consent.used_at is not None:
            raise ConflictError("This consent link was used already: the tenant is connected. "
                                "To connect another tenant, ask for a new link.",
                                code=ErrorCode.CONSENT_LINK_USED)
        if "error" in params:
            raise _refusal(params["error"], params.get("error_description", ""))
        tenant_id = params.get("tenant", "").lower()
        if params.get("admin_consent", "").lower() != "true" or not tenant_id:
            raise InputError("Entra's answer did not say that an administrator consented: "
                             "open the consent link again.", code=ErrorCode.INVALID_REQUEST)
        if consent.tenant_id and consent.tenant_id != tenant_id:
            raise ConflictError(
                f"This link was made for tenant {consent.tenant_id}, but an administrator of "
                f"tenant {tenant_id} consented: ask your provider for a link for your tenant.",
                code=ErrorCode.CONSENT_TENANT_MISMATCH)
        client_id, credential = self._app(consent.kind, consent.partner_tenant_id)
        if client_id != consent.client_id:
            raise InputError("The app this link was made for is no longer the one in use: "
                             "ask your provider for a new link.",
                             code=ErrorCode.CONSENT_LINK_EXPIRED)
        material, expires = self.credentials.material_of(credential)
        existing = self.tenants.find(tenant_id)
        group = consent.group_id or (existing.directory.group_id
                                     if existing and existing.directory else "")
        try:
            if consent.kind == SyncKind.DIRECTORY:
                check = self.test.directory(tenant_id, client_id, material, group)
            else:
                check = self.test.devices(tenant_id, client_id, material)
            pending = False
        except TenantError as exc:
            # Entra said the admin consented: a refusal now is its propagation delay
            # (AADSTS700016, a token without the roles), followed up by consent_retry.
            if exc.code not in PROPAGATING or (consent.kind == SyncKind.DIRECTORY
                                               and not group):
                raise
            # Consent grants every role at once: a token with some of them means the app
            # does not ask for the others (named now), not that Entra is still at it.
            if exc.code == ErrorCode.PERMISSION_MISSING and token_roles(self.test.tokens.token(
                    tenant_id, client_id, material, DEFAULT_GRAPH_SCOPE)):
                raise
            check, pending = ConnectionCheck(), True
        consent.used_at, consent.consented_tenant_id = now, tenant_id
        if not self.consents.use(consent, etag):
            raise ConflictError("This consent link was used already: the tenant is connected.",
                                code=ErrorCode.CONSENT_LINK_USED)
        if consent.kind == SyncKind.DIRECTORY:
            tenant = self._store_directory(tenant_id, client_id, credential, expires, group,
                                           check, now)
        else:
            tenant = self._store_devices(consent, existing, tenant_id, client_id, credential,
                                         expires, check, now)
        if pending:
            awaiting(tenant.state(consent.kind), now)
            self.health.replace(tenant)
        run_id = "" if pending or (consent.kind == SyncKind.DIRECTORY and not group) else \
            self._first_sync(tenant_id, consent.kind)
        consent.run_id = run_id
        self.consents.save(consent)
        log.info("tenant %s connected by admin consent (%s)", tenant_id, consent.kind,
                 extra={"tenant_id": tenant_id, "run_id": run_id})
        return ConsentResult(consent.kind, tenant_id, check.organization or tenant.organization,
                             check.group_name, run_id, consent.kind == SyncKind.DIRECTORY
                             and not group, consent.consent_id, awaiting_consent=pending)

    def _store_directory(self, tenant_id: str, client_id: str, credential: Credential,
                         expires: datetime | None, group: str, check: ConnectionCheck,
                         now: datetime) -> TenantRecord:
        tenant = self.onboarding.store_directory(
            tenant_id, client_id, group, DEFAULT_GRAPH_SCOPE, credential, expires,
            check.group_name or check.organization)
        if check.organization and check.organization != tenant.organization:
            tenant.organization = check.organization
            self.health.replace(tenant)
        if not group:
            tenant.directory_state.health, tenant.directory_state.health_since = (
                Health.AWAITING_GROUP, now)
            self.health.replace(tenant)
        return tenant

    def _store_devices(self, consent: ConsentRequest, existing: TenantRecord | None,
                       tenant_id: str, client_id: str, credential: Credential,
                       expires: datetime | None, check: ConnectionCheck,
                       now: datetime) -> TenantRecord:
        tenant = existing or TenantRecord(tenant_id=tenant_id, created_at=now)
        wanted = DeviceConnection(tenant_id, consent.partner_tenant_id, client_id,
                                  credential.key_vault_name, credential_type=credential.type)
        if tenant.devices is not None and tenant.devices.partner_tenant_id == \
                consent.partner_tenant_id:
            wanted = replace(tenant.devices, client_id=client_id,
                             secret_name=credential.key_vault_name,
                             credential_type=credential.type, active=True)
        tenant.devices = wanted
        tenant.organization = check.organization or tenant.organization
        tenant.display_name = tenant.display_name or check.organization
        # Consented: the earlier failure is over; the first sync says how it goes now.
        state = tenant.device_state
        state.health, state.health_since = Health.UNKNOWN, now
        state.last_error_code = state.last_error = ""
        state.consecutive_failures, state.quarantined_until = 0, None
        state.secret_expires_on = expires
        self.health.replace(tenant)
        return tenant

    def _first_sync(self, tenant_id: str, kind: SyncKind) -> str:
        try:
            return self.start(tenant_id, kind)
        except ConflictError as exc:  # one is queued or running already: that one it is
            return exc.run_id or ""


_TRANSIENT = ("server_error", "temporarily_unavailable")
_AGAIN = "open the link again"
# Entra's errors at the admin-consent redirect (RFC 6749 4.1.2.1 and Entra's v2.0 docs), each
# with what happened and what to do.
_REFUSALS: dict[str, str] = {
    "consent_required": (
        "The administrator did not grant the consent{cited}, so nothing was connected. Only "
        "a Global Administrator or Privileged Role Administrator of your tenant may grant it: "
        "sign in as one, " + _AGAIN + " and select Accept."),
    "invalid_scope": (
        "Microsoft Entra refused the permissions the link asks for{cited}: the link was "
        "changed or the app's registration is incomplete; ask your provider for a new link."),
    "unauthorized_client": (
        "Microsoft Entra does not allow this app to ask for consent{cited}: the app may be "
        "disabled or blocked in your tenant; check Enterprise applications, then "
        + _AGAIN + "."),
    "invalid_client": (
        "Microsoft Entra does not know the app of this link{cited}: ask your provider for a "
        "new link."),
    "interaction_required": (
        "Microsoft Entra needs you to sign in again (for example with multi-factor "
        "authentication){cited}: " + _AGAIN + "."),
    "login_required": ("Microsoft Entra needs you to sign in{cited}: " + _AGAIN + "."),
}


def _refusal(error: str, description: str) -> ConsentRefused:
    # Only Entra's code (digits) is quoted: the description itself is never shown.
    found = re.search(r"AADSTS[0-9]{1,9}", description)
    code = found.group(0) if found else ""
    cited = f" ({error}{', ' + code if code else ''})"
    if error == "access_denied":
        # A cancel on the admin-consent page comes back as access_denied, AADSTS65004 and
        # no `tenant` (azure-docs #114009); MSAL's error_subcode=cancel says the same.
        return ConsentRefused(
            "The consent was cancelled" + cited + ", so nothing was connected and nothing "
            "changed in your tenant. To connect, " + _AGAIN + " and select Accept.",
            code=ErrorCode.CONSENT_DENIED)
    if error in _TRANSIENT:
        return ConsentRefused("Microsoft Entra could not complete the consent just now"
                              + cited + ": " + _AGAIN + " in a few minutes.",
                              code=ErrorCode.CONSENT_FAILED)
    if error in _REFUSALS:
        return ConsentRefused(_REFUSALS[error].format(cited=cited),
                              code=ErrorCode.CONSENT_DENIED if error == "consent_required"
                              else ErrorCode.CONSENT_FAILED)
    return ConsentRefused("Microsoft Entra refused the consent request" + cited + ": the "
                          "link may have been changed or the app's registration is "
                          "incomplete; ask your provider for a new link.",
                          code=ErrorCode.CONSENT_FAILED)
