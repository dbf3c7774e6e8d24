"""One instance signs in once per tenant and reads each secret once, across runs."""

from __future__ import annotations

from typing import Any

import pytest

from functions.core.config import Settings
from functions.core.model import RunStatus
from functions.services import Services
from tests.conftest import Harness
from tests.test_devices import connect
from tests.world import Partner, World


def entra_and_vault(stats: dict[str, Any]) -> dict[str, int]:
    kinds = stats["by_path_kind"]
    return {"token": kinds.get("POST token", 0), "discovery": kinds.get("GET discovery", 0),
            "vault": kinds.get("GET keyvault", 0)}


@pytest.mark.slow
@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_second_sync_in_one_instance_asks_entra_and_key_vault_nothing(
    harness: Harness, world: World, processes: str
) -> None:
    partner = Partner(world)
    tenants = [partner.customer(f"Customer {i}", devices=3, detected=4, mobile=1)
               for i in range(6)]
    harness.start(TENANTSYNC_WORKER_PROCESSES=processes)
    connect(harness, partner)
    harness.services.partners.discover(partner.id)
    assert harness.sim is not None
    # A fresh instance: nothing cached yet.
    instance = Services(Settings.from_env(harness.env))
    try:
        harness.sim.reset_stats()
        first = instance.runner.run_many("devices", tenants, "queue")
        assert {r.status for r in first} == {RunStatus.SUCCEEDED}
        cold = entra_and_vault(harness.sim.stats())
        # One sign-in per tenant, whatever the run's parallel readers ask at once, and one
        # for the instance's own identity (Key Vault's token) per process that synced a
        # tenant: with two processes, the first may sync all six before the second is up.
        own = int(processes)
        assert cold["token"] == cold["discovery"]
        assert 6 + 1 <= cold["token"] <= 6 + own
        # One read of the shared inventory secret per process (that synced), after Key
        # Vault's auth challenge (an unauthenticated 401) in a process new to the vault.
        assert 1 <= cold["vault"] <= 2 * own
        harness.sim.reset_stats()
        again = instance.runner.run_many("devices", tenants, "queue")
        assert {r.status for r in again} == {RunStatus.SUCCEEDED}
        warm = entra_and_vault(harness.sim.stats())
        if own == 1:
            assert warm == {"token": 0, "discovery": 0, "vault": 0}
        else:
            # The runner hands tenants to whichever process is free: a tenant that lands on
            # the other process this time is new to that instance, and signs in there once
            # (never a Key Vault read: each process read the shared secret already).
            assert warm["vault"] == 0
            assert warm["token"] == warm["discovery"] <= len(tenants)
            # No tenant signed in twice in one process over both syncs.
            assert (cold["token"] - own) + warm["token"] <= own * len(tenants)
    finally:
        instance.runner.close()


def test_an_app_built_again_after_a_refusal_reads_no_discovery_again(
    harness: Harness, world: World
) -> None:
    t = harness.start_onboarded()
    assert harness.sync(t).status == RunStatus.SUCCEEDED
    assert harness.sim is not None
    harness.services.tokens.forget()  # its token has expired: the app is built anew
    harness.sim.reset_stats()
    assert harness.sync(t).status == RunStatus.SUCCEEDED
    assert entra_and_vault(harness.sim.stats()) == {"token": 1, "discovery": 0, "vault": 0}
