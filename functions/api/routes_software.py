"""A tenant's software: apps detected on its devices, and the apps Intune manages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from functions.api.errors import responses
from functions.api.models import DetectedAppPage, ManagedAppPage, detected_app_out, managed_app_out
from functions.api.paging import PageParams
from functions.api.params import KEYED, ServicesDep, TenantId

router = APIRouter(prefix="/tenants/{tenantId}/software", tags=["software"],
                   dependencies=KEYED)

Removed = Annotated[bool | None, Query(
    description="true: only apps gone from Intune (kept, marked removed); false: only "
                "current ones")]


@router.get("/detected", response_model=DetectedAppPage, responses=responses(400, 404, 503))
def list_detected_apps(tenant_id: TenantId, page: PageParams, services: ServicesDep,
                       removed: Removed = None) -> DetectedAppPage:
    """Software found on the tenant's devices, with the number of devices of each."""
    services.tenants.get(tenant_id)
    apps, token = services.inventory.detected_apps_page(
        tenant_id, removed=removed, page_size=page.size, continuation=page.token
    )
    return DetectedAppPage(items=[detected_app_out(a) for a in apps], continuationToken=token)


@router.get("/managed", response_model=ManagedAppPage, responses=responses(400, 404, 503))
def list_managed_apps(tenant_id: TenantId, page: PageParams, services: ServicesDep,
                      removed: Removed = None) -> ManagedAppPage:
    """Apps Intune manages for the tenant (deviceAppManagement mobile apps), with their type."""
    services.tenants.get(tenant_id)
    apps, token = services.inventory.managed_apps_page(
        tenant_id, removed=removed, page_size=page.size, continuation=page.token
    )
    return ManagedAppPage(items=[managed_app_out(a) for a in apps], continuationToken=token)
