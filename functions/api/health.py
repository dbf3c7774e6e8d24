"""Whether the app can reach what it needs: Table Storage and Key Vault.

Shared by the API's health route and the anonymous ``health`` function. The answer holds
states and error codes only, since the anonymous endpoint is open to anyone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from functions.api.models import ComponentHealth, HealthReport
from functions.core.errors import TenantSyncError
from functions.services import get_services

log = logging.getLogger("tenantsync.api")


def _probe(check: Callable[[], None]) -> ComponentHealth:
    try:
        check()
    except TenantSyncError as exc:
        return ComponentHealth(status="unavailable", code=exc.code)
    except Exception:
        log.exception("health check crashed")
        return ComponentHealth(status="unavailable", code="internal_error")
    return ComponentHealth(status="ok")


def check_health() -> HealthReport:
    """Ping storage and Key Vault; never raises."""
    try:
        services = get_services()
    except TenantSyncError as exc:
        down = ComponentHealth(status="unavailable", code=exc.code)
        return HealthReport(status="unavailable", storage=down, keyVault=down)
    storage = _probe(lambda: services.tables.ping())
    vault = _probe(lambda: services.secrets.ping())
    ok = storage.status == vault.status == "ok"
    return HealthReport(status="ok" if ok else "unavailable", storage=storage, keyVault=vault)
