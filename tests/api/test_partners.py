"""Partner connections over HTTP: save after testing both apps, discover, queue first syncs."""

from __future__ import annotations

import pytest

from functions.partners.discovery import inventory_secret_name, partner_secret_name
from tests.api.conftest import (
    Api,
    assert_error,
    connect_partner,
    partner_body,
    queued_jobs,
    run_queued_jobs,
    stored,
    vault_state,
)
from tests.conftest import Harness
from tests.world import Partner, World, new_id

UNKNOWN = "11111111-2222-3333-4444-555555555555"


@pytest.mark.slow
def test_creating_a_partner_discovers_customers_and_queues_a_device_sync_of_each(
    harness: Harness, world: World, api: Api
) -> None:
    partner = Partner(world)
    alpha = partner.customer("Alpha", devices=3, detected=4, mobile=2)
    beta = partner.customer("Beta", devices=2)
    harness.start()
    r = api.post("/api/partners", json=partner_body(
        partner, partnerSecretExpiresOn="2030-05-31",
        inventorySecretExpiresOn="2030-06-30T00:00:00Z"))
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"/api/partners/{partner.id}"
    body = r.json()
    assert body["partnerTenantId"] == partner.id
    assert (body["partnerClientId"], body["inventoryClientId"]) == (
        partner.partner_app, partner.inventory_app)
    assert (body["source"], body["customers"], body["excluded"]) == ("gdap", [], [])
    assert body["discoveryError"] is None
    discovery = body["discovery"]
    assert {c["tenantId"]: c["name"] for c in discovery["found"]} == {alpha: "Alpha",
                                                                      beta: "Beta"}
    assert sorted(discovery["new"]) == sorted([alpha, beta])
    assert discovery["inactive"] == discovery["excluded"] == discovery["unsupported"] == []
    queued = {q["tenantId"]: q for q in discovery["queued"]}
    assert set(queued) == {alpha, beta}
    for tid, q in queued.items():
        assert (q["kind"], q["status"]) == ("devices", "queued")
        assert q["statusUrl"] == f"/api/tenants/{tid}/runs/{q['runId']}"
    assert sorted((j["tenant_id"], j["run_id"], j["kind"], j["trigger"])
                  for j in queued_jobs(harness, "devices")) == sorted(
        (tid, q["runId"], "devices", "http") for tid, q in queued.items())
    assert vault_state(harness) == ({partner_secret_name(partner.id): 1,
                                     inventory_secret_name(partner.id): 1}, set())
    saved = harness.services.secrets.get(inventory_secret_name(partner.id), fresh=True)
    assert saved.expires_on is not None and saved.expires_on.isoformat().startswith("2030-06-30")
    assert api.get(f"/api/partners/{partner.id}").json() == {
        k: v for k, v in body.items() if k not in ("discovery", "discoveryError", "gdapAccess",
                                                   "gdapAccessError")}

    # A second start while the first is queued: 409 naming it, and nothing changes.
    before = stored(harness)
    error = assert_error(api.post(f"/api/tenants/{alpha}/devices/sync"), 409, "sync_running")
    assert error["runId"] == queued[alpha]["runId"]
    assert stored(harness) == before

    # The queue function runs each job under the run id the answer gave.
    assert run_queued_jobs(harness, "devices") == 2
    run = api.get(queued[alpha]["statusUrl"]).json()
    assert (run["runId"], run["kind"], run["status"], run["trigger"]) == (
        queued[alpha]["runId"], "devices", "succeeded", "http")
    assert run["devices"] == {"created": 3, "updated": 0, "unchanged": 0, "retired": 0,
                              "restored": 0}
    assert run["apps"]["created"] == 6
    assert run["users"]["created"] == 0
    tenant = api.get(f"/api/tenants/{alpha}").json()
    assert tenant["directory"] is None
    devices = tenant["devices"]
    assert (devices["partnerTenantId"], devices["active"], devices["excluded"]) == (
        partner.id, True, False)
    assert (devices["health"], devices["organization"], devices["defaultDomain"]) == (
        "healthy", "Alpha Ltd", "alpha.example")
    assert devices["verifiedDomains"] == ["alpha.example", "alpha.onmicrosoft.com"]
    assert devices["secretExpiresOn"].startswith("2030-06-30")
    assert devices["unsupportedReason"] is None and devices["quarantinedUntil"] is None

    # Once it has ended, a new start is queued and runs.
    again = api.post(f"/api/tenants/{alpha}/devices/sync")
    assert again.status_code == 202, again.text
    assert again.headers["location"] == again.json()["statusUrl"]
    assert run_queued_jobs(harness, "devices") == 1
    rerun = api.get(again.json()["statusUrl"]).json()
    assert rerun["status"] == "succeeded"
    assert rerun["devices"]["unchanged"] == 3


@pytest.mark.parametrize("app", ["partner", "inventory"])
def test_a_bad_secret_of_either_app_is_422_and_nothing_is_stored(
    harness: Harness, world: World, api: Api, app: str
) -> None:
    partner = Partner(world)
    partner.customer("Alpha")
    harness.start()
    before = stored(harness)
    r = api.post("/api/partners", json=partner_body(
        partner, **{f"{app}ClientSecret": "not-the-value"}))
    error = assert_error(r, 422, "invalid_secret")
    client = partner.partner_app if app == "partner" else partner.inventory_app
    assert f"not valid for app {client}" in error["message"]
    assert "Value" in error["message"]
    assert stored(harness) == before
    assert vault_state(harness) == ({}, set())


@pytest.mark.parametrize(("change", "code", "hint"), [
    ({"partnerTenantId": "nope"}, "invalid_guid", "body.partnerTenantId: must be a GUID"),
    ({"inventoryClientId": "' or ''='"}, "invalid_guid", "body.inventoryClientId"),
    ({"source": "list", "customers": ["x"]}, "invalid_guid", "body.customers.0"),
    ({"source": "csv"}, "invalid_source", "body.source: must be one of"),
    ({"source": 3}, "invalid_request", "body.source"),
    ({"customers": [UNKNOWN]}, "invalid_request", "only for source 'list'"),
    ({"source": "list"}, "customers_required", "at least one customer"),
    ({"source": "list", "customers": [UNKNOWN] * 1001}, "invalid_request", "body.customers"),
    ({"includePartnerTenant": "yes"}, "invalid_request", "body.includePartnerTenant"),
    ({"excluded": UNKNOWN}, "invalid_request", "body.excluded"),
    ({"partnerClientSecret": ""}, "invalid_request", "body.partnerClientSecret"),
    ({"inventoryClientSecret": 42}, "invalid_request", "body.inventoryClientSecret"),
    ({"inventorySecretExpiresOn": "soon"}, "invalid_time", "body.inventorySecretExpiresOn"),
    ({"tenantId": UNKNOWN}, "invalid_request", "body.tenantId: unknown field"),
])
def test_malformed_partner_bodies_are_400_and_change_nothing(
    harness: Harness, world: World, api: Api, change: dict[str, object], code: str, hint: str
) -> None:
    partner = Partner(world)
    harness.start()
    before = stored(harness)
    r = api.post("/api/partners", json=partner_body(partner, **change))
    error = assert_error(r, 400, code)
    assert hint in error["message"]
    assert partner.partner_secret not in r.text and partner.inventory_secret not in r.text
    assert stored(harness) == before


def test_oversized_and_missing_bodies_and_an_existing_partner_are_refused(
    harness: Harness, world: World, api: Api
) -> None:
    partner = Partner(world)
    partner.customer("Alpha")
    harness.start()
    before = stored(harness)
    huge = partner_body(partner, partnerClientSecret="x" * (70 * 1024))
    assert_error(api.post("/api/partners", json=huge), 413, "body_too_large")
    assert_error(api.post("/api/partners"), 400, "invalid_request")
    assert_error(api.post("/api/partners", data=b"{", headers={
        "content-type": "application/json"}), 400, "invalid_json")
    assert stored(harness) == before

    connect_partner(harness, partner, "gdap")
    before = stored(harness)
    error = assert_error(api.post("/api/partners", json=partner_body(partner)), 409,
                         "partner_exists")
    assert f"PATCH /api/partners/{partner.id}" in error["message"]
    assert_error(api.patch(f"/api/partners/{partner.id}", json=huge), 413, "body_too_large")
    assert stored(harness) == before


@pytest.mark.slow
def test_partners_are_read_and_listed_in_pages(harness: Harness, world: World, api: Api) -> None:
    first, second = Partner(world, "First MSP"), Partner(world, "Second MSP")
    listed = first.customer("Listed")
    second.customer("Other")
    harness.start()
    connect_partner(harness, first, "list", include_partner_tenant=True)
    connect_partner(harness, second, "gdap", excluded=[UNKNOWN])
    one = api.get(f"/api/partners/{first.id.upper()}")
    assert one.status_code == 200, one.text
    assert one.json()["customers"] == [listed]
    assert one.json()["includePartnerTenant"] is True
    assert one.json()["createdAt"]
    seen, token = [], None
    while True:
        params = {"pageSize": 1, **({"continuationToken": token} if token else {})}
        page = api.get("/api/partners", params=params).json()
        assert len(page["items"]) <= 1
        seen += page["items"]
        token = page["continuationToken"]
        if not token:
            break
    assert {p["partnerTenantId"]: p["excluded"] for p in seen} == {first.id: [],
                                                                    second.id: [UNKNOWN]}
    before = stored(harness)
    for method, path in (("GET", ""), ("PATCH", ""), ("POST", "/discover")):
        kwargs = {"json": {"includePartnerTenant": True}} if method == "PATCH" else {}
        assert_error(api.call(method, f"/api/partners/{UNKNOWN}{path}", **kwargs), 404,
                     "unknown_partner")
        error = assert_error(api.call(method, f"/api/partners/not-a-guid{path}", **kwargs),
                             400, "invalid_guid")
        assert "path.partnerTenantId" in error["message"]
    for query in ("pageSize=0", "pageSize=1001", "continuationToken=garbage"):
        r = api.get(f"/api/partners?{query}")
        assert r.status_code == 400, r.text
    assert stored(harness) == before


@pytest.mark.slow
def test_a_new_inventory_secret_is_a_new_key_vault_version_after_both_apps_are_tested(
    harness: Harness, world: World, api: Api
) -> None:
    partner = Partner(world)
    tid = partner.customer("Alpha")
    harness.start()
    assert api.post("/api/partners", json=partner_body(
        partner, partnerSecretExpiresOn="2030-05-31T00:00:00Z")).status_code == 201
    rotated = "inv~rotated-" + new_id()
    assert harness.sim is not None
    harness.sim.set_app_secrets(partner.inventory_app, [
        {"id": partner.inventory_secret_id, "value": partner.inventory_secret,
         "expires": "2099-01-01T00:00:00Z"},
        {"id": new_id(), "value": rotated, "expires": "2031-01-01T00:00:00Z"},
    ])
    r = api.patch(f"/api/partners/{partner.id}", json={
        "inventoryClientSecret": rotated, "inventorySecretExpiresOn": "2031-01-01T00:00:00Z"})
    assert r.status_code == 200, r.text
    assert rotated not in r.text
    assert r.json()["discovery"]["new"] == []  # already discovered: nothing queued again
    assert r.json()["discovery"]["queued"] == []
    name = inventory_secret_name(partner.id)
    assert vault_state(harness)[0][name] == 2
    # The unchanged partner-app secret is not saved again as another identical version.
    assert vault_state(harness)[0][partner_secret_name(partner.id)] == 1
    secrets = harness.services.secrets
    assert secrets.get(name, fresh=True).value.reveal() == rotated
    # The partner app's secret was kept, with its expiry.
    kept = secrets.get(partner_secret_name(partner.id), fresh=True)
    assert kept.value.reveal() == partner.partner_secret
    assert kept.expires_on is not None and kept.expires_on.isoformat().startswith("2030-05-31")
    assert run_queued_jobs(harness, "devices") == 1
    harness.services.tokens.forget()
    assert harness.services.runner.run_one("devices", tid, "cli").status == "succeeded"

    # A wrong secret is tested first and changes nothing.
    before = stored(harness)
    error = assert_error(api.patch(f"/api/partners/{partner.id}",
                                   json={"partnerClientSecret": "wrong"}), 422,
                         "invalid_secret")
    assert partner.partner_app in error["message"]
    assert stored(harness) == before


@pytest.mark.parametrize(("body", "code"), [
    ({}, "invalid_request"),
    ({"source": None}, "invalid_request"),
    ({"inventorySecretExpiresOn": "2031-01-01T00:00:00Z"}, "secret_required"),
    ({"inventoryClientSecret": "new", "inventorySecretExpiresOn": "2020-01-01"},
     "invalid_time"),  # an expiry in the past
    ({"customers": [UNKNOWN]}, "invalid_request"),  # the connection's source is gdap
    ({"source": "list"}, "customers_required"),
    ({"source": "other"}, "invalid_source"),
    ({"excluded": ["nope"]}, "invalid_guid"),
    ({"partnerTenantId": UNKNOWN}, "invalid_request"),
])
@pytest.mark.slow
def test_malformed_partner_patches_are_400_and_change_nothing(
    harness: Harness, world: World, api: Api, body: dict[str, object], code: str
) -> None:
    partner = Partner(world)
    partner.customer("Alpha")
    harness.start()
    connect_partner(harness, partner, "gdap")
    before = stored(harness)
    assert_error(api.patch(f"/api/partners/{partner.id}", json=body), 400, code)
    assert stored(harness) == before


def test_a_past_expiry_is_refused_by_its_own_field_name(
    harness: Harness, world: World, api: Api
) -> None:
    partner = Partner(world)
    partner.customer("Alpha")
    harness.start()
    connect_partner(harness, partner, "gdap")
    error = assert_error(api.patch(f"/api/partners/{partner.id}", json={
        "partnerClientSecret": "new", "partnerSecretExpiresOn": "2020-01-01"}), 400,
        "invalid_time")
    assert error["message"].startswith("partnerSecretExpiresOn is in the past")
    assert "new" not in error["message"].split()


@pytest.mark.slow
def test_excluding_a_customer_with_patch_applies_at_once(
    harness: Harness, world: World, api: Api
) -> None:
    partner = Partner(world)
    keep, drop = partner.customer("Keep"), partner.customer("Drop")
    harness.start()
    connect_partner(harness, partner, "gdap")
    r = api.patch(f"/api/partners/{partner.id}", json={"excluded": [drop.upper()]})
    assert r.status_code == 200, r.text
    assert r.json()["excluded"] == [drop]
    assert r.json()["discovery"]["excluded"] == [drop]
    tenant = api.get(f"/api/tenants/{drop}").json()["devices"]
    assert (tenant["excluded"], tenant["health"]) == (True, "excluded")
    before = stored(harness)
    error = assert_error(api.post(f"/api/tenants/{drop}/devices/sync"), 409, "tenant_excluded")
    assert f"PATCH /api/partners/{partner.id}" in error["message"]
    assert stored(harness) == before
    assert api.post(f"/api/tenants/{keep}/devices/sync").status_code == 202


@pytest.mark.slow
def test_discover_now_queues_new_customers_and_marks_ended_ones_inactive(
    harness: Harness, world: World, api: Api
) -> None:
    partner = Partner(world)
    ending = partner.customer("Ending", devices=2)
    later = partner.customer("Later", gdap_status="approvalPending")
    harness.start()
    connect_partner(harness, partner, "gdap")
    harness.services.runner.run_one("devices", ending, "cli")
    for rel in partner.data["gdap"]["relationships"]:
        rel["status"] = "active" if rel["customer"]["tenantId"] == later else "terminated"
    assert harness.sim is not None
    harness.sim.update_tenant(partner.id, {"gdap": partner.data["gdap"]})
    r = api.post(f"/api/partners/{partner.id}/discover")
    assert r.status_code == 202, r.text
    d = r.json()
    assert (d["new"], d["inactive"]) == ([later], [ending])
    [queued] = d["queued"]
    assert queued["tenantId"] == later
    assert [j["run_id"] for j in queued_jobs(harness, "devices")] == [queued["runId"]]
    before = stored(harness)
    error = assert_error(api.post(f"/api/tenants/{ending}/devices/sync"), 409,
                         "tenant_inactive")
    assert f"/api/partners/{partner.id}/discover" in error["message"]
    assert stored(harness) == before
    # Kept, not deleted: its devices are still listed.
    assert len(api.get(f"/api/tenants/{ending}/devices").json()["items"]) == 2
    assert api.get(f"/api/tenants/{ending}").json()["devices"]["health"] == "inactive"


def test_a_failing_discovery_keeps_the_saved_connection_and_says_why(
    harness: Harness, world: World, api: Api
) -> None:
    partner = Partner(world)
    partner.customer("Alpha")
    partner.data["service_principals"][partner.partner_app]["roles"] = []
    harness.start()
    r = api.post("/api/partners", json=partner_body(partner))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["discovery"] is None
    assert body["discoveryError"]["code"] == "permission_missing"
    assert "DelegatedAdminRelationship.Read.All" in body["discoveryError"]["message"]
    assert api.get(f"/api/partners/{partner.id}").status_code == 200
    before = stored(harness)
    error = assert_error(api.post(f"/api/partners/{partner.id}/discover"), 422,
                         "permission_missing")
    assert "Nothing was marked inactive" in error["message"]
    assert stored(harness) == before


@pytest.mark.slow
def test_removing_a_partner_keeps_its_customers_data_and_makes_them_inactive(
    harness: Harness, world: World, api: Api
) -> None:
    partner = Partner(world)
    alpha, beta = partner.customer("Alpha", devices=2), partner.customer("Beta")
    harness.start()
    connect_partner(harness, partner, "gdap")
    harness.services.runner.run_one("devices", alpha, "cli")
    names = {partner_secret_name(partner.id), inventory_secret_name(partner.id)}
    assert names <= set(vault_state(harness)[0])
    queued = api.post(f"/api/tenants/{beta}/devices/sync").json()["runId"]
    before = stored(harness)
    refused = assert_error(api.delete(f"/api/partners/{partner.id}"), 409, "sync_running")
    assert refused["runId"] == queued
    assert stored(harness) == before  # a sync under way would write the tenant back
    assert run_queued_jobs(harness, "devices") == 1

    r = api.delete(f"/api/partners/{partner.id}")
    assert r.status_code == 204, r.text
    assert_error(api.get(f"/api/partners/{partner.id}"), 404, "unknown_partner")
    live, deleted = vault_state(harness)
    assert names <= deleted and not names & set(live)  # soft-deleted, recoverable
    for tid in (alpha, beta):
        side = api.get(f"/api/tenants/{tid}").json()["devices"]
        assert (side["active"], side["health"]) == (False, "inactive")
    assert len(api.get(f"/api/tenants/{alpha}/devices").json()["items"]) == 2  # data stays
    assert_error(api.post(f"/api/tenants/{alpha}/devices/sync"), 409, "tenant_inactive")
    assert_error(api.delete(f"/api/partners/{partner.id}"), 404, "unknown_partner")
    assert_error(api.delete("/api/partners/not-a-guid"), 400, "invalid_guid")

    # Saved again, the connection brings its customers back.
    again = api.post("/api/partners", json=partner_body(partner))
    assert again.status_code == 201, again.text
    assert sorted(again.json()["discovery"]["reactivated"]) == sorted([alpha, beta])
