"""Graph change notifications through the Azure functions: anonymous endpoints whose
literal routes come before the API's catch-all, the queue function and the upkeep timer."""

from __future__ import annotations

import logging

import azure.functions as func
import pytest

from tests.conftest import Harness, indexed_functions
from tests.notify_helpers import body, graph_subscriptions, notification, serve_api, start_notified
from tests.world import World

URL = "https://app.example/api/notifications/graph"


def test_the_endpoints_are_anonymous_posts_before_the_catch_all() -> None:
    functions = indexed_functions()
    for name, route in (("graph_notifications", "notifications/graph"),
                        ("graph_lifecycle", "notifications/lifecycle")):
        binding = functions[name].get_bindings()[0]
        assert (binding.route, binding.auth_level) == (route, func.AuthLevel.ANONYMOUS)
        assert binding.methods == [func.HttpMethod.POST]
    assert functions["notification_work"].get_bindings()[0].queue_name == (
        "%TENANTSYNC_NOTIFICATION_QUEUE%")
    assert functions["notification_upkeep"].get_bindings()[0].type == "timerTrigger"


def test_the_function_echoes_the_handshake_as_plain_text(harness: Harness) -> None:
    harness.start()
    handler = indexed_functions()["graph_notifications"].get_user_function()
    answer = handler(func.HttpRequest(
        "POST", f"{URL}?validationToken=%3Cb%3Ebold%3C%2Fb%3E", body=b""))
    assert answer.status_code == 200
    assert answer.mimetype == "text/plain" or answer.headers["Content-Type"].startswith(
        "text/plain")
    assert answer.get_body() == b"<b>bold</b>"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.slow
def test_the_function_refuses_an_oversized_body_and_counts_it(
        harness: Harness, world: World, caplog: pytest.LogCaptureFixture) -> None:
    with serve_api() as base_url:
        _, ids = start_notified(harness, world, base_url)
        users = next(s for s in graph_subscriptions(harness) if s["resource"] == "/users")
        before = harness.entities()
        caplog.set_level(logging.INFO)
        handler = indexed_functions()["graph_notifications"].get_user_function()
        answer = handler(func.HttpRequest(
            "POST", URL, body=body(*[notification(users, ids["tom"])] * 200)))
        assert answer.status_code == 413
        assert [r.__dict__["reason"] for r in caplog.records
                if r.__dict__.get("event") == "tenantsync.notification_refused"] == [
            "oversized"]
        assert harness.entities() == before
        accepted = handler(func.HttpRequest("POST", URL,
                                            body=body(notification(users, ids["tom"]))))
        assert accepted.status_code == 202


@pytest.mark.slow
def test_the_upkeep_timer_subscribes_tenants_and_unsubscribes_those_no_longer_synced(
        harness: Harness, world: World) -> None:
    with serve_api() as base_url:
        tenant, _ = start_notified(harness, world, base_url, subscribe=False)
        upkeep = indexed_functions()["notification_upkeep"].get_user_function()
        upkeep(None)
        assert len(graph_subscriptions(harness)) == 3
        record = harness.services.tenants.get(tenant.id)
        record.enabled = False
        harness.services.tenants.save(record)
        upkeep(None)
        assert graph_subscriptions(harness) == []
        assert harness.services.subscriptions.of_tenant(tenant.id) == []


@pytest.mark.slow
def test_a_tenant_record_gone_leaves_graph_subscriptions_to_expire_but_none_of_ours(
        harness: Harness, world: World) -> None:
    with serve_api() as base_url:
        tenant, _ = start_notified(harness, world, base_url)
        names = [r.secret_name for r in harness.services.subscriptions.of_tenant(tenant.id)]
        harness.services.tenants.delete(tenant.id)  # no credential left to call Graph with
        indexed_functions()["notification_upkeep"].get_user_function()(None)
        assert harness.services.subscriptions.of_tenant(tenant.id) == []
        assert harness.sim is not None
        with harness.sim.state.lock:
            assert set(names) <= set(harness.sim.state.vault.deleted)
