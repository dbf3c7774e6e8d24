"""Partner connections and the discovery of their customer tenants."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from copy import deepcopy
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import requests

from functions.clients.credentials import CredentialInput, Credentials, as_input
from functions.clients.entra import TokenProvider, VaultCredential
from functions.clients.graph import GraphClient
from functions.clients.vault import SecretStore
from functions.core.config import DEFAULT_GRAPH_SCOPE, Settings
from functions.core.errors import AuthenticationError, GraphError, InputError, TenantError
from functions.core.model import (
    CUSTOMER_SOURCES,
    DeviceConnection,
    Health,
    PartnerConnection,
    TenantRecord,
    utcnow,
)
from functions.core.sensitive import SecretValue
from functions.core.validation import guid
from functions.storage.health import TenantHealth, move
from functions.storage.partners import PartnerTable
from functions.storage.tenants import TenantTable

log = logging.getLogger("tenantsync.partners")

PARTNER_CENTER_SCOPE = "https://api.partnercenter.microsoft.com/.default"
GDAP_PAGE_SIZE = "300"  # delegatedAdminRelationships: $top at most 300
PARTNER_CENTER_PAGE_SIZE = "500"  # Partner Center customers: size at most 500
UNSUPPORTED_RESELLER = (
    "This customer has no direct relationship with the partner (bought through an indirect "
    "or unmanaged reseller): its devices cannot be read. Manage it through a direct or GDAP "
    "relationship to include it."
)


@dataclass(frozen=True)
class Customer:
    tenant_id: str
    name: str
    unsupported_reason: str = ""


@dataclass
class Discovery:
    """What one discovery found and did."""

    partner_tenant_id: str
    found: list[Customer] = field(default_factory=list)
    new: list[str] = field(default_factory=list)  # tenants to sync at once (a full first sync)
    reactivated: list[str] = field(default_factory=list)
    inactive: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)


def partner_secret_name(partner_tenant_id: str) -> str:
    return f"partner-{partner_tenant_id}-partner-app"


def inventory_secret_name(partner_tenant_id: str) -> str:
    return f"partner-{partner_tenant_id}-inventory-app"


@dataclass
class Partners:
    settings: Settings
    partners: PartnerTable
    tenants: TenantTable
    secrets: SecretStore
    tokens: TokenProvider
    session: requests.Session
    credentials: Credentials
    health: TenantHealth  # every change of a customer's device health goes through it
    clock: Callable[[], datetime] = utcnow
    # Called after each discovery (the partner-side consent of partners that opted in).
    after_discovery: Callable[[Discovery], object] | None = None

    def add(
        self, partner_tenant_id: str, partner_client_id: str,
        partner_secret: SecretValue | CredentialInput, inventory_client_id: str,
        inventory_secret: SecretValue | CredentialInput, *, source: str,
        customers: list[str] | None = None, include_partner_tenant: bool = False,
        excluded: list[str] | None = None, partner_secret_expires_on: datetime | None = None,
        inventory_secret_expires_on: datetime | None = None,
    ) -> PartnerConnection:
        """Save a partner connection after checking that both apps get tokens.

        Each app signs in with a client secret, a certificate or the managed identity
        (a bare secret is a secret expiring on its ``*_secret_expires_on``).

        Raises:
            InputError: malformed input. AuthenticationError: an app's credentials fail
            (nothing is stored then).
        """
        pid = guid(partner_tenant_id, "partner tenant ID")
        if source not in CUSTOMER_SOURCES:
            raise InputError(f"source must be one of {', '.join(CUSTOMER_SOURCES)}",
                             code="invalid_source")
        typed = tuple(guid(c, "customer tenant ID") for c in customers or [])
        if source == "list" and not typed and not include_partner_tenant:
            raise InputError("source 'list' needs at least one customer tenant ID",
                             code="customers_required")
        partner_given, inventory_given = (
            _checked(as_input(given, expires_on), what) for given, expires_on, what in (
                (partner_secret, partner_secret_expires_on, "the partner app"),
                (inventory_secret, inventory_secret_expires_on, "the inventory app")))
        connection = PartnerConnection(
            partner_tenant_id=pid,
            partner_client_id=guid(partner_client_id, "partner app client ID"),
            partner_secret_name=partner_secret_name(pid),
            inventory_client_id=guid(inventory_client_id, "inventory app client ID"),
            inventory_secret_name=inventory_secret_name(pid),
            source=source, customers=typed, include_partner_tenant=include_partner_tenant,
            excluded=tuple(guid(x, "excluded tenant ID") for x in excluded or []),
            created_at=self.clock(),
        )
        partner_ready = self.credentials.prepare(partner_given, what="the partner app's "
                                                                    "certificate")
        inventory_ready = self.credentials.prepare(inventory_given, what="the inventory "
                                                                        "app's certificate")
        # Connection test: both apps must get a token in the partner tenant.
        scope = PARTNER_CENTER_SCOPE if source == "partner-center" else DEFAULT_GRAPH_SCOPE
        with _which_app("partner", pid, connection.partner_client_id):
            self.tokens.token(pid, connection.partner_client_id, partner_ready.material, scope)
        with _which_app("inventory", pid, connection.inventory_client_id):
            self.tokens.token(pid, connection.inventory_client_id, inventory_ready.material,
                              DEFAULT_GRAPH_SCOPE)
        partner_saved = self.credentials.save(partner_ready, partner_secret_name(pid))
        inventory_saved = self.credentials.save(inventory_ready, inventory_secret_name(pid))
        connection = replace(
            connection, partner_secret_name=partner_saved.key_vault_name,
            partner_credential_type=partner_saved.type,
            inventory_secret_name=inventory_saved.key_vault_name,
            inventory_credential_type=inventory_saved.type)
        existing = self.partners.find(pid)
        if existing is not None:
            connection = replace(connection, created_at=existing.created_at)
        self.partners.save(connection)
        return connection

    def customers_of(self, partner_tenant_id: str) -> list[TenantRecord]:
        """The tenants whose device connection goes through this partner (any state)."""
        return [t for t in self.tenants.list()
                if t.devices is not None and t.devices.partner_tenant_id == partner_tenant_id]

    def remove(self, partner_tenant_id: str) -> PartnerConnection:
        """Remove a partner connection: its customers become inactive (their devices and
        software are kept, as when a relationship ends), then its two secrets are
        soft-deleted in Key Vault and its row goes.

        Saving the connection again brings the customers back (reactivated at discovery).
        Each step can be repeated, so a failure part-way leaves a partner to remove again.

        Raises:
            NotFoundError: ``unknown_partner``.
            SecretStoreError / StorageError: the vault or the tables failed.
        """
        partner = self.partners.get(guid(partner_tenant_id, "partner tenant ID"))
        for tenant in self.customers_of(partner.partner_tenant_id):
            assert tenant.devices is not None
            if tenant.devices.active:
                before = deepcopy(tenant)
                tenant.devices = replace(tenant.devices, active=False)
                move(tenant.device_state, Health.INACTIVE, self.clock())
                self.health.save(tenant, before)
        for name in (partner.partner_secret_name, partner.inventory_secret_name):
            if name:  # a federated credential keeps nothing in Key Vault
                self.secrets.delete(name)
        self.partners.delete(partner.partner_tenant_id)
        return partner

    def discover(self, partner_tenant_id: str) -> Discovery:
        """List the partner's customers and bring the tenant records in line.

        New customers get a device connection (and are returned in ``new`` for a first
        sync at once); customers no longer listed become inactive, never deleted; excluded
        ones are recorded as excluded and never queried.

        Raises:
            NotFoundError: no such partner. TenantError: the customer listing failed (no
            tenant is marked inactive then).
        """
        partner = self.partners.get(guid(partner_tenant_id, "partner tenant ID"))
        result = Discovery(partner.partner_tenant_id)
        result.found = list(self._customers(partner))
        listed = {c.tenant_id: c for c in result.found}
        excluded = set(partner.excluded)
        for customer in result.found:
            self._upsert(partner, customer, excluded, result)
        for tenant in self.tenants.list():
            d = tenant.devices
            if (d is not None and d.partner_tenant_id == partner.partner_tenant_id
                    and tenant.tenant_id not in listed and d.active):
                before = deepcopy(tenant)
                tenant.devices = replace(d, active=False)
                move(tenant.device_state, Health.INACTIVE, self.clock())
                self.health.save(tenant, before)
                result.inactive.append(tenant.tenant_id)
        if self.after_discovery is not None:
            self.after_discovery(result)
        return result

    def _upsert(self, partner: PartnerConnection, customer: Customer, excluded: set[str],
                result: Discovery) -> None:
        tenant = self.tenants.find(customer.tenant_id)
        before = deepcopy(tenant) if tenant is not None else None
        wanted = DeviceConnection(
            tenant_id=customer.tenant_id, partner_tenant_id=partner.partner_tenant_id,
            client_id=partner.inventory_client_id, secret_name=partner.inventory_secret_name,
            active=True, excluded=customer.tenant_id in excluded,
            unsupported_reason=customer.unsupported_reason,
            credential_type=partner.inventory_credential_type,
        )
        if wanted.excluded:
            result.excluded.append(customer.tenant_id)
        elif wanted.unsupported_reason:
            result.unsupported.append(customer.tenant_id)
        if tenant is None:
            tenant = TenantRecord(tenant_id=customer.tenant_id, display_name=customer.name,
                                  created_at=self.clock())
        if tenant.devices == wanted:
            return
        first = tenant.devices is None
        if tenant.devices is not None and not tenant.devices.active:
            result.reactivated.append(customer.tenant_id)
        tenant.devices = wanted
        standing = (Health.EXCLUDED if wanted.excluded
                    else Health.UNSUPPORTED if wanted.unsupported_reason else None)
        if standing is not None:
            move(tenant.device_state, standing, self.clock())
            tenant.device_state.last_error = wanted.unsupported_reason
        elif tenant.device_state.health in (Health.EXCLUDED, Health.INACTIVE,
                                             Health.UNSUPPORTED):
            move(tenant.device_state, Health.UNKNOWN, self.clock())
        if not tenant.display_name:
            tenant.display_name = customer.name
        self.health.save(tenant, before)
        if first and standing is None:
            result.new.append(customer.tenant_id)

    # --- the three sources ---------------------------------------------------------------

    def _customers(self, partner: PartnerConnection) -> Iterator[Customer]:
        seen: set[str] = set()
        if partner.include_partner_tenant:
            seen.add(partner.partner_tenant_id)
            yield Customer(partner.partner_tenant_id, "Partner tenant")
        if partner.source == "list":
            found: Iterator[Customer] = (Customer(t, "") for t in partner.customers)
        elif partner.source == "gdap":
            found = self._gdap(partner)
        else:
            found = self._partner_center(partner)
        for customer in found:
            if customer.tenant_id not in seen:
                seen.add(customer.tenant_id)
                yield customer

    def _partner_graph(self, partner: PartnerConnection, scope: str, base: str) -> GraphClient:
        credential = VaultCredential(self.tokens, self.secrets, partner.partner_tenant_id,
                                     partner.partner_client_id, partner.partner_credential,
                                     scope)
        return GraphClient.configured(self.settings, credential, self.session, base_url=base)

    def _gdap(self, partner: PartnerConnection) -> Iterator[Customer]:
        """Customers with an active GDAP relationship (delegatedAdminRelationships)."""
        graph = self._partner_graph(partner, DEFAULT_GRAPH_SCOPE, self.settings.graph_url)
        try:
            pages = list(graph.pages("/tenantRelationships/delegatedAdminRelationships",
                                     {"$filter": "status eq 'active'",
                                      "$top": GDAP_PAGE_SIZE}))
        except GraphError as exc:
            raise _listing_error(exc, "GDAP relationships",
                                 "DelegatedAdminRelationship.Read.All") from None
        for page in pages:
            for rel in page:
                customer = rel.get("customer") or {}
                tenant_id = str(customer.get("tenantId") or "").lower()
                if tenant_id:
                    yield Customer(tenant_id, str(customer.get("displayName") or ""))

    def _partner_center(self, partner: PartnerConnection) -> Iterator[Customer]:
        """Customers from the Partner Center customers API, following its continuation."""
        graph = self._partner_graph(partner, PARTNER_CENTER_SCOPE,
                                    self.settings.partner_center_url)
        items: list[dict[str, Any]] = []
        try:
            # Partner Center pages with a seek uri plus the MS-ContinuationToken header; the
            # client's base URL names Partner Center's host, the only one its token goes to.
            for page in graph.seek_pages("/v1/customers", {"size": PARTNER_CENTER_PAGE_SIZE}):
                items.extend(page)
        except GraphError as exc:
            raise _listing_error(exc, "Partner Center customers",
                                 "Partner Center API access (App management)") from None
        for item in items:
            profile = item.get("companyProfile") or {}
            tenant_id = str(profile.get("tenantId") or item.get("id") or "").lower()
            relationship = str(item.get("relationshipToPartner") or "").lower()
            yield Customer(tenant_id, str(profile.get("companyName") or ""),
                           UNSUPPORTED_RESELLER if relationship == "none" else "")


def _checked(given: CredentialInput, what: str) -> CredentialInput:
    """A new credential checked for what its type needs (a kept one is as it was saved)."""
    if given.keep is not None:
        return given
    return CredentialInput.of(given.type, given.secret, given.expires_on, what=what)


# The app's role -> what it is, and the inputs (API field; command-line flag) that set
# its client ID and its secret.
_APPS = {
    "partner": ("the partner app (it lists customers)",
                ("partnerClientId", "--partner-client-id"),
                ("partnerClientSecret", "--partner-secret-env"),
                ("partnerCertificate", "--partner-certificate-file")),
    "inventory": ("the inventory app (it reads each customer's Intune)",
                  ("inventoryClientId", "--inventory-client-id"),
                  ("inventoryClientSecret", "--inventory-secret-env"),
                  ("inventoryCertificate", "--inventory-certificate-file")),
}
_SECRET_CODES = frozenset({"invalid_secret", "secret_expired", "secret_missing"})
_CERTIFICATE_CODES = frozenset({"certificate_not_registered", "certificate_expired",
                                "invalid_assertion"})
_APP_CODES = frozenset({"app_not_found", "app_disabled", "consent_missing"})


@contextlib.contextmanager
def _which_app(role: str, partner_tenant_id: str, app: str) -> Iterator[None]:
    """Say which of a partner's two apps a token error is about, and which input fixes it."""
    try:
        yield
    except AuthenticationError as exc:
        what, client_id, secret, certificate = _APPS[role]
        if exc.code == "federation_wrong_tenant":
            # A FIC trusts an identity of the app's own tenant only (workload identity
            # docs, AADSTS700236): a partner's own app cannot use the deployment's identity.
            raise AuthenticationError(
                f"{what[0].upper()}{what[1:]} failed its connection test: app {app} is not "
                "registered in the deployment's tenant, and a federated credential works only "
                "on an app registered in the same tenant as the function app's managed "
                f"identity (AADSTS700236). Use a certificate for this app ({certificate[0]}; "
                f"command line: {certificate[1]}), or the deployment's {role} app: "
                "multitenant, registered in the deployment's tenant, consented in tenant "
                f"{partner_tenant_id}, with credential type federated.",
                code=exc.code, aadsts=exc.aadsts) from None
        fix = (secret if exc.code in _SECRET_CODES
               else certificate if exc.code in _CERTIFICATE_CODES
               else client_id if exc.code in _APP_CODES
               else ("partnerTenantId", "--partner-tenant-id")
               if exc.code == "tenant_not_found" else None)
        hint = f" Fix {fix[0]} (command line: {fix[1]})." if fix else ""
        raise AuthenticationError(f"{what[0].upper()}{what[1:]} failed its connection test: "
                                  f"{exc.message}{hint}", code=exc.code,
                                  aadsts=exc.aadsts) from None


def _listing_error(exc: GraphError, what: str, permission: str) -> TenantError:
    if exc.status in (401, 403):
        return TenantError(
            f"The partner app may not list {what}: give it {permission} and grant admin "
            "consent in the partner tenant. Nothing was marked inactive.",
            code="permission_missing",
        )
    return TenantError(f"Listing {what} failed ({exc.message}); nothing was marked inactive.",
                       code=exc.code)
