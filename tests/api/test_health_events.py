"""Every change of a side's health, whatever made it (a run, discovery, a released or
discarded hold), reaches telemetry, the change feed and the webhooks exactly once; a
transition to the same health reaches none of them (issue 22). Azurite + simulator."""

from __future__ import annotations

import json
import logging

import pytest

from functions.core.changes import HEALTH_ENTITY
from functions.core.model import Health, SyncKind
from functions.webhooks.model import HEALTH_CHANGED
from tests.api.conftest import Api, run_queued_jobs
from tests.conftest import Harness
from tests.test_devices import connect
from tests.world import Partner, World

HOOK = "https://127.0.0.1:9/hook"  # never called: the tests read the recorded deliveries


def start(harness: Harness) -> str:
    """Start the stack with one subscription to every tenant's health; its id."""
    harness.start(TENANTSYNC_WEBHOOK_ALLOW_PRIVATE="true")
    subscription, _ = harness.services.webhooks.subscribe(HOOK, [HEALTH_CHANGED], [])
    return subscription.id


def told(harness: Harness, subscription_id: str, tenant_id: str) -> list[tuple[str, str, str]]:
    """(side, previous, health) of each health_changed delivery of a tenant, oldest first."""
    found = []
    for delivery in harness.services.webhook_tables.deliveries(subscription_id):
        data = json.loads(delivery.payload)["data"]
        if data["tenantId"] == tenant_id:
            found.append((data["since"], data["kind"], data["previousHealth"], data["health"]))
    return [f[1:] for f in sorted(found)]


def in_feed(harness: Harness, tenant_id: str) -> list[tuple[str, str]]:
    """(side, health) of each health entry of a tenant's change feed, in order."""
    page = harness.services.feed.page(tenant_id, None, 1000)
    return [(e.change.entity_id, e.change.name) for e in page.entries
            if e.change.entity == HEALTH_ENTITY]


def in_telemetry(caplog: pytest.LogCaptureFixture, tenant_id: str) -> list[tuple[str, str]]:
    return [(r.kind, r.health) for r in caplog.records  # type: ignore[attr-defined]
            if getattr(r, "event", "") == "tenantsync.health"
            and getattr(r, "tenant_id", "") == tenant_id]


@pytest.mark.slow
def test_discovery_marking_customers_excluded_inactive_or_unsupported_tells_it_once(
    harness: Harness, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tenantsync")
    partner = Partner(world)
    keep, drop = partner.customer("Keep"), partner.customer("Drop")
    indirect = partner.customer("Indirect", relationship="none")
    subscription = start(harness)
    connect(harness, partner, "partner-center", excluded=[drop])
    harness.services.partners.discover(partner.id)
    assert told(harness, subscription, drop) == [("devices", "unknown", "excluded")]
    assert told(harness, subscription, indirect) == [("devices", "unknown", "unsupported")]
    assert told(harness, subscription, keep) == []  # new and not yet synced: still unknown
    assert in_feed(harness, drop) == [("devices", "excluded")]
    assert in_telemetry(caplog, indirect) == [("devices", "unsupported")]

    # Discovered again, nothing changed: nothing is told again.
    harness.services.partners.discover(partner.id)
    assert told(harness, subscription, drop) == [("devices", "unknown", "excluded")]
    assert in_feed(harness, drop) == [("devices", "excluded")]

    # The partner goes: its customers become inactive, each told once.
    harness.services.partners.remove(partner.id)
    assert told(harness, subscription, keep) == [("devices", "unknown", "inactive")]
    assert told(harness, subscription, drop) == [("devices", "unknown", "excluded"),
                                                 ("devices", "excluded", "inactive")]
    assert in_feed(harness, keep) == [("devices", "inactive")]
    assert in_telemetry(caplog, keep) == [("devices", "inactive")]
    assert not harness.services.outbox.pending(keep)  # nothing left behind


def _held(harness: Harness, world: World) -> tuple[str, str]:
    """A tenant whose directory sync the deletion guard holds back; (tenant, subscription)."""
    t = world.tenant()
    members = [t.user(f"User {i:02d}") for i in range(12)]
    t.add(t.level0, *members)
    subscription = start(harness)
    harness.onboard(t)
    harness.sync(t)
    assert harness.sim is not None
    for uid in members[:11]:
        harness.sim.remove_member(t.id, t.level0, uid)
    assert harness.sync(t).error_code == "deletion_guard"
    assert told(harness, subscription, t.id) == [("directory", "unknown", "healthy"),
                                                 ("directory", "healthy", "deletion_held")]
    return t.id, subscription


@pytest.mark.slow
def test_discarding_a_held_sync_tells_the_change_of_health(
    harness: Harness, world: World, api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tenantsync")
    tenant_id, subscription = _held(harness, world)
    assert api.delete(f"/api/tenants/{tenant_id}/directory/held").status_code == 204
    assert told(harness, subscription, tenant_id)[2:] == [
        ("directory", "deletion_held", "healthy")]
    assert in_feed(harness, tenant_id) == [("directory", "healthy"),
                                           ("directory", "deletion_held"),
                                           ("directory", "healthy")]
    assert in_telemetry(caplog, tenant_id)[-1] == ("directory", "healthy")


@pytest.mark.slow
def test_releasing_a_held_sync_tells_the_change_of_health(
    harness: Harness, world: World, api: Api
) -> None:
    tenant_id, subscription = _held(harness, world)
    release = api.post(f"/api/tenants/{tenant_id}/directory/sync",
                       json={"allowMassDeletion": True})
    assert release.status_code == 202, release.text
    run_queued_jobs(harness, "directory")
    assert told(harness, subscription, tenant_id)[2:] == [
        ("directory", "deletion_held", "healthy")]
    assert in_feed(harness, tenant_id)[2:] == [("directory", "healthy")]


def test_a_transition_to_the_same_health_tells_nothing(
    harness: Harness, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tenantsync")
    t = world.tenant()
    t.add(t.level0, t.user("Only"))
    subscription = start(harness)
    harness.onboard(t)
    harness.sync(t)
    assert told(harness, subscription, t.id) == [("directory", "unknown", "healthy")]
    caplog.clear()
    position = harness.services.feed.position(t.id)
    tenant = harness.services.tenants.get(t.id)
    assert harness.services.health.set(tenant, SyncKind.DIRECTORY, Health.HEALTHY) is None
    harness.sync(t, full=True)  # healthy again: no change
    assert told(harness, subscription, t.id) == [("directory", "unknown", "healthy")]
    assert harness.services.feed.position(t.id) == position
    assert in_telemetry(caplog, t.id) == []
    assert not harness.services.outbox.pending(t.id)
