"""What a portal relies on over real HTTP: the change feed with its cursor, strict inputs,
the deletion guard it can see and release, and a client it can generate."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest
import requests
import uvicorn

from devstack.stack import free_port
from functions.api import create_app
from tests.api.conftest import Api, assert_error, run_queued_jobs, stored
from tests.conftest import Harness
from tests.world import World, seed_example


def read_feed(api: Api, tenant_id: str, cursor: str | None = None,
              page_size: int = 100) -> tuple[list[dict[str, Any]], str | None, int]:
    """Every change after ``cursor``; returns them, the last cursor and the pages read."""
    items, pages = [], 0
    while True:
        params: dict[str, Any] = {"pageSize": page_size}
        if cursor is not None:
            params["cursor"] = cursor
        answer = api.get(f"/api/tenants/{tenant_id}/changes", params=params)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items += body["items"]
        cursor, pages = body["cursor"], pages + 1
        if not body["more"]:
            return items, cursor, pages


@pytest.mark.slow
def test_a_portal_mirrors_a_tenant_through_the_change_feed(
    harness: Harness, world: World, api: Api
) -> None:
    t, ids = seed_example(world)
    harness.start()
    harness.onboard(t)
    empty = api.get(f"/api/tenants/{t.id}/changes").json()
    assert empty == {"items": [], "cursor": None, "more": False}
    first = harness.sync(t)
    changes, cursor, pages = read_feed(api, t.id, page_size=3)
    assert pages == 3 and len(changes) == 9
    assert [c["sequence"] for c in changes] == list(range(1, 10))
    assert set(changes[0]) == {"sequence", "entity", "entityId", "change", "name", "runId",
                               "syncKind", "changedAt"}
    # The run's 8 changes, then the change of health it made (the side is healthy now).
    assert {k: changes[8][k] for k in ("entity", "entityId", "change", "name", "runId")} == {
        "entity": "health", "entityId": "directory", "change": "changed", "name": "healthy",
        "runId": first.run_id}
    run = api.get(f"/api/tenants/{t.id}/runs/{first.run_id}").json()
    assert run["changesTo"] == cursor.split(".")[0] + ".8"
    assert run["changesFrom"].endswith(".0")

    # The mirror: users by id, kept from the feed alone plus a read of what changed.
    users = {u["id"]: u for u in api.get(f"/api/tenants/{t.id}/users").json()["items"]}
    assert users[ids["jane"]]["groupIds"] == [ids["management"]]
    assert users[ids["tom"]]["groupIds"] == [] and users[ids["tom"]]["changedAt"]
    group = api.get(f"/api/tenants/{t.id}/groups").json()["items"][0]
    assert group["memberCount"] == 2

    assert harness.sim is not None
    harness.sim.remove_member(t.id, ids["management"], ids["jane"])
    harness.sync(t)
    new, cursor2, _ = read_feed(api, t.id, cursor)
    assert {(c["entity"], c["entityId"], c["change"]) for c in new} == {
        ("user", ids["jane"], "deleted"), ("group", ids["management"], "updated"),
        ("membership", f"{ids['management']}_{ids['jane']}", "ended")}
    assert read_feed(api, t.id, cursor2)[0] == []  # at the end: nothing more, nothing again
    jane = next(u for u in api.get(f"/api/tenants/{t.id}/users",
                                   params={"deletedOnly": "true"}).json()["items"])
    assert jane["groupIds"] == [] and jane["azureIdDeleted"]

    for bad in ("garbage", "00000000.1", cursor2.split(".")[0] + ".999"):
        assert_error(api.get(f"/api/tenants/{t.id}/changes", params={"cursor": bad}), 400,
                     "invalid_cursor" if bad != "garbage" else "invalid_request")


@pytest.mark.parametrize("query", [
    "users?deletedonly=true", "users?DeletedOnly=true", "users?deletedOnly=true&foo=1",
    "groups?groupId=00000000-0000-0000-0000-000000000000", "runs?limit=5", "changes?since=1",
    "devices?user_deleted=true", "?Purge=true",
])
@pytest.mark.slow
def test_unknown_query_parameters_are_refused_naming_them(
    harness: Harness, world: World, api: Api, query: str
) -> None:
    t = harness.start_onboarded()
    harness.sync(t)
    before = stored(harness)
    removal = query.startswith("?")  # DELETE /tenants/{id}?Purge=true: refused, kept
    path = f"/api/tenants/{t.id}{'' if removal else '/'}{query}"
    method = "DELETE" if removal else "GET"
    error = assert_error(api.call(method, path), 400, "unknown_parameter")
    name = query.split("?")[1].split("=")[0] if "&" not in query else "foo"
    assert f"query.{name}" in error["message"]
    if name.casefold() == "deletedonly":
        assert "did you mean deletedOnly" in error["message"]
    assert stored(harness) == before  # nothing changed (not even the DELETE)
    # The function key may always come as `code` (the Functions host reads it).
    assert api.get(f"/api/tenants/{t.id}/users", params={"code": "k"}).status_code == 200


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/api/tenants/", 404, "not_found"),
    ("/api/tenants/{t}/", 404, "not_found"),
    ("/api/tenants/{t}/users/", 404, "not_found"),
    ("/api/tenants/{t}%2Fusers", 400, "invalid_path"),
    ("/api/tenants/{t}/users%2f", 400, "invalid_path"),
    ("/api/tenants/{t}/../{t}/users", 400, "invalid_path"),
    ("/api/tenants/{t}/./users", 400, "invalid_path"),
    ("/api/tenants/{t}/%2e%2e/{t}/users", 400, "invalid_path"),
    ("/api//tenants", 400, "invalid_path"),
])
def test_odd_paths_and_trailing_slashes_get_a_json_error_not_another_route(
    harness: Harness, api: Api, path: str, status: int, code: str
) -> None:
    t = harness.start_onboarded()
    url = api.base_url + path.format(t=t.id)
    # Sent as written: requests would otherwise normalise the dot segments away.
    session = requests.Session()
    prepared = requests.Request("GET", url).prepare()
    prepared.url = url
    answer = session.send(prepared, allow_redirects=False, timeout=10)
    assert_error(answer, status, code)


def test_a_405_lists_every_method_of_the_path(harness: Harness, api: Api) -> None:
    t = harness.start_onboarded()
    answer = api.call("PUT", f"/api/tenants/{t.id}")
    assert_error(answer, 405, "method_not_allowed")
    assert answer.headers["allow"] == "GET, PATCH, DELETE"
    held = api.call("POST", f"/api/tenants/{t.id}/directory/held")
    assert held.headers["allow"] == "GET, DELETE"


@pytest.mark.slow
def test_a_body_that_never_arrives_is_timed_out() -> None:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(body_timeout=0.5), host="127.0.0.1",
                                           port=port, log_config=None, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /api/tenants HTTP/1.1\r\nHost: x\r\ncontent-type: "
                         b"application/json\r\ncontent-length: 100\r\n\r\n{\"tenantId\"")
            started = time.monotonic()
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
            waited = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b'"code":"request_timeout"' in answer
        assert 0.4 < waited < 5
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.slow
def test_the_guard_is_visible_previewable_and_released_exactly_as_previewed(
    harness: Harness, world: World, api: Api
) -> None:
    t = world.tenant()
    members = [t.user(f"User {i:02d}") for i in range(12)]
    t.add(t.level0, *members)
    harness.start()
    harness.onboard(t)
    harness.sync(t)
    assert harness.sim is not None
    leavers = members[:11]
    for uid in leavers:
        harness.sim.remove_member(t.id, t.level0, uid)
    assert_error(api.get(f"/api/tenants/{t.id}/directory/held"), 404, "nothing_held")
    assert_error(api.post(f"/api/tenants/{t.id}/directory/sync",
                          json={"allowMassDeletion": True}), 404, "nothing_held")

    held_run = harness.sync(t)
    assert held_run.error_code == "deletion_guard"
    tenant = api.get(f"/api/tenants/{t.id}").json()
    assert tenant["health"] == "deletion_held"
    assert "11 of 12 users" in tenant["lastError"]
    preview = api.get(f"/api/tenants/{t.id}/directory/held",
                      params={"change": "deleted", "pageSize": 5}).json()
    assert preview["counts"] == {"usersDeleted": 11, "groupsDeleted": 0, "membershipsEnded": 0,
                                 "changes": 11}
    assert preview["runId"] == held_run.run_id
    shown = preview["changes"]
    token = preview["continuationToken"]
    while token:
        page = api.get(f"/api/tenants/{t.id}/directory/held",
                       params={"change": "deleted", "pageSize": 5,
                               "continuationToken": token}).json()
        shown += page["changes"]
        token = page["continuationToken"]
    assert {c["entityId"] for c in shown} == set(leavers)
    assert {c["name"] for c in shown} == {f"User {i:02d}" for i in range(11)}

    # A second run without a release stays held, and nothing is written.
    again = harness.sync(t)
    assert again.error_code == "deletion_guard"
    assert not harness.users(t, deleted_only=True)

    # The directory changes after the preview: the release is held again, with a new
    # preview, rather than applying what nobody saw.
    newcomer = t.user("Newcomer")
    harness.sim.upsert_object(t.id, "users", {"id": newcomer, "displayName": "Newcomer",
                                              "mail": None, "userPrincipalName": "n@x.example"})
    harness.sim.add_member(t.id, t.level0, newcomer)
    release = api.post(f"/api/tenants/{t.id}/directory/sync", json={"allowMassDeletion": True})
    assert release.status_code == 202, release.text
    run_queued_jobs(harness, "directory")
    rerun = api.get(release.json()["statusUrl"]).json()
    assert (rerun["status"], rerun["errorCode"]) == ("skipped", "deletion_guard")
    assert "differ from the preview" in rerun["error"]
    assert not harness.users(t, deleted_only=True)
    preview = api.get(f"/api/tenants/{t.id}/directory/held", params={"pageSize": 100}).json()
    previewed = {(c["entity"], c["entityId"], c["change"]) for c in preview["changes"]}
    assert ("user", newcomer, "created") in previewed

    # Released again: exactly the previewed changes are written, then the tenant is healthy.
    before = read_feed(api, t.id)[1]
    release = api.post(f"/api/tenants/{t.id}/directory/sync", json={"allowMassDeletion": True})
    run_queued_jobs(harness, "directory")
    applied = api.get(release.json()["statusUrl"]).json()
    assert applied["status"] == "succeeded", applied
    written = {(c["entity"], c["entityId"], c["change"]) for c in read_feed(api, t.id, before)[0]}
    # Exactly the previewed changes, and the side's change of health (held -> healthy).
    assert written == previewed | {("health", "directory", "changed")}
    assert set(harness.users(t, deleted_only=True)) == set(leavers)
    assert api.get(f"/api/tenants/{t.id}").json()["health"] == "healthy"
    assert_error(api.get(f"/api/tenants/{t.id}/directory/held"), 404, "nothing_held")


@pytest.mark.slow
def test_a_held_sync_can_be_discarded(harness: Harness, world: World, api: Api) -> None:
    t = world.tenant()
    members = [t.user(f"User {i:02d}") for i in range(12)]
    t.add(t.level0, *members)
    harness.start()
    harness.onboard(t)
    harness.sync(t)
    assert harness.sim is not None
    for uid in members:
        harness.sim.remove_member(t.id, t.level0, uid)
    harness.sync(t)
    assert api.get(f"/api/tenants/{t.id}").json()["health"] == "deletion_held"
    assert api.delete(f"/api/tenants/{t.id}/directory/held").status_code == 204
    tenant = api.get(f"/api/tenants/{t.id}").json()
    assert (tenant["health"], tenant["lastErrorCode"]) == ("healthy", None)
    assert_error(api.get(f"/api/tenants/{t.id}/directory/held"), 404, "nothing_held")
    assert not harness.users(t, deleted_only=True)


def test_the_openapi_document_makes_a_good_client(harness: Harness, api: Api) -> None:
    harness.start()
    doc = api.get("/api/openapi.json").json()
    ids = {op["operationId"] for path in doc["paths"].values() for op in path.values()}
    assert {"listUsers", "listChanges", "getHeldSync", "startDirectorySync",
            "createTenant"} <= ids
    assert all(len(i) <= 24 and "_" not in i for i in ids)
    tenants = doc["paths"]["/api/tenants"]["post"]["responses"]["201"]
    assert "Location" in tenants["headers"]
    sync = doc["paths"]["/api/tenants/{tenantId}/directory/sync"]["post"]["responses"]["202"]
    assert "Location" in sync["headers"]
    schemas = doc["components"]["schemas"]

    def times(schema: dict[str, Any]) -> list[dict[str, Any]]:
        found = []
        for name, prop in schema.get("properties", {}).items():
            if name.endswith(("At", "Since", "On")):
                found.append(prop)
        return found

    for name in ("User", "Group", "Device", "RunOut", "ChangeOut", "DetectedApp"):
        for prop in times(schemas[name]):
            kinds = prop.get("anyOf", [prop])
            assert any(k.get("format") == "date-time" for k in kinds), (name, prop)
    for schema in schemas.values():
        for field in schema.get("properties", {}):
            assert "_" not in field, field

    page = api.get("/api/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower() and "https://" not in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert api.get(f"/api/docs/assets/{asset}").status_code == 200
