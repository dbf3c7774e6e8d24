"""Runs over HTTP: one run, a tenant's recent runs, failures across tenants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.api.conftest import Api, assert_error
from tests.conftest import Harness
from tests.world import World, seed_example


@pytest.mark.slow
def test_one_run_and_a_tenants_runs_newest_first_in_pages(
    harness: Harness, world: World, api: Api
) -> None:
    t = harness.start_onboarded()
    runs = [harness.sync(t) for _ in range(3)]
    r = api.get(f"/api/tenants/{t.id}/runs/{runs[0].run_id}")
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["status"] == "succeeded"
    assert first["users"] == {"created": 5, "updated": 0, "unchanged": 0, "markedDeleted": 0,
                              "restored": 0}
    assert first["ignored"] == {"nestedGroup": 1}  # DG inside Management
    assert first["graphRequests"] > 0
    assert first["endedAt"] >= first["startedAt"]

    page1 = api.get(f"/api/tenants/{t.id}/runs", params={"pageSize": 2}).json()
    page2 = api.get(f"/api/tenants/{t.id}/runs", params={
        "pageSize": 2, "continuationToken": page1["continuationToken"]}).json()
    listed = [x["runId"] for x in page1["items"] + page2["items"]]
    assert listed == [r.run_id for r in reversed(runs)]
    assert page2["continuationToken"] is None
    assert api.get(f"/api/tenants/{t.id}/runs", params={"kind": "devices"}).json()[
        "items"] == []


@pytest.mark.slow
def test_failures_across_tenants(harness: Harness, world: World, api: Api) -> None:
    good, _ = seed_example(world)
    bad = world.tenant("Fabrikam")
    bad.add(bad.level0, bad.user("Pat Doe"))
    harness.start()
    harness.onboard(good)
    harness.onboard(bad)
    assert harness.sim is not None
    harness.sim.set_roles(bad.id, bad.app_id, ["GroupMember.Read.All"])  # User.Read.All revoked
    harness.services.tokens.forget()
    harness.sync(good)
    failed = harness.sync(bad)
    assert failed.status == "failed"
    r = api.get("/api/runs/failures")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [(x["tenantId"], x["runId"]) for x in items] == [(bad.id, failed.run_id)]
    assert items[0]["errorCode"] == "permission_missing"
    assert "User.Read.All" in items[0]["error"]
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert api.get("/api/runs/failures", params={"since": later}).json()["items"] == []
    naive = (datetime.now(UTC) - timedelta(hours=1)).replace(tzinfo=None).isoformat()
    assert len(api.get("/api/runs/failures", params={"since": naive}).json()["items"]) == 1
    assert api.get("/api/runs/failures", params={"kind": "devices"}).json()["items"] == []
    tenant = api.get(f"/api/tenants/{bad.id}").json()
    assert tenant["health"] == "permission_missing"
    assert tenant["lastErrorCode"] == "permission_missing"


def test_run_lookups_with_bad_input(harness: Harness, world: World, api: Api) -> None:
    t = harness.start_onboarded()
    assert_error(api.get(f"/api/tenants/{t.id}/runs/8204691689246-bc7933ff"), 404,
                 "unknown_run")
    assert_error(api.get(f"/api/tenants/{t.id}/runs/latest"), 400, "invalid_run_id")
    assert_error(api.get("/api/tenants/x/runs"), 400, "invalid_guid")
    assert_error(api.get("/api/tenants/11111111-2222-3333-4444-555555555555/runs"), 404,
                 "unknown_tenant")
    for since in ("yesterday", "1700000000"):  # not a Unix time either
        assert_error(api.get("/api/runs/failures", params={"since": since}), 400,
                     "invalid_time")
    assert_error(api.get("/api/runs/failures", params={"pageSize": 5000}), 400,
                 "invalid_page_size")
