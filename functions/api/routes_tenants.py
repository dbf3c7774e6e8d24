"""Tenants: onboard (after a connection test), read, list with health, change, remove."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from functions.api.errors import located, responses
from functions.api.models import Tenant, TenantCreate, TenantPage, TenantUpdate, tenant_out, utc
from functions.api.paging import PageParams
from functions.api.params import KEYED, ServicesDep, TenantId
from functions.api.syncs import ensure_idle
from functions.api.urls import tenant_url
from functions.core.errors import InputError
from functions.core.model import Health, SyncKind
from functions.core.sensitive import SecretValue

router = APIRouter(prefix="/tenants", tags=["tenants"], dependencies=KEYED)

# Kinds of sync whose run must end before a tenant is removed.
SYNC_KINDS = tuple(SyncKind)


@router.post(
    "", status_code=201, response_model=Tenant,
    responses={**responses(400, 409, 413, 422, 502, 503), **located(201, "Onboarded")},
)
def create_tenant(body: TenantCreate, response: Response, services: ServicesDep) -> Tenant:
    """Onboard a tenant's directory connection.

    The connection is tested first (a token, then the level-0 group); if the test fails the
    answer is 422 with the fix and nothing is stored. The secret goes to Key Vault only. A
    partner's customer (a tenant with a device connection only) gets its directory
    connection added; any other tenant already onboarded is 409 `tenant_exists`.
    """
    existing = services.tenants.find(body.tenantId)
    onboard = (services.onboarding.add_directory_tenant
               if existing is not None and existing.directory is None
               else services.onboarding.create_directory_tenant)
    tenant = onboard(
        body.tenantId, body.clientId, SecretValue(body.clientSecret.get_secret_value()),
        body.groupId, scope=body.scope, secret_expires_on=utc(body.secretExpiresOn),
    )
    response.headers["Location"] = tenant_url(tenant.tenant_id)
    return tenant_out(tenant)


@router.get("", response_model=TenantPage, responses=responses(400, 503))
def list_tenants(
    page: PageParams, services: ServicesDep,
    health: Annotated[Health | None, Query(
        description="Only tenants whose directory or device sync is in this state (e.g. "
                    "quarantined); pages can be short while more follow",
    )] = None,
) -> TenantPage:
    """Onboarded tenants (directory connections and partners' customers) with their health,
    by tenant ID."""
    tenants, token = services.tenants.page(page_size=page.size, continuation=page.token,
                                           health=health)
    return TenantPage(items=[tenant_out(t) for t in tenants], continuationToken=token)


@router.get("/{tenantId}", response_model=Tenant, responses=responses(400, 404, 503))
def get_tenant(tenant_id: TenantId, services: ServicesDep) -> Tenant:
    """One tenant with its connection (never its secret) and health."""
    return tenant_out(services.tenants.get(tenant_id))


@router.patch(
    "/{tenantId}", response_model=Tenant,
    responses=responses(400, 404, 409, 413, 422, 502, 503),
)
def update_tenant(tenant_id: TenantId, body: TenantUpdate, services: ServicesDep) -> Tenant:
    """Change a tenant: rotate its secret, change its app, group or scope, enable or disable it.

    A new `clientSecret` is saved as a new Key Vault version and used from the next token
    request (no downtime). Connection changes are tested first; on failure nothing changes.
    """
    if not body.model_fields_set:
        raise InputError("the body names no field to change", code="invalid_request")
    if body.secretExpiresOn is not None and body.clientSecret is None:
        raise InputError("secretExpiresOn is the expiry of a new clientSecret: send both",
                         code="secret_required")
    tenant = services.onboarding.update_directory_tenant(
        tenant_id, client_id=body.clientId, group_id=body.groupId, scope=body.scope,
        secret=(SecretValue(body.clientSecret.get_secret_value())
                if body.clientSecret is not None else None),
        secret_expires_on=utc(body.secretExpiresOn), enabled=body.enabled,
    )
    return tenant_out(tenant)


@router.delete("/{tenantId}", status_code=204, responses=responses(400, 404, 409, 503))
def delete_tenant(
    tenant_id: TenantId, services: ServicesDep,
    purge: Annotated[bool, Query(
        description="Also hard-delete the tenant's synced users, groups, memberships, "
                    "devices, detected and managed apps and runs. Without it they stay (and "
                    "show again if the tenant is re-added)."
    )] = False,
) -> Response:
    """Remove a tenant's configuration and its secret (soft-deleted in Key Vault).

    Synced data stays unless `purge=true`: the only hard delete, and only on request. A
    partner's customer comes back at the partner's next discovery: exclude it on the partner
    connection to keep it out.
    """
    services.tenants.get(tenant_id)
    ensure_idle(services, tenant_id, SYNC_KINDS)  # a run in flight would write it back
    if purge:
        # Data first: if this fails the tenant is still there and the call can be repeated.
        services.directory.purge(tenant_id)
        services.inventory.purge(tenant_id)
        services.runs.purge(tenant_id)
        services.feed.purge(tenant_id)
        services.holds.purge(tenant_id)
    services.onboarding.remove_tenant(tenant_id)
    return Response(status_code=204)
