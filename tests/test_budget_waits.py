"""Intune's budgets are per app and tenant, not per process: a run that meets a budget
another process spent (one killed mid-sync, or one the pacing never heard of) waits for its
window and ends succeeded, never partial."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from functions.core.config import DEFAULT_GRAPH_SCOPE, Settings
from functions.core.model import Run, RunStatus
from functions.core.sensitive import SecretValue
from functions.devices import batched, cycle
from functions.services import Services
from tests.conftest import Harness
from tests.inventory import connect, estate
from tests.world import Partner, World

WINDOW = 2  # seconds
BUDGET = 24  # requests a window, per app and tenant (devices and detected apps)
# One retry for an outage: a 429 must be waited out however few retries outages get.
STRICT = {"TENANTSYNC_GRAPH_MAX_RETRIES": "1"}


def customers(world: World, partner: Partner, count: int, *, apps: int = 30,
              budget: int = BUDGET) -> list[str]:
    tenants = [estate(partner, f"Customer {i}", devices=3, apps=apps).tenant
               for i in range(count)]
    world.fixture["throttling"] = {"enabled": True, "window_seconds": WINDOW,
                                   "intune_devices_per_window": budget}
    return tenants


def spend_the_budget(harness: Harness, partner: Partner, tenant_id: str) -> None:
    """What a process killed mid-sync had sent: the whole window's budget."""
    assert harness.sim is not None
    token = harness.services.tokens.token(tenant_id, partner.inventory_app,
                                          SecretValue(partner.inventory_secret),
                                          DEFAULT_GRAPH_SCOPE)
    url = f"{harness.sim.base_url}/v1.0/deviceManagement/managedDevices"
    answers = [requests.get(url, headers={"Authorization": f"Bearer {token}"},
                            verify=harness.sim.ca_path, timeout=10).status_code
               for _ in range(BUDGET + 1)]
    assert answers[-1] == 429  # spent


def all_read(harness: Harness, runs: list[Run], tenants: list[str], apps: int = 30) -> None:
    assert [(r.status, r.error_code) for r in runs] == [(RunStatus.SUCCEEDED, "")] * len(tenants)
    for tenant_id in tenants:
        assert len(list(harness.services.inventory.detected_apps(tenant_id))) == apps


@pytest.mark.slow
def test_runs_started_again_after_a_kill_wait_for_the_window_the_dead_process_spent(
    harness: Harness, world: World
) -> None:
    partner = Partner(world)
    tenants = customers(world, partner, 6)
    # Our pacing knows the budget, as in Azure it knows Intune's, but not what was spent.
    harness.start(TENANTSYNC_INTUNE_BUDGET=str(BUDGET),
                  TENANTSYNC_INTUNE_WINDOW_SECONDS=str(WINDOW), **STRICT)
    connect(harness, partner)
    for tenant_id in tenants:
        spend_the_budget(harness, partner, tenant_id)
    assert harness.sim is not None
    harness.sim.reset_stats()
    runs = harness.services.runner.run_many("devices", tenants, "queue")
    all_read(harness, runs, tenants)
    assert harness.sim.stats()["budget_throttled"]["devices"] > 0  # the budget was met


@pytest.mark.slow
def test_two_processes_stay_inside_budgets_they_do_not_know_and_none_ends_partial(
    harness: Harness, world: World
) -> None:
    partner = Partner(world)
    # 60 apps' devices a tenant against 10 requests a window: most requests meet a full one.
    tenants = customers(world, partner, 6, apps=60, budget=10)
    # The pacing left at Intune's 2,000 per 20 s: the simulator's smaller budget bites.
    harness.start(TENANTSYNC_WORKER_PROCESSES="2", **STRICT)
    connect(harness, partner)
    assert harness.sim is not None
    harness.sim.reset_stats()
    try:
        runs = harness.services.runner.run_many("devices", tenants, "queue")
    finally:
        harness.services.runner.close()
    all_read(harness, runs, tenants, apps=60)
    assert harness.sim.stats()["budget_throttled"]["devices"] > 0


class Killed(BaseException):
    """The worker's instance is recycled: nothing after this point runs."""


@pytest.mark.slow
def test_a_sync_started_again_right_after_its_process_was_killed_ends_succeeded(
    harness: Harness, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    partner = Partner(world)
    [tenant] = customers(world, partner, 1, apps=40)
    harness.start(TENANTSYNC_INTUNE_BUDGET=str(BUDGET),
                  TENANTSYNC_INTUNE_WINDOW_SECONDS=str(WINDOW),
                  TENANTSYNC_RUN_LEASE_SECONDS="1", **STRICT)
    connect(harness, partner)
    real = batched.read_details

    def dies_once_the_software_is_read(batch: Any, ids: list[str], deadline: Any) -> Any:
        raise Killed  # the apps' devices read, nothing saved: the budget spent, unrecorded

    monkeypatch.setattr(cycle, "read_details", dies_once_the_software_is_read)
    with pytest.raises(Killed):
        harness.services.runner.run_one("devices", tenant, "queue")
    monkeypatch.setattr(cycle, "read_details", real)
    assert harness.sim is not None
    harness.sim.reset_stats()
    time.sleep(1.1)  # its lease runs out: the new process takes the tenant over at once
    # A new process: its pacer knows nothing of what the dead one sent.
    restarted = Services(Settings.from_env(harness.env))
    run = restarted.runner.run_one("devices", tenant, "queue")
    assert (run.status, run.error_code) == (RunStatus.SUCCEEDED, "")
    assert len(list(restarted.inventory.detected_apps(tenant))) == 40
    assert harness.sim.stats()["budget_throttled"]["devices"] > 0  # the dead one's window
