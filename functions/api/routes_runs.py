"""Runs: one run's status and counts, a tenant's recent runs, failures across tenants."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from functions.api.errors import responses
from functions.api.models import Kind, RunOut, RunPage, Timestamp, run_out, utc
from functions.api.paging import PageParams
from functions.api.params import KEYED, RunIdPath, ServicesDep, TenantId
from functions.core.kinds import KINDS
from functions.core.model import utcnow

router = APIRouter(tags=["runs"], dependencies=KEYED)

FAILURES_WINDOW = timedelta(days=7)


@router.get("/tenants/{tenantId}/runs", response_model=RunPage,
            responses=responses(400, 404, 503))
def list_runs(
    tenant_id: TenantId, page: PageParams, services: ServicesDep,
    kind: Annotated[Kind | None, Query(description="Only runs of this kind")] = None,
) -> RunPage:
    """A tenant's runs, newest first."""
    services.tenants.get(tenant_id)
    runs, token = services.runs.page(
        tenant_id, kind=KINDS.parse(kind) if kind else None, page_size=page.size,
        continuation=page.token,
    )
    return RunPage(items=[run_out(r) for r in runs], continuationToken=token)


@router.get("/tenants/{tenantId}/runs/{runId}", response_model=RunOut,
            responses=responses(400, 404, 503))
def get_run(tenant_id: TenantId, run_id: RunIdPath, services: ServicesDep) -> RunOut:
    """One run: status (queued, running, succeeded, partial, failed, skipped), counts, error.

    Readable after its tenant was removed (unless the tenant was purged).
    """
    return run_out(services.runs.get(tenant_id, run_id))


@router.get("/runs/failures", response_model=RunPage, responses=responses(400, 503))
def list_failures(
    page: PageParams, services: ServicesDep,
    since: Annotated[Timestamp | None, Query(
        description="Runs started at or after this time (UTC if no zone); default 7 days ago",
    )] = None,
    kind: Annotated[Kind | None, Query(description="Only runs of this kind")] = None,
) -> RunPage:
    """Failed and partial runs of every tenant: grouped by tenant, newest first within one."""
    runs, token = services.runs.failures_page(
        since=utc(since) or utcnow() - FAILURES_WINDOW,
        kind=KINDS.parse(kind) if kind else None,
        page_size=page.size, continuation=page.token,
    )
    return RunPage(items=[run_out(r) for r in runs], continuationToken=token)
