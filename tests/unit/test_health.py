"""A tenant's health after a run, whether the timer starts it, and whether a run is alive
(pure functions)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from functions.core.config import Settings
from functions.core.model import (
    DeviceConnection,
    DirectoryConnection,
    Health,
    Run,
    RunStatus,
    SyncKind,
    SyncState,
    TenantRecord,
)
from functions.storage.health import HealthChange, happened, move
from functions.sync.engine import alive
from functions.sync.health import next_health, schedulable

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
SETTINGS = Settings(quarantine_after=3, quarantine_backoff_minutes=60, secret_warning_days=30,
                    run_lease_seconds=120, queued_run_timeout_seconds=900)


def _run(status: RunStatus, code: str = "", kind: str = "directory") -> Run:
    return Run("0000000000001-00000000", "t", kind, "timer", NOW, status=status,
               error_code=code, error="why" if code else "")


@pytest.mark.parametrize(("code", "health"), [
    ("consent_missing", Health.CONSENT_MISSING), ("app_not_found", Health.CONSENT_MISSING),
    ("permission_missing", Health.PERMISSION_MISSING), ("secret_expired", Health.SECRET_EXPIRED),
    ("intune_not_licensed", Health.INTUNE_NOT_LICENSED), ("graph_error", Health.FAILING),
    ("invalid_secret", Health.FAILING), ("run_abandoned", Health.FAILING),
])
def test_a_failure_gives_the_health_its_code_means(code: str, health: Health) -> None:
    state = SyncState(health=Health.HEALTHY)
    next_health(state, _run(RunStatus.FAILED, code), NOW, SETTINGS)
    assert (state.health, state.health_since, state.last_error_code) == (health, NOW, code)
    assert state.consecutive_failures == 1


def test_repeated_failures_quarantine_until_the_back_off_ends() -> None:
    state = SyncState()
    for _ in range(3):
        next_health(state, _run(RunStatus.PARTIAL, "graph_error"), NOW, SETTINGS)
    assert state.health == Health.QUARANTINED
    assert state.quarantined_until == NOW + timedelta(minutes=60)
    next_health(state, _run(RunStatus.SUCCEEDED), NOW, SETTINGS)
    assert (state.health, state.consecutive_failures, state.quarantined_until) == (
        Health.HEALTHY, 0, None)


@pytest.mark.parametrize(("days", "health"), [
    (40, Health.HEALTHY), (10, Health.SECRET_EXPIRING), (-1, Health.SECRET_EXPIRED)])
def test_a_success_warns_of_a_secret_near_expiry(days: int, health: Health) -> None:
    state = SyncState(secret_expires_on=NOW + timedelta(days=days))
    next_health(state, _run(RunStatus.SUCCEEDED), NOW, SETTINGS)
    assert state.health == health


@pytest.mark.parametrize("code", ["excluded", "inactive", "unsupported"])
def test_a_standing_reason_is_shown_but_never_counted_as_a_failure(code: str) -> None:
    state = SyncState(consecutive_failures=2)
    next_health(state, _run(RunStatus.SKIPPED, code, "devices"), NOW, SETTINGS)
    assert state.health == Health(code)
    assert state.consecutive_failures == 2


@pytest.mark.parametrize("code", ["duplicate_delivery", "run_not_started"])
def test_our_own_bookkeeping_leaves_the_state_as_it_was(code: str) -> None:
    state = SyncState(health=Health.HEALTHY, health_since=NOW - timedelta(days=1))
    before = replace(state)
    status = RunStatus.SKIPPED if code == "duplicate_delivery" else RunStatus.FAILED
    next_health(state, _run(status, code), NOW, SETTINGS)
    assert state == before


def test_the_timer_starts_only_connected_enabled_and_unquarantined_tenants() -> None:
    directory = DirectoryConnection("t", "c", "g", "s", "n")
    tenant = TenantRecord("t", directory=directory)
    assert schedulable(tenant, "directory", NOW)
    assert not schedulable(tenant, "devices", NOW)  # no device connection
    assert not schedulable(replace(tenant, enabled=False), "directory", NOW)
    held = replace(tenant, directory_state=SyncState(quarantined_until=NOW + timedelta(1)))
    assert not schedulable(held, "directory", NOW)
    assert schedulable(held, "directory", NOW + timedelta(days=2))
    devices = DeviceConnection("t", "p", "c", "n")
    for connection in (replace(devices, active=False), replace(devices, excluded=True),
                       replace(devices, unsupported_reason="reseller")):
        assert not schedulable(replace(tenant, devices=connection), "devices", NOW)
    assert schedulable(replace(tenant, devices=devices), "devices", NOW)


def test_a_run_is_alive_while_its_lease_or_queue_time_lasts() -> None:
    running = replace(_run(RunStatus.RUNNING), lease_until=NOW + timedelta(seconds=1))
    assert alive(running, NOW, SETTINGS)
    assert not alive(running, NOW + timedelta(seconds=2), SETTINGS)
    assert not alive(replace(running, lease_until=None), NOW, SETTINGS)
    queued = replace(_run(RunStatus.QUEUED), queued_at=NOW)
    assert alive(queued, NOW + timedelta(seconds=899), SETTINGS)
    assert not alive(queued, NOW + timedelta(seconds=900), SETTINGS)
    assert not alive(_run(RunStatus.SUCCEEDED), NOW, SETTINGS)


def _change(previous: Health, at_previous: int | None, health: Health, at: int,
            event: str) -> HealthChange:
    def minute(m: int | None) -> datetime | None:
        return None if m is None else NOW + timedelta(minutes=m)

    return HealthChange("t", SyncKind.DIRECTORY, previous, minute(at_previous), health,
                        minute(at), event_id=event)


def test_the_stored_state_proves_which_pending_changes_of_health_were_written() -> None:
    first = _change(Health.UNKNOWN, None, Health.HEALTHY, 1, "a")
    second = _change(Health.HEALTHY, 1, Health.FAILING, 2, "b")
    never = _change(Health.FAILING, 2, Health.QUARANTINED, 3, "c")  # its write failed
    stored = SyncState(health=Health.FAILING, health_since=NOW + timedelta(minutes=2))
    assert happened([first, second, never], stored) == [first, second]
    # Written, then overwritten by a later change that was also written: both happened.
    later = _change(Health.FAILING, 2, Health.HEALTHY, 4, "d")
    again = SyncState(health=Health.HEALTHY, health_since=NOW + timedelta(minutes=4))
    assert happened([first, second, never, later], again) == [first, second, later]
    assert happened([never], stored) == []
    assert happened([], stored) == []


def test_moving_to_the_same_health_is_no_change() -> None:
    state = SyncState(health=Health.HEALTHY, health_since=NOW)
    assert not move(state, Health.HEALTHY, NOW + timedelta(hours=1))
    assert state.health_since == NOW
    assert move(state, Health.FAILING, NOW + timedelta(hours=1))
    assert (state.health, state.health_since) == (Health.FAILING, NOW + timedelta(hours=1))
