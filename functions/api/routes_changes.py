"""A tenant's change feed: every change its syncs wrote, in order, read with a cursor."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from functions.api.errors import responses
from functions.api.models import ChangePage, change_out
from functions.api.params import KEYED, ServicesDep, TenantId

router = APIRouter(prefix="/tenants/{tenantId}", tags=["changes"], dependencies=KEYED)

MAX_CHANGES = 1000
CURSOR_PATTERN = r"^[0-9a-f]{8}\.[0-9]{1,12}$"


@router.get("/changes", response_model=ChangePage, responses=responses(400, 404, 503))
def list_changes(
    tenant_id: TenantId, services: ServicesDep,
    cursor: Annotated[str | None, Query(
        pattern=CURSOR_PATTERN, max_length=32,
        description="The `cursor` of the previous page (or of a run's `changesTo`): the "
                    "changes after it. Leave it out to read from the first change.")] = None,
    page_size: Annotated[int, Query(
        alias="pageSize", ge=1, le=MAX_CHANGES,
        description=f"Changes per page, 1 to {MAX_CHANGES}")] = 100,
) -> ChangePage:
    """The tenant's changes in the order they were written: users and groups created,
    updated, deleted, restored; memberships added and ended; devices created, updated,
    retired, restored; apps detected, changed, removed, restored.

    Keep the answer's `cursor` and read on with it until `more` is false; next time, start
    from the cursor you kept. A cursor never skips or repeats a change.
    """
    services.tenants.get(tenant_id)
    page = services.feed.page(tenant_id, cursor, page_size)
    return ChangePage(items=[change_out(e) for e in page.entries], cursor=page.cursor,
                      more=page.more)
