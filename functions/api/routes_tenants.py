"""Tenants: onboard (after a connection test), read, list with health, change, remove."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from functions.api.credentials import credential_input
from functions.api.errors import located, responses
from functions.api.models import Tenant, TenantCreate, TenantPage, TenantUpdate, tenant_out
from functions.api.paging import PageParams
from functions.api.params import KEYED, ServicesDep, TenantId
from functions.api.syncs import ensure_idle, start_sync
from functions.api.urls import tenant_url
from functions.core.errors import InputError
from functions.core.kinds import KINDS
from functions.core.model import Health, SyncKind, TenantRecord
from functions.services import Services

router = APIRouter(prefix="/tenants", tags=["tenants"], dependencies=KEYED)

# The body fields of a tenant's app credential, for messages (see credential_input).
_FIELDS = ("credentialType", "clientSecret", "certificate", "secretExpiresOn")


@router.post(
    "", status_code=201, response_model=Tenant,
    responses={**responses(400, 409, 413, 422, 502, 503), **located(201, "Onboarded")},
)
def create_tenant(body: TenantCreate, response: Response, services: ServicesDep) -> Tenant:
    """Onboard a tenant's directory connection.

    The app signs in with a client secret, a certificate or the function app's managed
    identity (`credentialType`). The connection is tested first (a token, every application
    permission the sync needs, then the level-0 group); if the test fails the answer is 422
    with the fix and nothing is stored. A secret or certificate goes to Key Vault only. A
    partner's customer (a tenant with a device connection only) gets its directory
    connection added; any other tenant already onboarded is 409 `tenant_exists`.
    """
    given = credential_input(body.credentialType, body.clientSecret, body.certificate,
                             body.secretExpiresOn, what=f"app {body.clientId}",
                             fields=_FIELDS)
    assert given is not None  # credentialType has a default
    existing = services.tenants.find(body.tenantId)
    # A tenant known from its device side gets its directory side; any other must be new.
    tenant = services.onboarding.add_directory_tenant(
        body.tenantId, body.clientId, given, body.groupId, scope=body.scope,
        new=existing is None or existing.directory is not None)
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
    """Change a tenant: rotate its secret or certificate, switch its credential type, change
    its app, group or scope, enable or disable it.

    A new `clientSecret` or `certificate` is saved as a new Key Vault version and used from
    the next token request (no downtime). Connection changes are tested first; on failure
    nothing changes. Choosing the group of a tenant that awaits one (consented without a
    group) starts its first directory sync.
    """
    tenant, first_sync = apply_tenant_update(services, tenant_id, body)
    if first_sync:
        start_sync(services, tenant_id, SyncKind.DIRECTORY)  # its first sync, at once
        tenant = services.tenants.get(tenant_id)
    return tenant_out(tenant)


def apply_tenant_update(services: Services, tenant_id: str,
                        body: TenantUpdate) -> tuple[TenantRecord, bool]:
    """Change a tenant after testing the connection (the HTTP API and the command line);
    returns it, and whether it now has the level-0 group it awaited: its first directory
    sync is then due (queued by the API, run at once by the command line).

    Raises:
        InputError: nothing to change, inconsistent fields. NotFoundError:
        ``unknown_tenant``. AuthenticationError / TenantError: the connection test failed.
    """
    if not body.model_fields_set:
        raise InputError("the body names no field to change", code="invalid_request")
    if body.secretExpiresOn is not None and body.clientSecret is None:
        raise InputError("secretExpiresOn is the expiry of a new clientSecret: send both",
                         code="secret_required")
    before = services.tenants.get(tenant_id)
    given = credential_input(body.credentialType, body.clientSecret, body.certificate,
                             body.secretExpiresOn, what=f"tenant {tenant_id}'s app",
                             fields=_FIELDS)
    tenant = services.onboarding.update_directory_tenant(
        tenant_id, client_id=body.clientId, group_id=body.groupId, scope=body.scope,
        credential=given, enabled=body.enabled,
    )
    awaited = before.directory is not None and not before.directory.group_id
    return tenant, bool(awaited and tenant.directory is not None and tenant.directory.group_id)


@router.delete("/{tenantId}", status_code=204, responses=responses(400, 404, 409, 503))
def delete_tenant(
    tenant_id: TenantId, services: ServicesDep,
    purge: Annotated[bool, Query(
        description="Also hard-delete the tenant's synced users, groups, memberships, "
                    "devices, detected and managed apps and runs. Without it they stay (and "
                    "show again if the tenant is re-added)."
    )] = False,
    revoke_consent: Annotated[bool, Query(
        alias="revokeConsent",
        description="Also remove, in the customer's tenant, what tenantsync consented there "
                    "from the partner's side (the app role assignments it added, the service "
                    "principal if it created it, the partner app's delegated grant), as the "
                    "consent audit records it; nothing else. Needs the partner's sign-in. If "
                    "it fails, the tenant is kept (409 consent_removal_failed, with the fix)."
    )] = False,
) -> Response:
    """Remove a tenant's configuration and its secret (soft-deleted in Key Vault), and its
    Graph change-notification subscriptions. Without `revokeConsent=true` nothing in the
    customer's tenant is touched.

    Synced data stays unless `purge=true`: the only hard delete, and only on request. A
    partner's customer comes back at the partner's next discovery: exclude it on the partner
    connection to keep it out.
    """
    tenant = services.tenants.get(tenant_id)
    ensure_idle(services, tenant_id, KINDS.names())  # a run in flight would write it back
    if revoke_consent:  # first: if it fails, the tenant is all still there to retry
        services.consent_removal.revoke(tenant)
    if purge:
        # Data first: if this fails the tenant is still there and the call can be repeated.
        services.directory.purge(tenant_id)
        services.inventory.purge(tenant_id)
        services.runs.purge(tenant_id)
        services.feed.purge(tenant_id)
        services.holds.purge(tenant_id)
    services.subscriber.remove_tenant(tenant_id)  # its Graph subscriptions and their secrets
    services.onboarding.remove_tenant(tenant_id)
    return Response(status_code=204)
