"""A tenant's software: apps detected on its devices, and the apps Intune manages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from functions.api.errors import responses
from functions.api.models import (
    AppId,
    DetectedAppPage,
    DevicePage,
    ManagedAppPage,
    detected_app_out,
    device_out,
    managed_app_out,
)
from functions.api.paging import PageParams
from functions.api.params import KEYED, ServicesDep, TenantId
from functions.core.errors import NotFoundError
from functions.devices.store import DeviceFilter

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


AppIdPath = Annotated[AppId, Path(alias="appId", description="A detected app's ID")]


@router.get("/detected/{appId}/devices", response_model=DevicePage,
            responses=responses(400, 404, 503))
def list_app_devices(tenant_id: TenantId, app_id: AppIdPath, page: PageParams,
                     services: ServicesDep) -> DevicePage:
    """The devices a detected app is on now (an app's id names one version of it), by
    Intune ID. Pages can be short while more follow."""
    services.tenants.get(tenant_id)
    if services.inventory.detected_app(tenant_id, app_id) is None:
        raise NotFoundError(f"detected app {app_id} is not among tenant {tenant_id}'s synced "
                            "software (GET .../software/detected lists it)", code="unknown_app")
    devices, token = services.inventory.devices_page(
        tenant_id, DeviceFilter(apps=frozenset({app_id})), page_size=page.size,
        continuation=page.token)
    return DevicePage(items=[device_out(d) for d in devices], continuationToken=token)
