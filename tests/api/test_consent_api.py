"""Consent links over HTTP: a portal asks for a link, the admin's browser follows Entra's
redirect to the callback served by the real app, the page says what happened; a tenant
consented without a group gets its group chosen by name."""

from __future__ import annotations

import re

import pytest
import requests

from tests.api.conftest import Api, LiveServer, assert_error, run_queued_jobs, stored
from tests.conftest import Harness
from tests.consent_helpers import consent_world
from tests.world import World


def _admin_browser(harness: Harness) -> requests.Session:
    """A browser that trusts the simulator's CA and follows redirects."""
    assert harness.sim is not None
    session = requests.Session()
    session.trust_env = False
    session.verify = harness.sim.ca_path
    return session


def _text(page: str) -> str:
    return re.sub(r"<[^>]+>", " ", page)


@pytest.mark.slow
def test_a_link_followed_by_the_admins_browser_connects_and_says_so(
    harness: Harness, world: World, api: Api, live_server: LiveServer
) -> None:
    d, t, _ = consent_world(world, public_url=live_server.base_url)
    harness.start(**d.env())
    r = api.post("/api/consents", json={"kind": "directory", "tenantId": t.id,
                                        "groupId": t.level0})
    assert r.status_code == 201, r.text
    link = r.json()
    assert r.headers["location"] == f"/api/consents/{link['consentId']}"
    assert api.get(r.headers["location"]).json()["status"] == "pending"
    page = _admin_browser(harness).get(link["url"], timeout=30)
    assert page.status_code == 200, page.text
    assert page.url.startswith(f"{live_server.base_url}/api/consent/callback?")
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert 'data-outcome="connected"' in page.text
    assert "TinyMDM" in _text(page.text)
    assert "<script" not in page.text and "http" not in page.text.split("</title>")[1]
    status = api.get(r.headers["location"]).json()
    assert (status["status"], status["consentedTenantId"]) == ("used", t.id)
    assert run_queued_jobs(harness, "directory") == 1
    run = api.get(f"/api/tenants/{t.id}/runs/{status['runId']}").json()
    assert run["status"] == "succeeded"
    tenant = api.get(f"/api/tenants/{t.id}").json()
    assert tenant["directory"]["credentialType"] == "federated"
    assert tenant["health"] == "healthy"
    # Replayed by the browser's back button: refused with a clear page, nothing changes.
    before = stored(harness)
    again = _admin_browser(harness).get(page.url, timeout=30)
    assert again.status_code == 409
    assert 'data-outcome="not-connected"' in again.text
    assert "used already" in again.text
    assert stored(harness) == before


def test_a_refusal_lands_on_a_page_that_names_the_fix(
    harness: Harness, world: World, api: Api, live_server: LiveServer
) -> None:
    d, t, _ = consent_world(world, public_url=live_server.base_url)
    world.fixture["tenants"][t.id]["admin_consent"] = "refuse"
    harness.start(**d.env())
    url = api.post("/api/consents", json={"kind": "directory", "tenantId": t.id}).json()["url"]
    before = stored(harness)
    page = _admin_browser(harness).get(url, timeout=30)
    assert page.status_code == 422
    assert 'data-outcome="not-connected"' in page.text
    assert "AADSTS65004" in page.text
    assert "consent_denied" in page.text
    assert "Global Administrator" in page.text
    assert stored(harness) == before


def test_consented_without_a_group_the_portal_chooses_one_by_name(
    harness: Harness, world: World, api: Api, live_server: LiveServer
) -> None:
    d, t, ids = consent_world(world, public_url=live_server.base_url)
    harness.start(**d.env())
    url = api.post("/api/consents", json={"kind": "directory", "tenantId": t.id}).json()["url"]
    page = _admin_browser(harness).get(url, timeout=30)
    assert 'data-outcome="connected"' in page.text
    assert "chooses the group" in page.text
    tenant = api.get(f"/api/tenants/{t.id}").json()
    assert (tenant["health"], tenant["directory"]["groupId"]) == ("awaiting_group", None)
    assert_error(api.post(f"/api/tenants/{t.id}/directory/sync"), 409, "group_required")

    groups = api.get(f"/api/tenants/{t.id}/directory/groups", params={"pageSize": 2}).json()
    names = [g["displayName"] for g in groups["items"]]
    while groups["continuationToken"]:
        groups = api.get(f"/api/tenants/{t.id}/directory/groups", params={
            "pageSize": 2, "continuationToken": groups["continuationToken"]}).json()
        names += [g["displayName"] for g in groups["items"]]
    assert sorted(names) == ["DG", "Management", "TinyMDM"]
    found = api.get(f"/api/tenants/{t.id}/directory/groups",
                    params={"namePrefix": "manage"}).json()["items"]
    assert [(g["id"], g["displayName"]) for g in found] == [(ids["management"], "Management")]
    assert_error(api.get(f"/api/tenants/{t.id}/directory/groups",
                         params={"continuationToken": "aHR0cHM6Ly9ldmlsLmV4YW1wbGUv"}),
                 400, "invalid_continuation")

    r = api.patch(f"/api/tenants/{t.id}", json={"groupId": ids["management"]})
    assert r.status_code == 200, r.text
    assert r.json()["directory"]["groupId"] == ids["management"]
    assert run_queued_jobs(harness, "directory") == 1  # the first sync started at once
    assert api.get(f"/api/tenants/{t.id}").json()["health"] == "healthy"


@pytest.mark.slow
def test_a_partner_lists_a_link_for_each_customer_that_must_consent(
    harness: Harness, world: World, api: Api, live_server: LiveServer
) -> None:
    d, _, _ = consent_world(world, public_url=live_server.base_url)
    from tests.world import INVENTORY_ROLES, Partner

    partner = Partner(world)
    healthy = partner.customer("Healthy")
    missing = partner.customer("Missing", consented=False)
    app = world.fixture["applications"][partner.inventory_app]
    app["redirect_uris"] = [f"{live_server.base_url}/api/consent/callback"]
    app["required_roles"] = list(INVENTORY_ROLES)
    harness.start(**d.env())
    from tests.api.conftest import partner_body

    assert api.post("/api/partners", json=partner_body(partner)).status_code == 201
    assert run_queued_jobs(harness, "devices") == 2
    links = api.get(f"/api/partners/{partner.id}/consent-links").json()
    assert links["progress"] == {"healthy": 1, "consent_missing": 1}
    by_tenant = {item["tenantId"]: item for item in links["items"]}
    assert by_tenant[healthy]["url"] is None
    page = _admin_browser(harness).get(by_tenant[missing]["url"], timeout=30)
    assert 'data-outcome="connected"' in page.text
    assert "Missing Ltd" in page.text
    assert run_queued_jobs(harness, "devices") == 1
    assert api.get(f"/api/partners/{partner.id}/consent-links").json()["progress"] == {
        "healthy": 2}


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"kind": "printers"}, 400, "invalid_request"),
    ({"kind": "directory", "tenantId": "nope"}, 400, "invalid_guid"),
    ({"kind": "devices", "groupId": "11111111-2222-3333-4444-555555555555"}, 400,
     "invalid_request"),
    ({"kind": "directory", "partnerTenantId": "11111111-2222-3333-4444-555555555555"}, 400,
     "invalid_request"),
    ({"kind": "devices", "partnerTenantId": "11111111-2222-3333-4444-555555555555"}, 404,
     "unknown_partner"),
    ({"kind": "directory", "extra": 1}, 400, "invalid_request"),
])
def test_bad_link_requests_are_refused_and_store_nothing(
    harness: Harness, world: World, api: Api, body: dict[str, object], status: int, code: str
) -> None:
    d, _, _ = consent_world(world)
    harness.start(**d.env())
    before = stored(harness)
    assert_error(api.post("/api/consents", json=body), status, code)
    assert stored(harness) == before


def test_consent_lookups_with_bad_input(harness: Harness, world: World, api: Api) -> None:
    d, _, _ = consent_world(world)
    harness.start(**d.env())
    assert_error(api.get("/api/consents/" + "0" * 32), 404, "unknown_consent")
    assert_error(api.get("/api/consents/not-an-id"), 400, "invalid_request")


def test_a_callback_nobody_asked_for_gets_a_page_not_a_trace(
    harness: Harness, world: World, api: Api
) -> None:
    d, t, _ = consent_world(world)
    harness.start(**d.env())
    before = stored(harness)
    for query, status in ((f"admin_consent=True&tenant={t.id}", 400),
                          (f"admin_consent=True&tenant={t.id}&state=c1.{'0' * 32}."
                           f"9999999999.{'x' * 43}", 400),
                          ("tenant=<script>alert(1)</script>", 400)):
        page = api.get(f"/api/consent/callback?{query}")
        assert page.status_code == status
        assert 'data-outcome="not-connected"' in page.text
        assert "<script>" not in page.text
        assert "Traceback" not in page.text
    assert stored(harness) == before
