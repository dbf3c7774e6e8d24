"""Partner connections: save (after testing both apps), read, list, change, discover
customers, remove.

Saving a connection discovers its customers at once, as the command line does, and queues a
first device sync of each new one.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response

from functions.api.credentials import credential_input
from functions.api.errors import located, responses
from functions.api.models import (
    DiscoveryOut,
    PartnerCreate,
    PartnerPage,
    PartnerSaved,
    PartnerUpdate,
    Problem,
    discovery_out,
    partner_out,
)
from functions.api.models import Partner as PartnerOut
from functions.api.models.gdap import PartnerAdded
from functions.api.paging import PageParams
from functions.api.params import KEYED, PartnerId, ServicesDep
from functions.api.routes_partner_consent import partner_added
from functions.api.syncs import discover_and_queue, ensure_idle, sync_started
from functions.api.urls import partner_url
from functions.clients.credentials import CredentialInput
from functions.core.errors import ConflictError, InputError, SecretStoreError, TenantError
from functions.core.model import PartnerConnection, SyncKind
from functions.services import Services

log = logging.getLogger("tenantsync.api")

_PARTNER_FIELDS = ("partnerCredentialType", "partnerClientSecret", "partnerCertificate",
                   "partnerSecretExpiresOn")
_INVENTORY_FIELDS = ("inventoryCredentialType", "inventoryClientSecret",
                     "inventoryCertificate", "inventorySecretExpiresOn")

router = APIRouter(prefix="/partners", tags=["partners"], dependencies=KEYED)


@router.post(
    "", status_code=201, response_model=PartnerAdded,
    responses={**responses(400, 409, 413, 422, 502, 503), **located(201, "Saved")},
)
def create_partner(body: PartnerCreate, response: Response,
                   services: ServicesDep) -> PartnerAdded:
    """Save a partner connection, discover its customers and queue a device sync of each.

    Both apps are tested first (each must get a token in the partner tenant); if either
    fails the answer is 422 with the fix and nothing is stored. The secrets go to Key Vault
    only. A discovery that fails afterwards leaves the connection saved and is reported in
    `discoveryError`. For source `gdap` the answer says, per customer, whether its GDAP
    relationship is active and assigns a role that may consent from the partner's side, and
    what is missing (`gdapAccess`, as `GET /partners/{partnerTenantId}/gdap-access`).
    """
    partner = save_new_partner(services, body)
    response.headers["Location"] = partner_url(partner.partner_tenant_id)
    return partner_added(services, _discovered(services, partner))


def save_new_partner(services: Services, body: PartnerCreate) -> PartnerConnection:
    """Save a partner connection that does not exist yet, after testing both apps (the
    HTTP API and the command line).

    Raises:
        ConflictError: ``partner_exists``. AuthenticationError: an app failed its test.
    """
    pid = body.partnerTenantId
    if services.partner_table.find(pid) is not None:
        raise ConflictError(
            f"partner {pid} already has a connection: change it with PATCH {partner_url(pid)} "
            "(tenantsync partner update)",
            code="partner_exists",
        )
    partner_app = credential_input(
        body.partnerCredentialType, body.partnerClientSecret, body.partnerCertificate,
        body.partnerSecretExpiresOn, what="the partner app", fields=_PARTNER_FIELDS)
    inventory_app = credential_input(
        body.inventoryCredentialType, body.inventoryClientSecret, body.inventoryCertificate,
        body.inventorySecretExpiresOn, what="the inventory app", fields=_INVENTORY_FIELDS)
    assert partner_app is not None
    assert inventory_app is not None
    return services.partners.add(
        pid, body.partnerClientId, partner_app, body.inventoryClientId, inventory_app,
        source=body.source, customers=body.customers,
        include_partner_tenant=body.includePartnerTenant, excluded=body.excluded,
    )


@router.get("", response_model=PartnerPage, responses=responses(400, 503))
def list_partners(page: PageParams, services: ServicesDep) -> PartnerPage:
    """Partner connections, by partner tenant ID."""
    partners, token = services.partner_table.page(page_size=page.size, continuation=page.token)
    return PartnerPage(items=[partner_out(p) for p in partners], continuationToken=token)


@router.get("/{partnerTenantId}", response_model=PartnerOut,
            responses=responses(400, 404, 503))
def get_partner(partner_id: PartnerId, services: ServicesDep) -> PartnerOut:
    """One partner connection (never its secrets)."""
    return partner_out(services.partner_table.get(partner_id))


@router.patch(
    "/{partnerTenantId}", response_model=PartnerSaved,
    responses=responses(400, 404, 413, 422, 502, 503),
)
def update_partner(partner_id: PartnerId, body: PartnerUpdate,
                   services: ServicesDep) -> PartnerSaved:
    """Change a partner connection, then discover its customers again.

    Both apps are tested again, with the new secrets or else the saved ones; on failure
    nothing changes. A new secret is a new Key Vault version, used from the next token
    request (no downtime). The discovery that follows applies the change to the customer
    tenants (a new inventory app, customers now excluded or listed) and queues a device
    sync of each new customer.
    """
    return _discovered(services, apply_partner_update(services, partner_id, body))


def apply_partner_update(services: Services, partner_id: str,
                         body: PartnerUpdate) -> PartnerConnection:
    """Change a partner connection after testing both apps again, with the new secrets or
    else the saved ones (the HTTP API and the command line); nothing changes on failure.

    Raises:
        InputError: nothing to change, or inconsistent fields. NotFoundError:
        ``unknown_partner``. AuthenticationError: an app failed its test.
    """
    if not body.model_fields_set:
        raise InputError("the body names no field to change", code="invalid_request")
    for expiry, secret in (("partnerSecretExpiresOn", "partnerClientSecret"),
                           ("inventorySecretExpiresOn", "inventoryClientSecret")):
        if getattr(body, expiry) is not None and getattr(body, secret) is None:
            raise InputError(f"{expiry} is the expiry of a new {secret}: send both",
                             code="secret_required")
    old = services.partner_table.get(partner_id)
    source = body.source if body.source is not None else old.source
    if body.customers is not None:
        customers = body.customers
    else:
        customers = list(old.customers) if source == "list" else []
    if customers and source != "list":
        raise InputError("customers is only for source 'list'; gdap and partner-center "
                         "find them", code="invalid_request")
    # A credential left out is used as it is saved (tested again, not saved again).
    partner_app = credential_input(
        body.partnerCredentialType, body.partnerClientSecret, body.partnerCertificate,
        body.partnerSecretExpiresOn, what="the partner app", fields=_PARTNER_FIELDS,
    ) or CredentialInput.kept(old.partner_credential)
    inventory_app = credential_input(
        body.inventoryCredentialType, body.inventoryClientSecret, body.inventoryCertificate,
        body.inventorySecretExpiresOn, what="the inventory app", fields=_INVENTORY_FIELDS,
    ) or CredentialInput.kept(old.inventory_credential)
    return services.partners.add(
        partner_id, body.partnerClientId or old.partner_client_id, partner_app,
        body.inventoryClientId or old.inventory_client_id, inventory_app, source=source,
        customers=customers,
        include_partner_tenant=(body.includePartnerTenant
                                if body.includePartnerTenant is not None
                                else old.include_partner_tenant),
        excluded=body.excluded if body.excluded is not None else list(old.excluded),
    )


@router.post(
    "/{partnerTenantId}/discover", status_code=202, response_model=DiscoveryOut,
    responses=responses(400, 404, 422, 502, 503),
)
def discover_customers(partner_id: PartnerId, services: ServicesDep) -> DiscoveryOut:
    """List the partner's customers now and bring the tenants in line.

    New customers get a device connection and a first device sync, queued (`queued`);
    customers no longer listed become inactive (kept, not deleted); excluded ones are never
    queried. If the listing fails nothing is marked inactive.
    """
    discovery, runs = discover_and_queue(services, partner_id)
    return discovery_out(discovery, [sync_started(r) for r in runs])


@router.delete("/{partnerTenantId}", status_code=204, responses=responses(400, 404, 409, 503))
def delete_partner(partner_id: PartnerId, services: ServicesDep) -> Response:
    """Remove a partner connection and its two secrets (soft-deleted in Key Vault).

    Its customers become `inactive`: their devices and software stay as last synced (and
    their directory connections, if any, are untouched). While a device sync of one of them
    is queued or running the answer is 409 `sync_running`. Saving the connection again
    (POST) brings the customers back at its discovery.
    """
    partner = services.partner_table.get(partner_id)
    for tenant in services.partners.customers_of(partner.partner_tenant_id):
        ensure_idle(services, tenant.tenant_id, [SyncKind.DEVICES])  # it would write back
    services.partners.remove(partner.partner_tenant_id)
    return Response(status_code=204)


def _discovered(services: Services, partner: PartnerConnection) -> PartnerSaved:
    saved = partner_out(partner).model_dump()
    try:
        discovery, runs = discover_and_queue(services, partner.partner_tenant_id)
    except (TenantError, SecretStoreError) as exc:
        log.info("discovery of partner %s failed after saving: %s", partner.partner_tenant_id,
                 exc.code, extra={"error_code": exc.code})
        return PartnerSaved(**saved, discovery=None,
                            discoveryError=Problem(code=exc.code, message=exc.message))
    return PartnerSaved(**saved, discovery=discovery_out(discovery,
                                                         [sync_started(r) for r in runs]),
                        discoveryError=None)
