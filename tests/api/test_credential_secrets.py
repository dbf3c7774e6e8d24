"""No private key, client assertion or token in any answer, log record, table or error text,
whatever the credential type (certificate, federated managed identity)."""

from __future__ import annotations

import logging
import re

import pytest
import requests

from functions.services import get_services
from tests.api.conftest import Api, LiveServer, run_queued_jobs, tenant_body
from tests.conftest import Harness
from tests.consent_helpers import consent_world
from tests.simulator.onboarding import make_cert
from tests.world import World, new_id

# Every JWT (access tokens, client assertions, managed identity tokens) starts with the
# base64url of '{"': a JWT anywhere in a transcript is one too many.
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{10,}")


@pytest.mark.slow
def test_certificates_and_federated_tokens_never_show(
    harness: Harness, world: World, api: Api, live_server: LiveServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    d, t, _ = consent_world(world, public_url=live_server.base_url)
    other = world.tenant("Certified")
    cert, wrong = make_cert("tenantsync scan"), make_cert("tenantsync unregistered")
    world.fixture["applications"][other.app_id]["certificates"] = [
        {"id": new_id(), "pem": cert.cert_pem}]
    harness.start(**d.env())
    caplog.set_level(logging.DEBUG)  # every logger: uvicorn, the API, msal, azure, urllib3
    key_lines = [line for pem in (cert.key_pem, wrong.key_pem)
                 for line in pem.splitlines()[1:-1]]

    # A certificate onboarding, refused (not registered) then accepted, and bad uploads.
    base = tenant_body(other, credentialType="certificate")
    del base["clientSecret"]
    api.post("/api/tenants", json={**base, "certificate": wrong.with_key_pem()})
    api.post("/api/tenants", json={**base, "certificate": cert.key_pem})
    api.post("/api/tenants", json={**base, "certificate": cert.with_key_pem(),
                                   "clientSecret": cert.key_pem})
    api.post("/api/tenants", json={**base, "groupId": cert.key_pem,
                                   "certificate": cert.with_key_pem()})
    api.post("/api/tenants", json={**base, "credentialType": cert.key_pem})
    assert api.post("/api/tenants", json={**base, "certificate": cert.with_key_pem()}
                    ).status_code == 201
    assert api.post(f"/api/tenants/{other.id}/directory/sync").status_code == 202
    # A federated onboarding through the consent link, followed as a browser would.
    url = api.post("/api/consents", json={"kind": "directory", "tenantId": t.id,
                                          "groupId": t.level0}).json()["url"]
    assert harness.sim is not None
    browser = requests.Session()
    browser.trust_env = False
    browser.verify = harness.sim.ca_path
    page = browser.get(url, timeout=30)
    assert 'data-outcome="connected"' in page.text
    run_queued_jobs(harness, "directory")
    for path in ("/api/tenants", f"/api/tenants/{t.id}", f"/api/tenants/{other.id}",
                 f"/api/tenants/{t.id}/runs", f"/api/tenants/{other.id}/users"):
        assert api.get(path).status_code == 200, path

    transcript = api.transcript() + page.text
    logs = "\n".join(f"{r.getMessage()} {r.__dict__!r}" for r in caplog.records)
    entities = repr(harness.entities())
    signed_in = get_services().tokens.federation._token  # the API's own services
    assert signed_in is not None  # it did sign in with the managed identity
    identity_token = signed_in[1]
    for text in (transcript, logs, entities):
        assert "PRIVATE KEY" not in text
        assert not any(line in text for line in key_lines)
        assert identity_token not in text
        assert not JWT.search(text), JWT.search(text)
    assert sum(r.status_code >= 400 for r in api.answers) == 5
    assert len(caplog.records) > 50  # the scan saw real logging
