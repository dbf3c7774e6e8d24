"""A tenant's devices: start a device and software sync; read its managed devices."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from functions.api.errors import located, responses
from functions.api.models import (
    DeviceDetail,
    DevicePage,
    FilterValue,
    Guid,
    Prefix,
    SyncStarted,
    device_detail_out,
    device_out,
)
from functions.api.paging import PageParams
from functions.api.params import KEYED, ServicesDep, TenantId
from functions.api.syncs import start_device_sync, sync_started
from functions.core.errors import ConflictError, InputError, NotFoundError
from functions.devices.store import DeviceFilter
from functions.directory.store import UserFilter

router = APIRouter(prefix="/tenants/{tenantId}", tags=["devices"], dependencies=KEYED)


@router.post(
    "/devices/sync", status_code=202, response_model=SyncStarted,
    responses={**responses(400, 404, 409, 503), **located(202, "Queued: follow statusUrl")},
)
def start_devices_sync(tenant_id: TenantId, response: Response,
                       services: ServicesDep) -> SyncStarted:
    """Start a device and software sync now: 202 with the run's id and status URL at once.

    The queue function runs it. While a device sync of the tenant is queued or running the
    answer is 409 `sync_running` with that run's id (`error.runId`). A tenant without a
    device connection (409 `not_configured`), or one its partner connection excludes, no
    longer lists, or cannot read (409 `tenant_excluded`, `tenant_inactive`,
    `tenant_unsupported`) gets no run.
    """
    started = sync_started(start_device_sync(services, tenant_id))
    response.headers["Location"] = started.statusUrl
    return started


@router.get("/devices", response_model=DevicePage, responses=responses(400, 404, 409, 503))
def list_devices(
    tenant_id: TenantId, page: PageParams, services: ServicesDep,
    retired: Annotated[bool | None, Query(
        description="true: only devices gone from Intune; false: only current ones")] = None,
    compliance_state: Annotated[FilterValue | None, Query(
        alias="complianceState",
        description="This compliance state, in any case (e.g. noncompliant)",
    )] = None,
    operating_system: Annotated[FilterValue | None, Query(
        alias="operatingSystem",
        description="This operating system, in any case (e.g. Windows)",
    )] = None,
    user_deleted: Annotated[bool, Query(
        alias="userDeleted",
        description='Only devices whose primary user is "Azure ID: deleted" in the same '
                    "tenant's directory sync",
    )] = False,
    app_name: Annotated[Prefix | None, Query(
        alias="appName",
        description="Only devices with a detected app whose name starts with this, in any "
                    "case (e.g. chrome)",
    )] = None,
    app_version: Annotated[FilterValue | None, Query(
        alias="appVersion",
        description="With appName: only apps of this version, in any case",
    )] = None,
) -> DevicePage:
    """A tenant's managed devices, by Intune ID; filters combine.

    `userDeleted` joins the tenant's directory sync: it needs a directory connection (409
    `not_configured` otherwise). `appName` (and `appVersion`) keep the devices an app is
    on now. With either, pages can be short while more follow.
    """
    if app_version is not None and app_name is None:
        raise InputError("appVersion needs appName: the version of which app?",
                         code="invalid_filter")
    tenant = services.tenants.get(tenant_id)
    user_ids = None
    if user_deleted:
        if tenant.directory is None:
            raise ConflictError(
                f"userDeleted joins tenant {tenant_id}'s directory sync, and the tenant has no "
                "directory connection (POST /api/tenants adds one)",
                code="not_configured",
            )
        user_ids = {u.id for u in services.directory.users(tenant_id,
                                                           UserFilter(deleted_only=True))}
    apps = None
    if app_name is not None:
        apps = services.inventory.apps_named(tenant_id, app_name, app_version)
        if not apps:
            return DevicePage(items=[], continuationToken=None)
    flt = DeviceFilter(retired=retired, compliance_state=compliance_state,
                       operating_system=operating_system, user_ids=user_ids, apps=apps)
    devices, token = services.inventory.devices_page(
        tenant_id, flt, page_size=page.size, continuation=page.token
    )
    return DevicePage(items=[device_out(d) for d in devices], continuationToken=token)


DeviceId = Annotated[Guid, Path(alias="deviceId", description="Intune managed device ID")]


@router.get("/devices/{deviceId}", response_model=DeviceDetail,
            responses=responses(400, 404, 503))
def get_device(tenant_id: TenantId, device_id: DeviceId,
               services: ServicesDep) -> DeviceDetail:
    """One device: every field (hardware details included) and its software, the apps on it
    now by name, then the ones that ended on it (`removed`, with `removedAt`)."""
    services.tenants.get(tenant_id)
    found = services.inventory.device(tenant_id, device_id)
    if found is None:
        raise NotFoundError(f"device {device_id} is not among tenant {tenant_id}'s synced "
                            "devices (a device sync stores them)", code="unknown_device")
    device, software = found
    apps = services.inventory.detected_apps_by_id(tenant_id) if software else {}
    return device_detail_out(device, software, apps)
