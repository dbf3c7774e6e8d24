"""A tenant's health after a run, and whether the timer may start it (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta

from functions.core.config import Settings
from functions.core.model import Health, Run, RunStatus, SyncState, TenantRecord

# Error code -> the health it means; any other failure is "failing".
HEALTH_BY_ERROR = {
    "secret_expired": Health.SECRET_EXPIRED,
    "app_not_found": Health.CONSENT_MISSING,
    "consent_missing": Health.CONSENT_MISSING,
    "permission_missing": Health.PERMISSION_MISSING,
    "intune_not_licensed": Health.INTUNE_NOT_LICENSED,
    "excluded": Health.EXCLUDED,
    "inactive": Health.INACTIVE,
    "unsupported": Health.UNSUPPORTED,
}


# Runs skipped for these reasons say something about the tenant, not a failure.
_STANDING = frozenset({"excluded", "inactive", "unsupported"})


def next_health(state: SyncState, run: Run, now: datetime, settings: Settings) -> None:
    """Update a tenant's state for one kind of sync after a run (pure, in place)."""
    if run.error_code in _STANDING:
        state.last_error_code, state.last_error = run.error_code, run.error
        health = HEALTH_BY_ERROR[run.error_code]
    elif run.status in (RunStatus.FAILED, RunStatus.PARTIAL):
        # A partial run wrote what it could, but something keeps it from a complete read.
        state.consecutive_failures += 1
        state.last_error_code, state.last_error = run.error_code, run.error
        health = HEALTH_BY_ERROR.get(run.error_code, Health.FAILING)
        if state.consecutive_failures >= settings.quarantine_after:
            # Retried once the back-off has passed; until then the schedule skips it.
            health = Health.QUARANTINED
            state.quarantined_until = now + timedelta(minutes=settings.quarantine_backoff_minutes)
    else:
        state.consecutive_failures = 0
        state.quarantined_until = None
        state.last_error_code, state.last_error = run.error_code, run.error
        health = Health.HEALTHY
        expires = state.secret_expires_on
        if expires and (expires - now).days < settings.secret_warning_days:
            health = Health.SECRET_EXPIRING if expires > now else Health.SECRET_EXPIRED
    if health != state.health:
        state.health, state.health_since = health, now


def schedulable(tenant: TenantRecord, kind: str, now: datetime) -> bool:
    """Whether the timer should enqueue this tenant's sync of ``kind`` now."""
    if not tenant.enabled:
        return False
    if kind == "directory":
        connected = tenant.directory is not None
    else:
        d = tenant.devices
        connected = d is not None and d.active and not d.excluded and not d.unsupported_reason
    until = tenant.state(kind).quarantined_until
    return connected and (until is None or until <= now)
