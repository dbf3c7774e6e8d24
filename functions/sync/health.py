"""A tenant's health after a run, and whether the timer may start it (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta

from functions.core.codes import PROGRESSING, STANDING, WAITING, outcome
from functions.core.config import Settings
from functions.core.kinds import KINDS
from functions.core.model import Health, Run, RunStatus, SyncKind, SyncState, TenantRecord
from functions.storage.health import move


def next_health(state: SyncState, run: Run, now: datetime, settings: Settings) -> None:
    """Update a tenant's state for one kind of sync after a run (pure, in place).

    The health a failure gives comes from the one table of error codes
    (``functions.core.codes``); a run whose code has no bearing on the tenant (a duplicate
    delivery, a run that never started) leaves the state as it was.
    """
    meaning = outcome(run.error_code) if run.error_code else None
    if meaning is not None and meaning.health is None:
        return
    if meaning is not None and meaning.health in STANDING | WAITING | PROGRESSING:
        # Excluded, inactive, unsupported, awaiting a group: why the tenant is not queried;
        # a sync held back by the deletion guard waits for a person; in progress: a read
        # that saved its progress for the next run. None of them is a failure.
        state.last_error_code, state.last_error = run.error_code, run.error
        health = meaning.health
    elif run.status in (RunStatus.FAILED, RunStatus.PARTIAL):
        # A partial run wrote what it could, but something keeps it from a complete read.
        state.consecutive_failures += 1
        state.last_error_code, state.last_error = run.error_code, run.error
        health = meaning.health if meaning and meaning.health else Health.FAILING
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
    move(state, health, now)


def schedulable(tenant: TenantRecord, kind: SyncKind, now: datetime) -> bool:
    """Whether the timer should enqueue this tenant's sync of ``kind`` now."""
    if not (tenant.enabled and KINDS.get(kind).connected(tenant)):
        return False
    until = tenant.state(kind).quarantined_until
    return until is None or until <= now
