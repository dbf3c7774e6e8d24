"""Tenants over HTTP: onboard after a connection test, read, list, change, remove, purge."""

from __future__ import annotations

import pytest

from functions.onboarding.names import directory_secret_name
from tests.api.conftest import Api, assert_error, stored, tenant_body, vault_state
from tests.conftest import Harness
from tests.world import World, seed_example


def test_creating_a_tenant_tests_the_connection_then_stores_it(
    harness: Harness, world: World, api: Api
) -> None:
    t, _ = seed_example(world)
    harness.start()
    r = api.post("/api/tenants", json=tenant_body(t, secretExpiresOn="2030-05-31"))
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"/api/tenants/{t.id}"
    body = r.json()
    assert body["tenantId"] == t.id
    assert body["displayName"] == "TinyMDM"  # read from the group by the connection test
    assert body["directory"] == {"clientId": t.app_id, "groupId": t.level0,
                                 "scope": "https://graph.microsoft.com/.default",
                                 "credentialType": "secret"}
    assert body["secretExpiresOn"].startswith("2030-05-31T00:00:00")
    assert "clientSecret" not in r.text
    assert t.secret not in r.text
    assert harness.services.tenants.get(t.id).enabled
    live, _ = vault_state(harness)
    assert live == {directory_secret_name(t.id): 1}
    assert api.get(f"/api/tenants/{t.id}").json() == body


def test_a_secret_id_instead_of_its_value_is_refused_and_nothing_is_stored(
    harness: Harness, world: World, api: Api
) -> None:
    t, _ = seed_example(world)
    harness.start()
    before = stored(harness)
    r = api.post("/api/tenants", json=tenant_body(t, clientSecret=t.secret_id))
    error = assert_error(r, 422, "invalid_secret")
    assert "secret ID instead of its value" in error["message"]
    assert stored(harness) == before
    assert harness.services.tenants.find(t.id) is None
    assert vault_state(harness) == ({}, set())


@pytest.mark.parametrize(("change", "code"), [
    ({"groupId": "00000000-0000-0000-0000-000000000001"}, "group_not_found"),
    ({"clientId": "00000000-0000-0000-0000-000000000002"}, "app_not_found"),
    ({"tenantId": "00000000-0000-0000-0000-000000000003"}, "tenant_not_found"),
])
def test_each_failed_connection_test_names_its_fix(
    harness: Harness, world: World, api: Api, change: dict[str, str], code: str
) -> None:
    t, _ = seed_example(world)
    harness.start()
    before = stored(harness)
    assert_error(api.post("/api/tenants", json=tenant_body(t, **change)), 422, code)
    assert stored(harness) == before


@pytest.mark.parametrize(("body", "code", "hint"), [
    ({"tenantId": "not-a-guid"}, "invalid_guid", "body.tenantId: must be a GUID"),
    ({"clientId": 42}, "invalid_request", "body.clientId"),
    ({"clientSecret": ""}, "invalid_request", "body.clientSecret"),
    ({"clientSecret": None}, "invalid_request", "body.clientSecret"),
    ({"scope": "graph"}, "invalid_scope", "body.scope: must look like"),
    ({"secretExpiresOn": "soon"}, "invalid_time", "body.secretExpiresOn: must be an ISO"),
    ({"secretExpiresOn": 1_900_000_000}, "invalid_time", "body.secretExpiresOn"),
    ({"groupName": "TinyMDM"}, "invalid_request", "body.groupName: unknown field"),
])
def test_malformed_tenant_bodies_are_400_and_change_nothing(
    harness: Harness, world: World, api: Api, body: dict[str, object], code: str, hint: str
) -> None:
    t, _ = seed_example(world)
    harness.start()
    before = stored(harness)
    error = assert_error(api.post("/api/tenants", json=tenant_body(t, **body)), 400, code)
    assert hint in error["message"]
    assert t.secret not in error["message"]
    assert stored(harness) == before


def test_bad_json_missing_body_and_oversized_body_are_refused(
    harness: Harness, world: World, api: Api
) -> None:
    t, _ = seed_example(world)
    harness.start()
    before = stored(harness)
    headers = {"content-type": "application/json"}
    assert_error(api.post("/api/tenants", data=b'{"tenantId": ', headers=headers), 400,
                 "invalid_json")
    assert_error(api.post("/api/tenants"), 400, "invalid_request")
    assert_error(api.post("/api/tenants", json=[1, 2]), 400, "invalid_request")
    huge = tenant_body(t, clientSecret="x" * (70 * 1024))
    assert_error(api.post("/api/tenants", json=huge), 413, "body_too_large")

    def chunks():  # no Content-Length: the limit holds for a chunked body too
        for _ in range(80):
            yield b" " * 1024
        yield b"{}"

    assert_error(api.post("/api/tenants", data=chunks(), headers=headers), 413,
                 "body_too_large")
    assert_error(api.patch(f"/api/tenants/{t.id}", json=huge), 413, "body_too_large")
    assert stored(harness) == before


def test_creating_an_onboarded_tenant_again_is_409(
    harness: Harness, world: World, api: Api
) -> None:
    t = harness.start_onboarded()
    before = stored(harness)
    error = assert_error(api.post("/api/tenants", json=tenant_body(t)), 409, "tenant_exists")
    assert f"PATCH /api/tenants/{t.id}" in error["message"]
    assert stored(harness) == before


def test_tenants_list_with_health_in_bounded_pages(
    harness: Harness, world: World, api: Api
) -> None:
    tenants = [seed_example(world)[0] for _ in range(3)]
    harness.start()
    for t in tenants:
        harness.onboard(t)
    harness.sync(tenants[0])
    seen, token, pages = [], None, 0
    while True:
        params = {"pageSize": 2, **({"continuationToken": token} if token else {})}
        r = api.get("/api/tenants", params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        seen += page["items"]
        pages += 1
        token = page["continuationToken"]
        if not token:
            break
    assert pages >= 2
    assert sorted(x["tenantId"] for x in seen) == sorted(t.id for t in tenants)
    health = {x["tenantId"]: x["health"] for x in seen}
    assert health[tenants[0].id] == "healthy"
    assert health[tenants[1].id] == "unknown"


@pytest.mark.parametrize("query", [
    "pageSize=0", "pageSize=1001", "pageSize=-1", "pageSize=ten", "pageSize=1.5",
])
def test_page_sizes_out_of_bounds_are_400(
    harness: Harness, api: Api, query: str
) -> None:
    harness.start()
    error = assert_error(api.get(f"/api/tenants?{query}"), 400, "invalid_page_size")
    assert "pageSize" in error["message"]


@pytest.mark.parametrize("token", [
    "garbage", "e30=", "bnVsbA==", "eyJQYXJ0aXRpb25LZXkiOiAxfQ==", "x" * 5000,
])
def test_forged_continuation_tokens_are_400(harness: Harness, api: Api, token: str) -> None:
    harness.start()
    assert_error(api.get("/api/tenants", params={"continuationToken": token}), 400,
                 "invalid_continuation")


def test_unknown_and_malformed_tenant_ids(harness: Harness, world: World, api: Api) -> None:
    harness.start()
    unknown = "11111111-2222-3333-4444-555555555555"
    assert_error(api.get(f"/api/tenants/{unknown}"), 404, "unknown_tenant")
    assert_error(api.patch(f"/api/tenants/{unknown}", json={"enabled": False}), 404,
                 "unknown_tenant")
    assert_error(api.delete(f"/api/tenants/{unknown}"), 404, "unknown_tenant")
    for bad in ("nope", "11111111-2222-3333-4444-55555555555Z", "'%20or%20''='"):
        error = assert_error(api.get(f"/api/tenants/{bad}"), 400, "invalid_guid")
        assert "path.tenantId" in error["message"]


@pytest.mark.slow
def test_a_new_secret_is_a_new_key_vault_version_after_a_connection_test(
    harness: Harness, world: World, api: Api
) -> None:
    t = harness.start_onboarded()
    name = directory_secret_name(t.id)
    new_secret = "val~rotated-secret-value"
    assert harness.sim is not None
    harness.sim.set_app_secrets(t.app_id, [
        {"id": t.secret_id, "value": t.secret, "expires": "2099-01-01T00:00:00Z"},
        {"id": "5e5e5e5e-0000-0000-0000-000000000000", "value": new_secret,
         "expires": "2031-01-01T00:00:00Z"},
    ])
    r = api.patch(f"/api/tenants/{t.id}",
                  json={"clientSecret": new_secret, "secretExpiresOn": "2031-01-01T00:00:00Z"})
    assert r.status_code == 200, r.text
    assert r.json()["secretExpiresOn"].startswith("2031-01-01")
    assert new_secret not in r.text
    assert vault_state(harness)[0] == {name: 2}
    assert harness.services.secrets.get(name, fresh=True).value.reveal() == new_secret
    assert harness.sync(t).status == "succeeded"  # the next token request uses it

    # A wrong secret is tested first and changes nothing, in the vault or the tables.
    before = stored(harness)
    error = assert_error(api.patch(f"/api/tenants/{t.id}", json={"clientSecret": t.secret_id}),
                         422, "invalid_secret")
    assert "secret ID instead of its value" in error["message"]
    assert stored(harness) == before


def test_patch_changes_the_group_after_testing_it_with_the_saved_secret(
    harness: Harness, world: World, api: Api
) -> None:
    t, ids = seed_example(world)
    harness.start()
    harness.onboard(t)
    r = api.patch(f"/api/tenants/{t.id}", json={"groupId": ids["management"].upper()})
    assert r.status_code == 200, r.text
    assert r.json()["directory"]["groupId"] == ids["management"]
    assert r.json()["displayName"] == "Management"
    assert vault_state(harness)[0] == {directory_secret_name(t.id): 1}  # no new version


@pytest.mark.parametrize(("body", "code"), [
    ({}, "invalid_request"),
    ({"enabled": None}, "invalid_request"),
    ({"enabled": "no"}, "invalid_request"),
    ({"secretExpiresOn": "2031-01-01T00:00:00Z"}, "secret_required"),
    ({"clientSecret": "new", "secretExpiresOn": "2020-01-01"}, "invalid_time"),  # past
    ({"tenantId": "11111111-2222-3333-4444-555555555555"}, "invalid_request"),
    ({"groupId": "Management"}, "invalid_guid"),
])
@pytest.mark.slow
def test_malformed_patches_are_400_and_change_nothing(
    harness: Harness, world: World, api: Api, body: dict[str, object], code: str
) -> None:
    t = harness.start_onboarded()
    before = stored(harness)
    assert_error(api.patch(f"/api/tenants/{t.id}", json=body), 400, code)
    assert stored(harness) == before


def test_disable_and_enable_leave_a_tenant_out_of_and_back_in_the_schedule(
    harness: Harness, world: World, api: Api
) -> None:
    t = harness.start_onboarded()
    r = api.patch(f"/api/tenants/{t.id}", json={"enabled": False})
    assert r.status_code == 200
    assert r.json()["enabled"] is False
    assert harness.services.scheduler.schedule("directory") == (0, 1)
    assert api.patch(f"/api/tenants/{t.id}", json={"enabled": True}).json()["enabled"]
    assert harness.services.scheduler.schedule("directory") == (1, 0)


@pytest.mark.slow
def test_delete_removes_the_configuration_and_keeps_the_synced_data(
    harness: Harness, world: World, api: Api
) -> None:
    t = harness.start_onboarded()
    harness.sync(t)
    data_before = [e for e in harness.entities() if not e["_table"].endswith("tenants")]
    r = api.delete(f"/api/tenants/{t.id}")
    assert r.status_code == 204
    assert r.content == b""
    assert harness.services.tenants.find(t.id) is None
    assert [e for e in harness.entities() if not e["_table"].endswith("tenants")] == data_before
    assert vault_state(harness) == ({}, {directory_secret_name(t.id)})  # soft-deleted
    assert_error(api.get(f"/api/tenants/{t.id}"), 404, "unknown_tenant")

    # Re-adding it recovers the soft-deleted secret and saves the value as a new version.
    assert api.post("/api/tenants", json=tenant_body(t)).status_code == 201
    assert vault_state(harness) == ({directory_secret_name(t.id): 2}, set())
    assert len(harness.users(t)) == 5  # the kept data is the tenant's again


@pytest.mark.slow
def test_purge_is_the_only_hard_delete_and_touches_only_that_tenant(
    harness: Harness, world: World, api: Api
) -> None:
    t, _ = seed_example(world)
    other, _ = seed_example(world)
    harness.start()
    harness.onboard(t)
    harness.onboard(other)
    harness.sync(t)
    harness.sync(other)
    others_before = [e for e in harness.entities() if e["PartitionKey"] == other.id]
    assert api.delete(f"/api/tenants/{t.id}", params={"purge": "true"}).status_code == 204
    remaining = harness.entities()
    assert not [e for e in remaining if e["PartitionKey"] == t.id or e["RowKey"] == t.id]
    assert [e for e in remaining if e["PartitionKey"] == other.id] == others_before
    assert harness.services.tenants.find(other.id) is not None


@pytest.mark.slow
def test_delete_waits_for_a_queued_sync(harness: Harness, world: World, api: Api) -> None:
    t = harness.start_onboarded()
    run_id = api.post(f"/api/tenants/{t.id}/directory/sync").json()["runId"]
    before = stored(harness)
    error = assert_error(api.delete(f"/api/tenants/{t.id}", params={"purge": "true"}), 409,
                         "sync_running")
    assert error["runId"] == run_id
    assert stored(harness) == before
