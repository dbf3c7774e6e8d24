"""Syncs started over HTTP: recorded as a queued run, then run by the queue function."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from functions.api.models import SyncStarted
from functions.api.urls import partner_url, run_url
from functions.core.errors import ConflictError, NotFoundError
from functions.core.model import (
    DeviceConnection,
    DirectoryConnection,
    Run,
    RunOptions,
    RunStatus,
    SyncKind,
    TenantRecord,
    Trigger,
)
from functions.partners import Discovery
from functions.services import Services
from functions.storage.queues import SyncJob

TRIGGER = Trigger.HTTP


def start_sync(services: Services, tenant_id: str, kind: SyncKind,
               options: RunOptions | None = None) -> Run:
    """Start a sync of ``kind`` over HTTP (claimed, recorded as queued, put on its queue).

    Raises:
        ConflictError: ``sync_running`` with the run id, when one is queued or running
        (also when another start of the same sync won the race a moment ago).
        StorageError: the run could not be recorded or queued (a queued run that could not
        be put on the queue is recorded as failed, so that it blocks nothing).
    """
    try:
        job = services.starter.start(tenant_id, kind, TRIGGER, options)
    except ConflictError as exc:
        raise ConflictError(f"{exc.message}; follow it at {run_url(tenant_id, str(exc.run_id))}",
                            code=exc.code, run_id=exc.run_id) from None
    assert job.run_id is not None
    return services.runs.get(tenant_id, job.run_id)


def ensure_idle(services: Services, tenant_id: str, kinds: Iterable[SyncKind]) -> None:
    """Raise ConflictError ``sync_running`` if a sync of one of ``kinds`` is queued or
    running (and alive: a dead one is closed on the way)."""
    for kind in kinds:
        active = services.starter.holder(tenant_id, kind)
        if active is not None:
            raise ConflictError(
                f"a {kind} sync of tenant {tenant_id} is already {active.status.value} "
                f"(run {active.run_id}); follow it at {run_url(tenant_id, active.run_id)}",
                code="sync_running", run_id=active.run_id,
            )


def sync_started(run: Run) -> SyncStarted:
    return SyncStarted(runId=run.run_id, tenantId=run.tenant_id, kind=run.kind,
                       status=run.status, statusUrl=run_url(run.tenant_id, run.run_id))


def job_started(job: SyncJob) -> SyncStarted:
    """A sync just started and not yet run (its run is queued)."""
    assert job.run_id is not None
    return SyncStarted(runId=job.run_id, tenantId=job.tenant_id, kind=job.kind,
                       status=RunStatus.QUEUED, statusUrl=run_url(job.tenant_id, job.run_id))


def directory_connection(tenant: TenantRecord) -> DirectoryConnection:
    """The tenant's directory connection, if a directory sync of it may start.

    Raises:
        ConflictError: ``not_configured``.
    """
    if tenant.directory is None:
        raise ConflictError(f"tenant {tenant.tenant_id} has no directory connection to sync",
                            code="not_configured")
    return tenant.directory


def check_directory_start(services: Services, tenant_id: str, *, release: bool) -> None:
    """Whether a directory sync of the tenant may start (over HTTP or on the command line);
    ``release``: it is to apply the sync the deletion guard held back, as previewed.

    Raises:
        NotFoundError: ``unknown_tenant``; ``nothing_held`` (a release with nothing held).
        ConflictError: ``not_configured``; ``group_required`` (it awaits its level-0 group).
    """
    directory = directory_connection(services.tenants.get(tenant_id))
    if not directory.group_id:
        raise ConflictError(
            f"tenant {tenant_id} awaits its level-0 group: choose one of "
            f"GET /api/tenants/{tenant_id}/directory/groups with PATCH /api/tenants/{tenant_id} "
            f"(tenantsync tenant groups, then tenant update --group-id)",
            code="group_required")
    # A release applies only a previewed sync: without one there is nothing to release.
    if release and services.holds.get(tenant_id, SyncKind.DIRECTORY) is None:
        raise NotFoundError(f"no directory sync of tenant {tenant_id} is held back: there is "
                            "nothing to release", code="nothing_held")


def device_connection(tenant: TenantRecord) -> DeviceConnection:
    """The tenant's device connection, if a device sync of it may start.

    Raises:
        ConflictError: ``not_configured``, ``tenant_excluded``, ``tenant_unsupported`` or
        ``tenant_inactive``: a sync would only be skipped, so none is queued.
    """
    conn, tid = tenant.devices, tenant.tenant_id
    if conn is None:
        raise ConflictError(
            f"tenant {tid} has no device connection: its devices are synced through a "
            "partner connection (POST /api/partners) that lists it as a customer",
            code="not_configured",
        )
    partner = partner_url(conn.partner_tenant_id)
    if conn.excluded:
        raise ConflictError(
            f"tenant {tid} is excluded by its partner connection and is never queried; "
            f"remove it from `excluded` with PATCH {partner} to sync it",
            code="tenant_excluded",
        )
    if conn.unsupported_reason:
        raise ConflictError(f"tenant {tid}'s devices cannot be read: {conn.unsupported_reason}",
                            code="tenant_unsupported")
    if not conn.active:
        raise ConflictError(
            f"tenant {tid} is no longer a customer of partner {conn.partner_tenant_id} (its "
            "devices are kept as last synced); once the relationship is back, discover again "
            f"(POST {partner}/discover)",
            code="tenant_inactive",
        )
    return conn


def start_device_sync(services: Services, tenant_id: str) -> Run:
    """Queue a device sync of an onboarded tenant (see :func:`device_connection`)."""
    device_connection(services.tenants.get(tenant_id))
    return start_sync(services, tenant_id, SyncKind.DEVICES)


def queue_first_syncs(services: Services, tenant_ids: Iterable[str]) -> list[Run]:
    """Queue a device sync of each new customer; one already under way is returned instead."""
    runs = []
    for tenant_id in tenant_ids:
        try:
            runs.append(start_sync(services, tenant_id, SyncKind.DEVICES))
        except ConflictError as exc:
            if exc.run_id is not None:
                # (A start that won a moment ago may not have recorded its run yet.)
                with contextlib.suppress(NotFoundError):
                    runs.append(services.runs.get(tenant_id, exc.run_id))
    return runs


def discover_and_queue(services: Services, partner_tenant_id: str) -> tuple[Discovery, list[Run]]:
    """Discover a partner's customers, then queue a first device sync of each new one.

    Raises:
        NotFoundError: ``unknown_partner``. TenantError: the customer listing failed
        (nothing was marked inactive). StorageError: storage failed (the schedule syncs new
        customers on its next run).
    """
    discovery = services.partners.discover(partner_tenant_id)
    return discovery, queue_first_syncs(services, discovery.new)
