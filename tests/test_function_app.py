"""The Azure Functions app: it indexes, the timer fans out, the queue function syncs."""

from __future__ import annotations

import asyncio
import json

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest
from azure.storage.queue import QueueClient, TextBase64DecodePolicy

from functions.api import API_FUNCTION_NAME
from functions.core.model import RunStatus
from functions.core.sensitive import SecretValue
from tests.conftest import Harness, indexed_functions
from tests.world import Partner, World, seed_example


def test_function_app_indexes_with_timer_and_queue_triggers() -> None:
    functions = indexed_functions()
    assert set(functions) >= {"directory_schedule", "directory_job", "devices_schedule",
                              "devices_job"}
    assert functions["devices_schedule"].get_bindings()[0].schedule == (
        "%TENANTSYNC_DEVICES_SCHEDULE%")
    assert functions["devices_job"].get_bindings()[0].queue_name == "%TENANTSYNC_DEVICES_QUEUE%"
    timer = functions["directory_schedule"].get_bindings()[0]
    assert timer.type == "timerTrigger"
    assert timer.schedule == "%TENANTSYNC_DIRECTORY_SCHEDULE%"
    queue = functions["directory_job"].get_bindings()[0]
    assert queue.type == "queueTrigger"
    assert queue.queue_name == "%TENANTSYNC_DIRECTORY_QUEUE%"


def _queue(harness: Harness, kind: str = "directory") -> QueueClient:
    return QueueClient.from_connection_string(
        harness.azurite.connection_string, harness.env[f"TENANTSYNC_{kind.upper()}_QUEUE"],
        message_decode_policy=TextBase64DecodePolicy(),
    )


def test_timer_enqueues_one_job_per_enabled_tenant(harness: Harness, world: World) -> None:
    tenants = [seed_example(world)[0] for _ in range(3)]
    harness.start()
    for t in tenants:
        harness.onboard(t)
    harness.services.onboarding.set_enabled(tenants[2].id, False)
    timer_fn = indexed_functions()["directory_schedule"].get_user_function()
    timer_fn(TimerRequest(past_due=False))
    messages = _queue(harness).receive_messages(max_messages=32)
    jobs = [json.loads(m.content) for m in messages]
    assert sorted(j["tenant_id"] for j in jobs) == sorted(t.id for t in tenants[:2])
    assert {j["kind"] for j in jobs} == {"directory"}
    assert {j["trigger"] for j in jobs} == {"timer"}


def test_queue_function_runs_a_sync_from_a_timer_job(harness: Harness, world: World) -> None:
    t = harness.start_onboarded()
    functions = indexed_functions()
    functions["directory_schedule"].get_user_function()(
        TimerRequest(past_due=False)
    )
    message = _queue(harness).receive_messages(max_messages=1).__next__()
    job_fn = functions["directory_job"].get_user_function()
    job_fn(func.QueueMessage(body=message.content.encode()))
    run = harness.services.runs.recent(t.id, 1)[0]
    assert run.status == RunStatus.SUCCEEDED
    assert run.trigger == "timer"
    assert len(harness.users(t)) == 5


@pytest.mark.slow
def test_queue_function_drops_a_malformed_job_without_touching_storage(
    harness: Harness, world: World
) -> None:
    t = harness.start_onboarded()
    before = harness.entities()
    job_fn = indexed_functions()["directory_job"].get_user_function()
    for body in (b"not json", b'{"tenant_id": "x", "kind": "directory"}',
                 b'{"tenant_id": "' + t.id.encode() + b'", "kind": "nuke"}'):
        job_fn(func.QueueMessage(body=body))
    assert harness.entities() == before


def test_function_app_serves_the_api_behind_a_key_and_health_without_one() -> None:
    functions = indexed_functions()
    assert set(functions) >= {API_FUNCTION_NAME, "health", "directory_schedule",
                              "directory_job"}
    api = functions[API_FUNCTION_NAME].get_bindings()[0]
    assert api.type == "httpTrigger"
    assert api.route == "/{*route}"
    assert api.auth_level == func.AuthLevel.FUNCTION
    health = functions["health"].get_bindings()[0]
    assert health.type == "httpTrigger"
    assert health.route == "health"
    assert health.auth_level == func.AuthLevel.ANONYMOUS
    assert health.methods == [func.HttpMethod.GET]
    # The host tries HTTP routes in the order of function names: the literal health route
    # must come before the ASGI catch-all (functions/blueprints/health.py).
    http = sorted(name for name, f in functions.items()
                  if f.get_bindings()[0].type == "httpTrigger")
    assert http == ["consent_callback", "graph_lifecycle", "graph_notifications", "health",
                    "partner_sign_in_callback",
                    API_FUNCTION_NAME]
    # Entra's redirect cannot carry a function key: the consent callback is anonymous too,
    # and its literal route comes before the catch-all the same way.
    callback = functions["consent_callback"].get_bindings()[0]
    assert callback.route == "consent/callback"
    assert callback.auth_level == func.AuthLevel.ANONYMOUS
    assert callback.methods == [func.HttpMethod.GET]
    signed = functions["partner_sign_in_callback"].get_bindings()[0]
    assert (signed.route, signed.auth_level) == ("partners/sign-in/callback",
                                                 func.AuthLevel.ANONYMOUS)


def test_the_consent_callback_function_answers_the_page_the_api_route_does(
    harness: Harness, world: World
) -> None:
    from tests.consent_helpers import consent_world, redirect_of

    d, t, _ = consent_world(world)
    harness.start(**d.env())
    link = harness.services.consent.create("directory", tenant_id=t.id, group_id=t.level0)
    query = redirect_of(harness, link.url)
    callback = indexed_functions()["consent_callback"].get_user_function()
    page = callback(func.HttpRequest(
        "GET", f"https://app.example/api/consent/callback?{query}", body=b""))
    assert page.status_code == 200
    assert 'data-outcome="connected"' in page.get_body().decode()
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    again = callback(func.HttpRequest(
        "GET", f"https://app.example/api/consent/callback?{query}", body=b""))
    assert again.status_code == 409  # used once
    assert harness.services.tenants.get(t.id).directory is not None


def test_the_api_and_health_answer_through_the_functions_http_adapter(
    harness: Harness, world: World
) -> None:
    t = harness.start_onboarded()
    functions = indexed_functions()
    api = functions[API_FUNCTION_NAME].get_user_function()

    def call(method: str, path: str, body: bytes = b"") -> func.HttpResponse:
        request = func.HttpRequest(method, f"https://app.example{path}",
                                   headers={"content-type": "application/json"}, body=body)
        return asyncio.run(api(request, None))

    answer = call("GET", f"/api/tenants/{t.id}")
    assert answer.status_code == 200
    assert json.loads(answer.get_body())["displayName"] == "TinyMDM"
    answer = call("PATCH", f"/api/tenants/{t.id}", b'{"enabled": "no"}')
    assert answer.status_code == 400
    assert json.loads(answer.get_body())["error"]["code"] == "invalid_request"
    answer = call("POST", "/api/tenants", b"{" + b" " * 70_000 + b"}")
    assert answer.status_code == 413
    started = call("POST", f"/api/tenants/{t.id}/directory/sync")
    assert started.status_code == 202

    health = functions["health"].get_user_function()(
        func.HttpRequest("GET", "https://app.example/api/health", body=b"")
    )
    assert health.status_code == 200
    assert json.loads(health.get_body())["status"] == "ok"
    assert health.mimetype == "application/json"


@pytest.mark.slow
def test_devices_timer_discovers_customers_and_the_queue_function_syncs_them(
    harness: Harness, world: World
) -> None:
    partner = Partner(world)
    active = [partner.customer(f"Active {i}", devices=2) for i in range(2)]
    excluded = partner.customer("Excluded")
    late = partner.customer("Late")  # its relationship starts after the partner is added
    partner.data["gdap"]["relationships"][-1]["status"] = "approvalPending"
    harness.start()
    harness.services.partners.add(
        partner.id, partner.partner_app, SecretValue(partner.partner_secret),
        partner.inventory_app, SecretValue(partner.inventory_secret), source="gdap",
        excluded=[excluded])
    assert harness.sim is not None
    partner.data["gdap"]["relationships"][-1]["status"] = "active"
    harness.sim.update_tenant(partner.id, {"gdap": partner.data["gdap"]})
    functions = indexed_functions()
    functions["devices_schedule"].get_user_function()(TimerRequest(past_due=False))
    messages = list(_queue(harness, "devices").receive_messages(max_messages=32))
    jobs = [json.loads(m.content) for m in messages]
    assert sorted(j["tenant_id"] for j in jobs) == sorted([*active, late])  # discovered first
    job_fn = functions["devices_job"].get_user_function()
    for message in messages:
        job_fn(func.QueueMessage(body=message.content.encode()))
    for tid in [*active, late]:
        [run] = harness.services.runs.recent(tid, 5)
        assert run.kind == "devices"
        assert run.status == RunStatus.SUCCEEDED
        assert run.trigger == "timer"
    assert not harness.services.runs.recent(excluded, 5)


def test_a_directory_job_on_the_devices_queue_is_refused(harness: Harness, world: World) -> None:
    t = harness.start_onboarded()
    job_fn = indexed_functions()["devices_job"].get_user_function()
    job_fn(func.QueueMessage(body=json.dumps(
        {"tenant_id": t.id, "kind": "directory", "trigger": "timer"}).encode()))
    assert not harness.services.runs.recent(t.id, 5)


def test_the_partner_sign_in_callback_function_keeps_the_sign_in(
    harness: Harness, world: World
) -> None:
    from urllib.parse import urlsplit

    from tests.partner_side import PUBLIC_URL, PartnerSide, browser_redirect

    side = PartnerSide(world)
    side.customer("Contoso")
    harness.start(TENANTSYNC_PUBLIC_URL=PUBLIC_URL)
    side.connect(harness)
    started = harness.services.partner_signin.start(side.partner.id)
    query = urlsplit(browser_redirect(harness, started.url)).query
    callback = indexed_functions()["partner_sign_in_callback"].get_user_function()
    page = callback(func.HttpRequest(
        "GET", f"https://app.example/api/partners/sign-in/callback?{query}", body=b""))
    assert page.status_code == 200
    assert 'data-outcome="signed-in"' in page.get_body().decode()
    again = callback(func.HttpRequest(
        "GET", f"https://app.example/api/partners/sign-in/callback?{query}", body=b""))
    assert again.status_code == 400  # finished once
    assert harness.services.partner_signin.status(side.partner.id).health == "signed_in"
