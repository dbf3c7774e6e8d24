"""A tenant's directory over HTTP: start a sync through the queue; users and groups."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.api.conftest import (
    INJECTIONS,
    Api,
    assert_error,
    queued_jobs,
    run_queued_jobs,
    stored,
)
from tests.conftest import Harness
from tests.world import Tenant, World, seed_example


@pytest.mark.slow
def test_a_started_sync_is_queued_and_the_queue_function_completes_that_run(
    harness: Harness, world: World, api: Api
) -> None:
    t = harness.start_onboarded()
    r = api.post(f"/api/tenants/{t.id}/directory/sync")
    assert r.status_code == 202, r.text
    started = r.json()
    run_id = started["runId"]
    assert started["status"] == "queued"
    assert started["statusUrl"] == f"/api/tenants/{t.id}/runs/{run_id}"
    assert r.headers["location"] == started["statusUrl"]
    assert queued_jobs(harness) == [
        {"tenant_id": t.id, "kind": "directory", "trigger": "http", "run_id": run_id}
    ]
    assert api.get(started["statusUrl"]).json()["status"] == "queued"

    # A second start while the first is queued: 409 naming the first run.
    before = stored(harness)
    error = assert_error(api.post(f"/api/tenants/{t.id}/directory/sync"), 409, "sync_running")
    assert error["runId"] == run_id
    assert run_id in error["message"]
    assert stored(harness) == before

    assert run_queued_jobs(harness, "directory") == 1
    run = api.get(started["statusUrl"]).json()
    assert run["runId"] == run_id
    assert run["status"] == "succeeded"
    assert run["trigger"] == "http"
    assert run["users"]["created"] == 5
    assert [r["runId"] for r in api.get(f"/api/tenants/{t.id}/runs").json()["items"]] == [
        run_id
    ]
    # Once it has ended, a new sync can start.
    assert api.post(f"/api/tenants/{t.id}/directory/sync").status_code == 202


def test_a_sync_started_with_full_reads_the_whole_tree(harness: Harness, api: Api) -> None:
    t = harness.start_onboarded()
    assert harness.sync(t).status.value == "succeeded"
    assert harness.sim is not None
    first = int(harness.sim.stats()["by_path_kind"].get("GET graph.members", 0))
    assert api.post(f"/api/tenants/{t.id}/directory/sync").status_code == 202
    assert run_queued_jobs(harness, "directory") == 1  # by delta: no listing read again
    assert harness.sim.stats()["by_path_kind"].get("GET graph.members", 0) == first
    r = api.post(f"/api/tenants/{t.id}/directory/sync", json={"full": True})
    assert r.status_code == 202, r.text
    assert run_queued_jobs(harness, "directory") == 1
    assert harness.sim.stats()["by_path_kind"].get("GET graph.members", 0) == 2 * first
    assert api.get(r.json()["statusUrl"]).json()["status"] == "succeeded"


def test_sync_start_bad_input_is_4xx_and_queues_nothing(
    harness: Harness, world: World, api: Api
) -> None:
    t = harness.start_onboarded()
    before = stored(harness)
    assert_error(api.post("/api/tenants/not-a-guid/directory/sync"), 400, "invalid_guid")
    assert_error(api.post("/api/tenants/11111111-2222-3333-4444-555555555555/directory/sync"),
                 404, "unknown_tenant")
    assert_error(api.get(f"/api/tenants/{t.id}/directory/sync"), 405, "method_not_allowed")
    assert stored(harness) == before
    assert queued_jobs(harness) == []


def _ids(response: Any) -> set[str]:
    assert response.status_code == 200, response.text
    return {u["id"] for u in response.json()["items"]}


@pytest.mark.slow
def test_user_filters(harness: Harness, world: World, api: Api) -> None:
    t, ids = seed_example(world)
    harness.start()
    harness.onboard(t)
    harness.sync(t)
    assert harness.sim is not None
    harness.sim.remove_member(t.id, t.level0, ids["john"])
    harness.sync(t)
    users = f"/api/tenants/{t.id}/users"
    everyone = {ids[k] for k in ("tom", "john", "jane", "richard", "alex")}
    assert _ids(api.get(users)) == everyone
    deleted = api.get(users, params={"deletedOnly": "true"}).json()["items"]
    assert [(u["id"], u["azureIdDeleted"]) for u in deleted] == [(ids["john"], True)]
    assert deleted[0]["deletedAt"]
    assert _ids(api.get(users, params={"anonymousOnly": "true"})) == {ids["alex"]}
    assert _ids(api.get(users, params={"groupId": ids["management"]})) == {
        ids["jane"], ids["richard"]
    }
    assert _ids(api.get(users, params={"groupId": ids["management"].upper(),
                                       "namePrefix": "Jane"})) == {ids["jane"]}
    assert _ids(api.get(users, params={"emailPrefix": "j"})) == {ids["john"], ids["jane"]}
    assert _ids(api.get(users, params={"namePrefix": "J", "deletedOnly": "1"})) == {
        ids["john"]
    }
    assert _ids(api.get(users, params={"namePrefix": "Ri"})) == {ids["richard"]}
    # Any case, on both sides.
    assert _ids(api.get(users, params={"namePrefix": "rI"})) == {ids["richard"]}
    assert _ids(api.get(users, params={"emailPrefix": "J"})) == {ids["john"], ids["jane"]}
    alex = api.get(users, params={"anonymousOnly": "true"}).json()["items"][0]
    assert alex["email"] is None
    assert alex["anonymous"] is True
    assert alex["upn"] == "alex.anonymous@contoso.onmicrosoft.com"

    groups = api.get(f"/api/tenants/{t.id}/groups").json()
    assert [(g["id"], g["displayName"], g["azureIdDeleted"]) for g in groups["items"]] == [
        (ids["management"], "Management", False)
    ]
    assert api.get(f"/api/tenants/{t.id}/groups",
                   params={"deletedOnly": "true"}).json()["items"] == []


def test_users_page_through_the_whole_list_with_and_without_a_group(
    harness: Harness, world: World, api: Api
) -> None:
    t = world.tenant()
    members = [t.user(f"User {i:02d}") for i in range(7)]
    team = t.group("Team", *members)
    t.add(t.level0, *members[:4], team)
    harness.start()
    harness.onboard(t)
    harness.sync(t)
    for params in ({}, {"groupId": team}):
        seen: list[str] = []
        token = None
        while True:
            page = api.get(f"/api/tenants/{t.id}/users", params={
                **params, "pageSize": 3, **({"continuationToken": token} if token else {})
            }).json()
            assert len(page["items"]) <= 3
            seen += [u["id"] for u in page["items"]]
            token = page["continuationToken"]
            if not token:
                break
        assert sorted(seen) == sorted(members)


def _two_synced_tenants(harness: Harness, world: World) -> tuple[Tenant, Tenant, dict[str, str]]:
    t, ids = seed_example(world)
    other, _ = seed_example(world)
    harness.start()
    for x in (t, other):
        harness.onboard(x)
        harness.sync(x)
    return t, other, ids




@pytest.mark.slow
@pytest.mark.parametrize("field", ["namePrefix", "emailPrefix"])
def test_filter_values_cannot_break_out_of_the_tenants_query(
    harness: Harness, world: World, api: Api, field: str
) -> None:
    t, other, _ = _two_synced_tenants(harness, world)
    others = {u.id for u in harness.users(other).values()}
    mine = {u.id for u in harness.users(t).values()}
    before = stored(harness)
    for value in INJECTIONS:
        r = api.get(f"/api/tenants/{t.id}/users", params={field: value, "pageSize": 1000})
        got = _ids(r)
        assert not got & others, value
        assert got <= mine
        assert all(u["id"] in mine for u in r.json()["items"])
    # The same quote characters in a real prefix still match what they should.
    assert _ids(api.get(f"/api/tenants/{t.id}/users", params={field: "J"})) <= mine
    assert stored(harness) == before


@pytest.mark.slow
def test_injection_in_ids_tokens_and_kinds_is_refused(
    harness: Harness, world: World, api: Api
) -> None:
    t, other, _ = _two_synced_tenants(harness, world)
    before = stored(harness)
    for value in ("' or PartitionKey ne '", "x' or 'a'='a"):
        assert_error(api.get(f"/api/tenants/{t.id}/users", params={"groupId": value}), 400,
                     "invalid_guid")
        assert_error(api.get(f"/api/tenants/{t.id}/runs", params={"kind": value}), 400,
                     "invalid_request")
        assert_error(api.get(f"/api/tenants/{t.id}/runs/{value}"), 400, "invalid_run_id")
    # A continuation token pointing into the other tenant's partition yields only this
    # tenant's rows: the filter, not the token, decides.
    forged = base64.urlsafe_b64encode(json.dumps(
        {"PartitionKey": other.id, "RowKey": "0"}).encode()).decode()
    r = api.get(f"/api/tenants/{t.id}/users", params={"continuationToken": forged})
    assert _ids(r) <= {u.id for u in harness.users(t).values()}
    assert stored(harness) == before


@pytest.mark.parametrize("query", [
    "namePrefix=", "emailPrefix=%00", "namePrefix=" + "a" * 257, "deletedOnly=maybe",
    "anonymousOnly=2", "groupId=nope", "pageSize=1001", "pageSize=0",
])
def test_malformed_user_filters_are_400(
    harness: Harness, world: World, api: Api, query: str
) -> None:
    t = harness.start_onboarded()
    r = api.get(f"/api/tenants/{t.id}/users?{query}")
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] in {"invalid_filter", "invalid_request", "invalid_guid",
                                         "invalid_page_size"}


def test_unknown_tenant_users_and_groups_are_404(harness: Harness, api: Api) -> None:
    harness.start()
    unknown = "11111111-2222-3333-4444-555555555555"
    assert_error(api.get(f"/api/tenants/{unknown}/users"), 404, "unknown_tenant")
    assert_error(api.get(f"/api/tenants/{unknown}/groups"), 404, "unknown_tenant")
    assert_error(api.get("/api/tenants/bad/groups"), 400, "invalid_guid")
