"""A tenant's directory: start a sync; read its users and level-1 groups."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from functions.api.errors import located, responses
from functions.api.models import (
    ChangeOut,
    DirectorySyncRequest,
    GroupPage,
    Guid,
    HeldCounts,
    HeldSync,
    Prefix,
    SyncStarted,
    UserPage,
    group_out,
    user_out,
)
from functions.api.paging import PageParams
from functions.api.params import KEYED, ServicesDep, TenantId
from functions.api.syncs import check_directory_start, start_sync
from functions.api.urls import run_url
from functions.core import changes as ch
from functions.core.errors import InputError, NotFoundError
from functions.core.model import Health, RunOptions, SyncKind
from functions.directory.store import UserFilter

router = APIRouter(prefix="/tenants/{tenantId}", tags=["directory"], dependencies=KEYED)

KIND = SyncKind.DIRECTORY


@router.post(
    "/directory/sync", status_code=202, response_model=SyncStarted,
    responses={**responses(400, 404, 409, 413, 503),
               **located(202, "Queued: follow statusUrl")},
)
def start_directory_sync(
    tenant_id: TenantId, response: Response, services: ServicesDep,
    body: Annotated[DirectorySyncRequest | None, Body()] = None,
) -> SyncStarted:
    """Start a directory sync now: 202 with the run's id and status URL at once.

    The queue function runs it. While a sync of the tenant is queued or running the
    answer is 409 with that run's id (`error.runId`). `{"allowMassDeletion": true}`
    releases a sync the deletion guard held back (404 `nothing_held` when none is): it
    applies exactly the previewed changes (`GET .../directory/held`), and is held again,
    with a new preview, if the directory changed since. `{"full": true}` reads the whole
    tree from Graph, not only the changes since the last sync (as the CLI's `--full`).
    """
    release = body is not None and body.allowMassDeletion
    check_directory_start(services, tenant_id, release=release)
    full = body is not None and body.full
    run = start_sync(services, tenant_id, KIND,
                     RunOptions(full=full, allow_mass_deletion=release))
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


@router.get("/directory/held", response_model=HeldSync, responses=responses(400, 404, 503))
def get_held_sync(
    tenant_id: TenantId, page: PageParams, services: ServicesDep,
    change: Annotated[str | None, Query(
        pattern=r"^[a-z]{1,16}$",
        description="Only changes of this kind (e.g. `deleted`: the users and groups it "
                    "would mark deleted)")] = None,
) -> HeldSync:
    """The directory sync the deletion guard held back: why, how many users it would mark
    deleted, and a page of the changes it would write (404 `nothing_held` when none is)."""
    services.tenants.get(tenant_id)
    held = services.holds.get(tenant_id, KIND)
    if held is None:
        raise NotFoundError(f"no directory sync of tenant {tenant_id} is held back",
                            code="nothing_held")
    start = 0
    if page.token is not None:
        if not page.token.isdigit() or len(page.token) > 9:
            raise InputError("continuation token is not valid", code="invalid_continuation")
        start = int(page.token)
    numbered = [(n, c) for n, c in enumerate(held.changes, 1)
                if change is None or c.change == change]
    chunk = numbered[start:start + page.size]
    following = start + page.size
    return HeldSync(
        tenantId=tenant_id, kind=KIND, runId=held.run_id, heldAt=held.held_at,
        reason=held.reason,
        counts=HeldCounts(usersDeleted=held.count(ch.USER, ch.DELETED),
                          groupsDeleted=held.count(ch.GROUP, ch.DELETED),
                          membershipsEnded=held.count(ch.MEMBERSHIP, ch.ENDED),
                          changes=len(held.changes)),
        changes=[ChangeOut(sequence=n, entity=c.entity, entityId=c.entity_id, change=c.change,
                           name=c.name, runId=held.run_id, syncKind=KIND,
                           changedAt=held.held_at) for n, c in chunk],
        continuationToken=str(following) if following < len(numbered) else None,
    )


@router.delete("/directory/held", status_code=204, responses=responses(400, 404, 503))
def discard_held_sync(tenant_id: TenantId, services: ServicesDep) -> Response:
    """Discard the held sync's preview: nothing of it is written, and the tenant is
    `healthy` again until its next sync, which the guard judges anew (fix the level-0
    group first, or it is held again)."""
    tenant = services.tenants.get(tenant_id)
    if services.holds.get(tenant_id, KIND) is None:
        raise NotFoundError(f"no directory sync of tenant {tenant_id} is held back",
                            code="nothing_held")
    services.holds.delete(tenant_id, KIND)
    if tenant.directory_state.health == Health.DELETION_HELD:
        services.health.set(tenant, KIND, Health.HEALTHY)
    return Response(status_code=204)
