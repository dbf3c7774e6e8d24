"""Graph change notifications end to end: the simulator validates the live API, delivers
notifications after a change, and the API refuses what is not this deployment's."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

import pytest

from functions.core.model import Health, RunStatus, SyncKind, Trigger, utcnow
from functions.notifications.model import SubscriptionRecord
from functions.notifications.receiver import REPLAY_WINDOW
from functions.sync.notified import Triggered
from tests.api.conftest import Api, LiveServer, queued_jobs, run_queued_jobs
from tests.conftest import Harness
from tests.notify_helpers import (
    body,
    graph_subscriptions,
    notification,
    start_notified,
    wait_for,
)
from tests.world import DIRECTORY_ROLES, World

NOTIFY = "/api/notifications/graph"


def _refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [str(r.__dict__["reason"]) for r in caplog.records
            if r.__dict__.get("event") == "tenantsync.notification_refused"]


def _notification_runs(harness: Harness, tenant_id: str) -> list[str]:
    return [r.run_id for r in harness.services.runs.recent(tenant_id)
            if r.trigger == Trigger.NOTIFICATION]


def test_the_handshake_echoes_the_token_as_plain_text_only(harness: Harness, api: Api) -> None:
    harness.start()
    token = "<script>alert('x')</script> & Validation: ok"
    answer = api.post(NOTIFY, params={"validationToken": token})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.text == token  # the decoded token, as it came, never escaped into markup
    twice = api.post(f"{NOTIFY}?validationToken=a&validationToken=b")
    assert twice.status_code == 400


def test_a_tenant_subscribes_to_its_users_and_tracked_groups(
        harness: Harness, world: World, api: Api, live_server: LiveServer) -> None:
    tenant, ids = start_notified(harness, world, live_server.base_url)
    made = graph_subscriptions(harness)
    assert sorted(s["resource"] for s in made) == sorted([
        "/users", f"/groups/{tenant.level0}/members", f"/groups/{ids['management']}/members"])
    assert {s["notificationUrl"] for s in made} == {live_server.base_url + NOTIFY}
    status = api.get(f"/api/tenants/{tenant.id}/notifications").json()
    assert status["health"] == "active"
    assert {s["id"] for s in status["subscriptions"]} == {s["id"] for s in made}
    stored = repr(harness.entities()) + json.dumps(status)
    assert all(s["clientState"] not in stored for s in made)  # only in Key Vault
    assert len({s["clientState"] for s in made}) == 3  # one secret per subscription


def test_a_new_tenant_subscribes_right_after_its_first_successful_sync(
        harness: Harness, world: World, live_server: LiveServer) -> None:
    tenant, ids = start_notified(harness, world, live_server.base_url, subscribe=False)
    assert graph_subscriptions(harness) == []  # made from the queue, not by the run itself
    assert harness.services.notified.drain() == 1  # no upkeep timer was needed
    made = graph_subscriptions(harness)
    assert sorted(s["resource"] for s in made) == sorted([
        "/users", f"/groups/{tenant.level0}/members", f"/groups/{ids['management']}/members"])
    status = harness.services.subscriptions.status(tenant.id)
    assert status is not None and status.health.value == "active"
    harness.sync(tenant)  # not its first: the upkeep keeps them from here
    assert harness.services.notified.drain() == 0
    assert len(graph_subscriptions(harness)) == 3


def test_without_notifications_a_first_sync_queues_no_subscription(
        harness: Harness, world: World) -> None:
    t = harness.start_onboarded()
    assert harness.sync(t).status == RunStatus.SUCCEEDED
    assert harness.services.notified.drain() == 0
    assert harness.sim is not None and harness.sim.subscriptions() == []


@pytest.mark.slow
def test_a_change_in_the_simulator_reaches_the_tables_through_a_notification(
        harness: Harness, world: World, live_server: LiveServer) -> None:
    tenant, ids = start_notified(harness, world, live_server.base_url)
    assert harness.sim is not None
    harness.sim.upsert_object(tenant.id, "users", {
        "id": ids["tom"], "displayName": "Tom Renamed", "mail": "tom@contoso.example",
        "userPrincipalName": "tom@contoso.onmicrosoft.com"})
    assert wait_for(lambda: queued_jobs(harness)), "no sync was queued by the notification"
    assert run_queued_jobs(harness, "directory") == 1
    assert harness.users(tenant)[ids["tom"]].display_name == "Tom Renamed"
    [run_id] = _notification_runs(harness, tenant.id)
    assert harness.services.runs.get(tenant.id, run_id).status == RunStatus.SUCCEEDED


@pytest.mark.slow
def test_many_notifications_for_one_tenant_become_one_run(
        harness: Harness, world: World, api: Api, live_server: LiveServer) -> None:
    tenant, ids = start_notified(harness, world, live_server.base_url)
    users = next(s for s in graph_subscriptions(harness) if s["resource"] == "/users")
    for _ in range(4):
        answer = api.post(NOTIFY, data=body(notification(users, ids["tom"]),
                                            notification(users, ids["john"])))
        assert answer.status_code == 202
        assert answer.json() == {"accepted": 2, "refused": 0}
    assert len(queued_jobs(harness)) == 1
    assert len(_notification_runs(harness, tenant.id)) == 1


@pytest.mark.parametrize("case", ["wrong_client_state", "unknown_subscription", "replay",
                                  "malformed", "oversized", "removed"])
@pytest.mark.slow
def test_what_is_not_ours_is_refused_counted_and_changes_nothing(
        harness: Harness, world: World, api: Api, live_server: LiveServer,
        caplog: pytest.LogCaptureFixture, case: str) -> None:
    tenant, ids = start_notified(harness, world, live_server.base_url)
    users = next(s for s in graph_subscriptions(harness) if s["resource"] == "/users")
    good = notification(users, ids["tom"])
    if case == "replay":
        assert api.post(NOTIFY, data=body(good)).status_code == 202
        run_queued_jobs(harness, "directory")
    before = (harness.entities(), queued_jobs(harness))
    caplog.set_level(logging.INFO)
    sent = {
        "wrong_client_state": body(notification(users, ids["tom"], client_state="x" * 64)),
        "unknown_subscription": body({**good, "subscriptionId": ids["tom"]}),
        "replay": body(good),
        "malformed": b'{"value": [',
        "oversized": body(*[good] * 200),
        "removed": body(good),
    }[case]
    if case == "removed":
        harness.services.subscriber.remove_tenant(tenant.id)
        before = (harness.entities(), queued_jobs(harness))
    answer = api.post(NOTIFY, data=sent)
    expected = {"malformed": (400, "invalid_json"), "oversized": (413, "body_too_large")}.get(
        case, (403, "notification_refused"))
    assert (answer.status_code, answer.json()["error"]["code"]) == expected
    assert (harness.entities(), queued_jobs(harness)) == before
    if case != "oversized":  # the API's own body limit answers before anything is read
        reason = {"removed": "unknown_subscription"}.get(case, case)
        assert _refusals(caplog) == [reason]


def test_a_notification_while_a_run_reads_waits_and_starts_the_next_run(
        harness: Harness, world: World, live_server: LiveServer) -> None:
    tenant, _ = start_notified(harness, world, live_server.base_url, subscribe=False)
    services = harness.services
    assert services.notified.drain() == 1  # the first sync's subscriptions, made now
    services.notified.retry_seconds = 0  # the message visible at once, not in 10 s
    job = services.starter.start(tenant.id, SyncKind.DIRECTORY, Trigger.HTTP)
    run = services.runs.get(tenant.id, job.run_id or "")
    run.status, run.lease_until = RunStatus.RUNNING, utcnow() + timedelta(minutes=2)
    services.runs.save(run)
    assert services.notified.trigger(tenant.id) == Triggered.WAITING
    [message] = services.notification_queue.receive(visibility_seconds=30)
    run.status, run.ended_at = RunStatus.SUCCEEDED, utcnow()
    services.runs.save(run)
    services.notified.handle(message.text)
    assert len(_notification_runs(harness, tenant.id)) == 1


def test_a_waiting_trigger_looks_again_after_a_second_at_first(
        harness: Harness, world: World, live_server: LiveServer) -> None:
    tenant, _ = start_notified(harness, world, live_server.base_url)
    services = harness.services
    job = services.starter.start(tenant.id, SyncKind.DIRECTORY, Trigger.HTTP)
    run = services.runs.get(tenant.id, job.run_id or "")
    run.status, run.lease_until = RunStatus.RUNNING, utcnow() + timedelta(minutes=2)
    services.runs.save(run)
    queue = services.notification_queue
    sent = time.monotonic()
    assert services.notified.trigger(tenant.id) == Triggered.WAITING
    # Visible after a second (a run that wrote is finishing), not after RETRY_SECONDS.
    [first] = wait_for(lambda: queue.receive(visibility_seconds=30), timeout=4.0)
    assert time.monotonic() - sent < 4.5
    queue.delete(first)
    late = utcnow() - timedelta(seconds=30)  # a trigger waiting for long: every 5 s
    assert services.notified.trigger(tenant.id, since=late) == Triggered.WAITING
    time.sleep(2.0)
    assert queue.receive(visibility_seconds=30) == []


@pytest.mark.slow
def test_subscriptions_are_renewed_before_they_expire_and_made_again_when_gone(
        harness: Harness, world: World, live_server: LiveServer) -> None:
    tenant, _ = start_notified(harness, world, live_server.base_url)
    services, sim = harness.services, harness.sim
    assert sim is not None
    first = {s["resource"]: s for s in graph_subscriptions(harness)}
    soon = utcnow() + timedelta(days=1)
    for record in services.subscriptions.of_tenant(tenant.id):
        services.subscriptions.save(SubscriptionRecord(
            record.tenant_id, record.subscription_id, record.resource, soon,
            record.secret_name, record.created_at))
    sim.remove_subscription(first["/users"]["id"])  # Graph deleted it meanwhile
    group = f"/groups/{tenant.level0}/members"
    table = services.subscriptions
    table.first_sighting(first[group]["id"], b"old", utcnow() - timedelta(hours=5), REPLAY_WINDOW)
    table.first_sighting(first[group]["id"], b"new", utcnow(), REPLAY_WINDOW)
    assert services.subscriber.ensure(tenant.id).health == "active"
    seen = [e for e in harness.entities() if e["_table"].endswith("notified")]
    assert len(seen) == 1  # past the replay window, a sighting is pruned
    now = {s["resource"]: s for s in graph_subscriptions(harness)}
    assert now["/users"]["id"] != first["/users"]["id"]  # made again
    assert now[group]["id"] == first[group]["id"]  # renewed in place
    assert now[group]["expirationDateTime"] > first[group]["expirationDateTime"]
    stored = {r.resource: r for r in services.subscriptions.of_tenant(tenant.id)}
    assert stored[group].expires_at > utcnow() + timedelta(days=20)
    assert stored["/users"].subscription_id == now["/users"]["id"]


@pytest.mark.slow
def test_reauthorization_required_is_answered_from_the_queue(
        harness: Harness, world: World, live_server: LiveServer) -> None:
    tenant, ids = start_notified(harness, world, live_server.base_url)
    sim = harness.sim
    assert sim is not None
    users = next(s for s in graph_subscriptions(harness) if s["resource"] == "/users")
    sim.require_reauthorization(users["id"])
    queue = harness.services.notification_queue
    assert wait_for(lambda: queue.peek_count()), "the lifecycle event was not queued"
    for message in queue.receive(visibility_seconds=30):
        harness.services.notified.handle(message.text)
        queue.delete(message)
    with sim.state.lock:
        assert not sim.state.subscriptions.items[users["id"]].reauthorize
    assert len(_notification_runs(harness, tenant.id)) == 1  # changes meanwhile are read
    assert ids["tom"]


def test_a_missing_permission_is_a_health_with_its_fix_and_the_timer_goes_on(
        harness: Harness, world: World, api: Api, live_server: LiveServer) -> None:
    tenant, _ = start_notified(harness, world, live_server.base_url, roles=DIRECTORY_ROLES)
    status = api.get(f"/api/tenants/{tenant.id}/notifications").json()
    assert status["health"] == "permission_missing"
    assert status["code"] == "notifications_permission_missing"
    assert "Group.Read.All" in status["message"]
    assert [s["resource"] for s in graph_subscriptions(harness)] == ["/users"]
    tenant_record = harness.services.tenants.get(tenant.id)
    assert tenant_record.directory_state.health == Health.HEALTHY  # the syncs are unharmed


def test_the_quota_is_a_health_naming_the_limit(
        harness: Harness, world: World, live_server: LiveServer) -> None:
    tenant, _ = start_notified(harness, world, live_server.base_url, subscribe=False)
    assert harness.sim is not None
    harness.sim.set_subscription_quota(1)
    status = harness.services.subscriber.ensure(tenant.id)
    assert status.health == "quota_reached"
    assert "limit" in status.message
    assert len(graph_subscriptions(harness)) == 2  # users, and the level-0 group


@pytest.mark.slow
def test_removing_a_tenant_removes_its_subscriptions_and_their_secrets(
        harness: Harness, world: World, api: Api, live_server: LiveServer) -> None:
    tenant, _ = start_notified(harness, world, live_server.base_url)
    names = [r.secret_name for r in harness.services.subscriptions.of_tenant(tenant.id)]
    assert api.delete(f"/api/tenants/{tenant.id}").status_code == 204
    assert graph_subscriptions(harness) == []
    assert harness.services.subscriptions.of_tenant(tenant.id) == []
    assert harness.sim is not None
    with harness.sim.state.lock:
        assert set(names) <= set(harness.sim.state.vault.deleted)


def test_notifications_are_off_without_the_setting(harness: Harness, world: World,
                                                   api: Api) -> None:
    tenant = harness.start_onboarded()
    fake = {"id": tenant.level0, "expirationDateTime": "2030-01-01T00:00:00Z",
            "clientState": "x", "tenantId": tenant.id}
    answer = api.post(NOTIFY, data=body(notification(fake, tenant.level0)))
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "not_configured"
    assert harness.services.subscriber.upkeep() == {}
    assert api.get(f"/api/tenants/{tenant.id}/notifications").json()["health"] == "off"


@pytest.mark.slow
def test_a_notification_is_never_taken_as_data(
        harness: Harness, world: World, api: Api, live_server: LiveServer) -> None:
    tenant, ids = start_notified(harness, world, live_server.base_url)
    users = next(s for s in graph_subscriptions(harness) if s["resource"] == "/users")
    before = {u.id: u for u in harness.users_of(tenant.id)}
    forged = notification(users, ids["tom"], changeType="deleted",
                          resourceData={"id": ids["tom"], "displayName": "Evil",
                                        "accountEnabled": False})
    assert api.post(NOTIFY, data=body(forged)).status_code == 202
    assert run_queued_jobs(harness, "directory") == 1  # it only started a sync ...
    assert {u.id: u for u in harness.users_of(tenant.id)} == before  # ... which read Graph


@pytest.mark.slow
def test_a_subscription_graph_no_longer_has_is_made_again_after_its_lifecycle_event(
        harness: Harness, world: World, api: Api, live_server: LiveServer) -> None:
    tenant, _ = start_notified(harness, world, live_server.base_url)
    assert harness.sim is not None
    users = next(s for s in graph_subscriptions(harness) if s["resource"] == "/users")
    harness.sim.remove_subscription(users["id"])  # reauthorize will answer 404
    event = {"subscriptionId": users["id"], "tenantId": tenant.id,
             "clientState": users["clientState"], "lifecycleEvent": "reauthorizationRequired",
             "subscriptionExpirationDateTime": users["expirationDateTime"]}
    answer = api.post("/api/notifications/lifecycle", data=body(event))
    assert answer.status_code == 202
    queue = harness.services.notification_queue
    for message in queue.receive(visibility_seconds=30):
        harness.services.notified.handle(message.text)
        queue.delete(message)
    again = next(s for s in graph_subscriptions(harness) if s["resource"] == "/users")
    assert again["id"] != users["id"] and again["clientState"] != users["clientState"]
    stored = {r.resource: r.subscription_id
              for r in harness.services.subscriptions.of_tenant(tenant.id)}
    assert stored["/users"] == again["id"]
