"""A tenant's directory: start a sync; read its users and level-1 groups."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from functions.api.errors import responses
from functions.api.models import (
    GroupPage,
    Guid,
    Prefix,
    SyncStarted,
    UserPage,
    group_out,
    user_out,
)
from functions.api.paging import PageParams
from functions.api.params import KEYED, ServicesDep, TenantId
from functions.api.syncs import directory_connection, start_sync
from functions.api.urls import run_url
from functions.core.model import SyncKind
from functions.directory.store import UserFilter

router = APIRouter(prefix="/tenants/{tenantId}", tags=["directory"], dependencies=KEYED)

KIND = SyncKind.DIRECTORY


@router.post(
    "/directory/sync", status_code=202, response_model=SyncStarted,
    responses=responses(400, 404, 409, 503),
)
def start_directory_sync(tenant_id: TenantId, response: Response,
                         services: ServicesDep) -> SyncStarted:
    """Start a directory sync now: 202 with the run's id and status URL at once.

    The queue function runs it. While a sync of the tenant is queued or running the
    answer is 409 with that run's id (`error.runId`).
    """
    directory_connection(services.tenants.get(tenant_id))
    run = start_sync(services, tenant_id, KIND)
    url = run_url(tenant_id, run.run_id)
    response.headers["Location"] = url
    return SyncStarted(runId=run.run_id, tenantId=tenant_id, kind=KIND, status=run.status,
                       statusUrl=url)


@router.get("/users", response_model=UserPage, responses=responses(400, 404, 503))
def list_users(
    tenant_id: TenantId, page: PageParams, services: ServicesDep,
    deleted_only: Annotated[bool, Query(
        alias="deletedOnly", description='Only users with "Azure ID: deleted"')] = False,
    anonymous_only: Annotated[bool, Query(
        alias="anonymousOnly", description="Only users without an email")] = False,
    group_id: Annotated[Guid | None, Query(
        alias="groupId", description="Only active members of this level-1 group")] = None,
    email_prefix: Annotated[Prefix | None, Query(
        alias="emailPrefix", description="Email starts with this (any case)")] = None,
    name_prefix: Annotated[Prefix | None, Query(
        alias="namePrefix", description="Display name starts with this (any case)",
    )] = None,
) -> UserPage:
    """A tenant's users, by object ID (or by membership with `groupId`); filters combine."""
    services.tenants.get(tenant_id)
    flt = UserFilter(deleted_only=deleted_only, group_id=group_id,
                     anonymous_only=anonymous_only, email_prefix=email_prefix,
                     name_prefix=name_prefix)
    users, token = services.directory.users_page(
        tenant_id, flt, page_size=page.size, continuation=page.token
    )
    return UserPage(items=[user_out(u) for u in users], continuationToken=token)


@router.get("/groups", response_model=GroupPage, responses=responses(400, 404, 503))
def list_groups(
    tenant_id: TenantId, page: PageParams, services: ServicesDep,
    deleted_only: Annotated[bool, Query(
        alias="deletedOnly", description="Only groups that left the level-0 group")] = False,
) -> GroupPage:
    """A tenant's level-1 groups, by object ID. Their members: `users?groupId=`."""
    services.tenants.get(tenant_id)
    groups, token = services.directory.groups_page(
        tenant_id, deleted_only=deleted_only, page_size=page.size, continuation=page.token
    )
    return GroupPage(items=[group_out(g) for g in groups], continuationToken=token)
