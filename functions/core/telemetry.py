"""Telemetry events (docs/telemetry.md) as structured log records.

In Azure the OpenTelemetry distro ships log records to Application Insights, where each
``extra`` key becomes a ``customDimensions`` column; locally they go to the console.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime

from functions.core.model import Run, SyncKind

log = logging.getLogger("tenantsync.telemetry")

_configured = False


def configure_azure_monitor() -> bool:
    """Turn on the Azure Monitor exporter when Application Insights is configured.

    Returns whether it was turned on. Off locally (no connection string) and when the
    distro is not installed.
    """
    global _configured
    if _configured or not os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING"):
        return _configured
    if os.environ.get("PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY", "").lower() == "true":
        # The Python worker has already configured the distro for the logger named in
        # PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME; a second configuration would export
        # every event twice.
        return False
    try:
        from azure.monitor.opentelemetry import configure_azure_monitor as configure
    except ImportError:
        return False
    configure(logger_name="tenantsync")
    _configured = True
    return True


def emit(event: str, **dimensions: str | int) -> None:
    log.info(event, extra={"event": event, **dimensions})


def run_finished(run: Run) -> None:
    totals = run.totals
    emit(
        "tenantsync.run",
        run_id=run.run_id,
        tenant_id=run.tenant_id,
        kind=run.kind,
        trigger=run.trigger,
        status=run.status.value,
        created_count=totals.created,  # `created` is reserved on LogRecord
        updated=totals.updated,
        unchanged=totals.unchanged,
        marked_deleted=run.users.marked_deleted + run.groups.marked_deleted,
        restored=totals.restored,
        retired=run.devices.marked_deleted,
        ignored=sum(run.ignored.values()),
        graph_requests=run.graph_requests,
        throttled=run.throttled,
        duration_ms=run.duration_ms,
        cpu_ms=run.cpu_ms,
        storage_operations=run.storage_operations,
        error_code=run.error_code,
    )


def health_changed(tenant_id: str, kind: SyncKind, health: str, previous: str,
                   error_code: str) -> None:
    emit(
        "tenantsync.health",
        tenant_id=tenant_id,
        kind=kind,
        health=health,
        previous_health=previous,
        error_code=error_code,
    )


def secret_expiry(tenant_id: str, kind: SyncKind, expires_on: datetime, now: datetime) -> None:
    emit(
        "tenantsync.secret_expiry",
        tenant_id=tenant_id,
        kind=kind,
        expires_on=expires_on.isoformat(),
        days_left=int((expires_on - now).total_seconds() // 86400),
    )


def schedule_fired(kind: SyncKind, enqueued: int, skipped: int) -> None:
    emit("tenantsync.schedule", kind=kind, enqueued=enqueued, skipped=skipped)
