"""One error body everywhere, an anonymous health check, and no secret in any answer or log."""

from __future__ import annotations

import json
import logging
import socket

import pytest

from tests.api.conftest import Api, assert_error, partner_body, run_queued_jobs, tenant_body
from tests.conftest import Harness
from tests.partner_side import PUBLIC_URL, PartnerSide, browser_redirect
from tests.world import Partner, World, new_id, seed_example

ANONYMOUS = {"/api/health", "/api/consent/callback", "/api/notifications/graph",
             "/api/notifications/lifecycle",  # Graph posts to these without a key
             "/api/partners/sign-in/callback"}


def test_health_says_storage_and_key_vault_are_reachable(harness: Harness, api: Api) -> None:
    harness.start()
    r = api.get("/api/health")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ok", "storage": {"status": "ok", "code": None},
                        "keyVault": {"status": "ok", "code": None}}


def test_health_is_503_with_a_code_when_key_vault_is_unreachable(
    harness: Harness, api: Api
) -> None:
    harness.start()
    assert harness.sim is not None
    harness.monkeypatch.setenv("TENANTSYNC_KEY_VAULT_URL", f"{harness.sim.base_url}/nowhere/")
    r = api.get("/api/health")
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["status"] == "unavailable"
    assert body["storage"]["status"] == "ok"
    assert body["keyVault"] == {"status": "unavailable", "code": "key_vault_error"}


def test_unknown_routes_and_methods_get_the_error_body(harness: Harness, api: Api) -> None:
    harness.start()
    assert_error(api.get("/api/nothing-here"), 404, "not_found")
    assert_error(api.get("/"), 404, "not_found")
    error = api.call("PUT", "/api/tenants")
    assert_error(error, 405, "method_not_allowed")
    assert "POST" in error.headers["allow"]
    assert_error(api.delete("/api/health"), 405, "method_not_allowed")


@pytest.mark.slow
def test_the_openapi_document_is_published_with_function_key_security(
    harness: Harness, api: Api
) -> None:
    harness.start()
    doc = api.get("/api/openapi.json").json()
    assert doc["info"]["title"] == "tenantsync"
    assert "functionKey" in doc["components"]["securitySchemes"]
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            secured = operation.get("security") == [{"functionKey": []}]
            # Anonymous in Azure: the health check, and where Entra returns consenting admins.
            assert secured == (path not in ANONYMOUS), (method, path)
            # 422 is a connection test's answer: onboarding, a consent's callback, and
            # reading a tenant's groups.
            assert "422" not in operation["responses"] or method in {"post", "patch"} or (
                path in {"/api/tenants/{tenantId}/directory/groups", "/api/consent/callback",
                         "/api/partners/sign-in/callback"})
    assert api.get("/api/docs").status_code == 200


@pytest.mark.slow
def test_client_secrets_appear_in_no_answer_and_no_log_record(
    harness: Harness, world: World, api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    t, _ = seed_example(world)
    other, _ = seed_example(world)
    harness.start()
    caplog.set_level(logging.DEBUG)  # every logger: uvicorn, the API, msal, azure, urllib3
    secrets = [t.secret, other.secret, "val~new-" + t.secret, world.operator_secret]

    api.post("/api/tenants", json=tenant_body(other, clientSecret=other.secret_id))
    api.post("/api/tenants", json=tenant_body(other, clientSecret="wrong-" + other.secret))
    api.post("/api/tenants", json=tenant_body(t, clientId=t.secret))
    api.post("/api/tenants", json=tenant_body(t, scope=t.secret))
    api.post("/api/tenants", json=tenant_body(t, password=t.secret))
    api.post("/api/tenants", json=tenant_body(t, clientSecret=[t.secret]))
    api.post("/api/tenants", data=f'{{"clientSecret": "{t.secret}"',
             headers={"content-type": "application/json"})
    api.post("/api/tenants", json=tenant_body(t, clientSecret=t.secret + "x" * 70_000))
    assert api.post("/api/tenants", json=tenant_body(t)).status_code == 201
    assert api.post("/api/tenants", json=tenant_body(t)).status_code == 409
    assert harness.sim is not None
    harness.sim.set_app_secrets(t.app_id, [
        {"id": t.secret_id, "value": t.secret, "expires": "2099-01-01T00:00:00Z"},
        {"id": other.secret_id, "value": "val~new-" + t.secret,
         "expires": "2099-01-01T00:00:00Z"},
    ])
    assert api.patch(f"/api/tenants/{t.id}",
                     json={"clientSecret": "val~new-" + t.secret}).status_code == 200
    api.patch(f"/api/tenants/{t.id}", json={"clientSecret": t.secret, "enabled": "x"})
    api.patch(f"/api/tenants/{t.id}", json={"groupId": t.secret})
    assert api.post(f"/api/tenants/{t.id}/directory/sync").status_code == 202
    assert run_queued_jobs(harness, "directory") == 1
    for path in ("/api/tenants", f"/api/tenants/{t.id}", f"/api/tenants/{t.id}/users",
                 f"/api/tenants/{t.id}/runs", "/api/runs/failures", "/api/health"):
        assert api.get(path).status_code == 200

    transcript = api.transcript()
    logs = "\n".join(f"{r.getMessage()} {r.__dict__!r}" for r in caplog.records)
    for secret in secrets:
        assert secret not in transcript
        assert secret not in logs
        assert secret not in repr(harness.entities())
    assert "Traceback" not in transcript
    assert len(api.answers) == 20
    assert any(r.name.startswith("uvicorn") for r in caplog.records)  # the scan saw the server


def test_an_unexpected_error_is_a_500_body_without_a_stack_trace(
    harness: Harness, world: World, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = harness.start_onboarded()
    from functions.storage.tenants import TenantTable

    def crash(self: TenantTable, tenant_id: str) -> None:
        raise RuntimeError(f"boom with internals {t.secret}")

    monkeypatch.setattr(TenantTable, "get", crash)
    r = api.get(f"/api/tenants/{t.id}")
    error = assert_error(r, 500, "internal_error")
    assert "boom" not in r.text
    assert t.secret not in r.text
    assert "logs" in error["message"]


def test_a_declared_oversized_body_is_refused_before_it_is_read(
    harness: Harness, api: Api
) -> None:
    harness.start()
    host, port = api.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"POST /api/tenants HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{}")
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.decode().partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 413")
    assert json.loads(body)["error"]["code"] == "body_too_large"


@pytest.mark.slow
def test_partner_and_inventory_secrets_appear_in_no_answer_and_no_log_record(
    harness: Harness, world: World, api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    partner = Partner(world)
    customer = partner.customer("Alpha", devices=2)
    harness.start()
    caplog.set_level(logging.DEBUG)  # every logger: uvicorn, the API, msal, azure, urllib3
    rotated = "inv~rotated-" + partner.inventory_secret
    secrets = [partner.partner_secret, partner.inventory_secret, rotated]
    p, i = partner.partner_secret, partner.inventory_secret

    api.post("/api/partners", json=partner_body(partner, partnerClientSecret="x" + p))
    api.post("/api/partners", json=partner_body(partner, inventoryClientSecret=p))
    api.post("/api/partners", json=partner_body(partner, partnerClientId=p))
    api.post("/api/partners", json=partner_body(partner, source=i))
    api.post("/api/partners", json=partner_body(partner, customers=[i], source="list"))
    api.post("/api/partners", json=partner_body(partner, excluded=[p, i]))
    api.post("/api/partners", json=partner_body(partner, password=p))
    api.post("/api/partners", json=partner_body(partner, inventoryClientSecret=[i]))
    api.post("/api/partners", data=f'{{"inventoryClientSecret": "{i}"',
             headers={"content-type": "application/json"})
    api.post("/api/partners", json=partner_body(partner, partnerClientSecret=p + "x" * 70_000))
    assert api.post("/api/partners", json=partner_body(partner)).status_code == 201
    assert api.post("/api/partners", json=partner_body(partner)).status_code == 409
    assert harness.sim is not None
    harness.sim.set_app_secrets(partner.inventory_app, [
        {"id": partner.inventory_secret_id, "value": i, "expires": "2099-01-01T00:00:00Z"},
        {"id": new_id(), "value": rotated, "expires": "2099-01-01T00:00:00Z"},
    ])
    assert api.patch(f"/api/partners/{partner.id}",
                     json={"inventoryClientSecret": rotated}).status_code == 200
    api.patch(f"/api/partners/{partner.id}", json={"partnerClientSecret": i})
    api.patch(f"/api/partners/{partner.id}", json={"inventoryClientSecret": p, "x": i})
    api.patch(f"/api/partners/{partner.id}", json={"excluded": [rotated]})
    assert api.post(f"/api/partners/{partner.id}/discover").status_code == 202
    run_queued_jobs(harness, "devices")
    assert api.post(f"/api/tenants/{customer}/devices/sync").status_code == 202
    run_queued_jobs(harness, "devices")
    for path in ("/api/partners", f"/api/partners/{partner.id}", "/api/tenants",
                 f"/api/tenants/{customer}", f"/api/tenants/{customer}/devices",
                 f"/api/tenants/{customer}/software/detected",
                 f"/api/tenants/{customer}/software/managed",
                 f"/api/tenants/{customer}/runs", "/api/runs/failures"):
        assert api.get(path).status_code == 200, path

    transcript = api.transcript()
    logs = "\n".join(f"{r.getMessage()} {r.__dict__!r}" for r in caplog.records)
    entities = repr(harness.entities())
    for secret in secrets:
        assert secret not in transcript
        assert secret not in logs
        assert secret not in entities
    assert "Traceback" not in transcript
    assert len(api.answers) == 27
    assert sum(r.status_code >= 400 for r in api.answers) == 14
    assert any(r.name.startswith("uvicorn") for r in caplog.records)


@pytest.mark.slow
def test_the_partners_refresh_token_appears_in_no_answer_no_log_record_and_no_table(
    harness: Harness, world: World, api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    side = PartnerSide(world)
    customer = side.customer("Alpha")
    harness.start(TENANTSYNC_PUBLIC_URL=PUBLIC_URL)
    side.connect(harness)
    harness.services.runner.run_one("devices", customer, "cli")
    caplog.set_level(logging.DEBUG)  # every logger: uvicorn, the API, msal, azure, urllib3
    pid = side.partner.id
    started = api.post(f"/api/partners/{pid}/sign-in")
    assert started.status_code == 201
    assert harness.sim is not None
    sim = harness.sim.state
    location = browser_redirect(harness, started.json()["url"])  # the agent's browser
    callback = api.get("/api/partners/sign-in/callback?" + location.split("?", 1)[1])
    assert callback.status_code == 200 and "Signed in" in callback.text
    replayed = api.get("/api/partners/sign-in/callback?" + location.split("?", 1)[1])
    assert replayed.status_code == 400  # a sign-in is finished once
    first = harness.services.secrets.get(f"partner-{pid}-refresh-token", fresh=True)
    assert api.post(f"/api/partners/{pid}/consent").json()["items"][0]["outcome"] == (
        "connected")
    renewed = harness.services.secrets.get(f"partner-{pid}-refresh-token", fresh=True)
    with sim.lock:  # revoked: the next use fails and the health names the fix
        for grant in sim.partner_access.refresh_tokens.values():
            grant.state = "revoked"
    refused = api.post(f"/api/partners/{pid}/consent", json={"tenantId": customer})
    assert refused.json()["items"][0]["outcome"] == "sign_in_required"
    status = api.get(f"/api/partners/{pid}/sign-in").json()
    assert status["health"] == "sign_in_required" and "sign in again" in status["lastError"]
    assert api.get(f"/api/partners/{pid}/consents").status_code == 200

    tokens = [first.value.reveal(), renewed.value.reveal(),
              *sim.partner_access.refresh_tokens]
    transcript = api.transcript()
    logs = "\n".join(f"{r.getMessage()} {r.__dict__!r}" for r in caplog.records)
    entities = repr(harness.entities())
    assert first.value.reveal() != renewed.value.reveal()
    for token in tokens:
        assert token not in transcript
        assert token not in logs
        assert token not in entities
    assert "Traceback" not in transcript
    assert any(r.name.startswith("uvicorn") for r in caplog.records)
