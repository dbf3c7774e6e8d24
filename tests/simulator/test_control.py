"""The control API, in Python and over HTTPS under /_sim, changes what clients see next."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from simulator import FixtureError, Simulator

from .conftest import (
    APP,
    APP_NO_ROLES,
    GRAPH_SCOPE,
    LEVEL0,
    NESTED,
    OTHER_SECRET,
    SECRET,
    TENANT,
    USERS,
    graph_get,
    graph_token,
    http,
    msal_app,
)

NEW_USER = "00000000-0000-4000-8000-0000000000aa"


def member_ids(sim: Simulator, group: str) -> list[str]:
    page = graph_get(sim, f"/groups/{group}/members", graph_token(sim)).json()
    return [m["id"] for m in page["value"]]


def control(sim: Simulator, method: str, path: str, body: Any = None) -> requests.Response:
    return http(sim).request(method, f"{sim.base_url}/_sim{path}", json=body, timeout=10)


def test_add_and_remove_member_change_the_next_listing(sim: Simulator) -> None:
    sim.add_member(TENANT, NESTED, USERS[4])
    assert member_ids(sim, NESTED) == [USERS[1], USERS[2], USERS[4]]
    sim.remove_member(TENANT, NESTED, USERS[1])
    assert member_ids(sim, NESTED) == [USERS[2], USERS[4]]
    sim.add_member(TENANT, NESTED, USERS[1])
    sim.remove_member(TENANT, NESTED, USERS[4])


def test_members_route_adds_and_removes(sim: Simulator) -> None:
    members = f"/tenants/{TENANT}/groups/{NESTED}/members"
    response = control(sim, "POST", members, {"add": [USERS[0]], "remove": [USERS[2]]})
    assert response.status_code == 200
    assert member_ids(sim, NESTED) == [USERS[1], USERS[0]]
    control(sim, "POST", members, {"add": [USERS[2]], "remove": [USERS[0]]})
    assert member_ids(sim, NESTED) == [USERS[1], USERS[2]]


def test_upserted_object_shows_up_with_its_properties(sim: Simulator) -> None:
    user = {"id": NEW_USER, "displayName": "New Hire", "mail": "new@contoso.example"}
    assert control(sim, "PUT", f"/tenants/{TENANT}/objects/users", user).status_code == 200
    sim.add_member(TENANT, LEVEL0, NEW_USER)
    sim.upsert_object(TENANT, "users", {**user, "displayName": "Renamed Hire"})
    page = graph_get(sim, f"/groups/{LEVEL0}/members", graph_token(sim)).json()
    assert page["value"][-1]["displayName"] == "Renamed Hire"
    sim.delete_object(TENANT, "users", NEW_USER)
    assert NEW_USER not in member_ids(sim, LEVEL0)


def test_invalid_control_input_is_a_400_naming_the_problem(sim: Simulator) -> None:
    response = control(sim, "POST", f"/tenants/{TENANT}/groups/{NESTED}/members", {"add": ["abc"]})
    assert response.status_code == 400
    assert response.json() == {"error": "add[0]: unknown object 'abc'"}
    with pytest.raises(FixtureError, match="unknown tenant"):
        sim.add_member("11111111-2222-4333-8444-555555555555", NESTED, USERS[0])
    assert control(sim, "PUT", "/faults", [{"kind": "nope"}]).status_code == 400
    assert control(sim, "GET", "/nowhere").status_code == 404


def test_faults_stats_and_latency_routes(sim: Simulator) -> None:
    assert control(sim, "POST", "/stats/reset").status_code == 200
    fault = {"match": {"path_contains": "/members"}, "kind": "status", "status": 500}
    assert control(sim, "PUT", "/faults", [fault]).status_code == 200
    assert graph_get(sim, f"/groups/{NESTED}/members", graph_token(sim)).status_code == 500
    assert control(sim, "DELETE", "/faults").status_code == 200
    assert control(sim, "PUT", "/latency", {"seconds": 0}).status_code == 200
    stats = control(sim, "GET", "/stats").json()
    assert stats["requests"] == 3  # discovery, token, members: control calls are not counted
    assert stats["by_path_kind"]["GET graph.members"] == 1
    assert stats["faults"] == []


def test_removing_the_service_principal_gives_700016(sim: Simulator) -> None:
    sim.set_roles(TENANT, APP_NO_ROLES, None)
    result = msal_app(sim, APP_NO_ROLES, OTHER_SECRET).acquire_token_for_client(GRAPH_SCOPE)
    assert result["error_codes"] == [700016]
    sim.set_roles(TENANT, APP_NO_ROLES, [])


def test_a_rotated_secret_works_at_the_next_token_request(sim: Simulator) -> None:
    new = {
        "id": "0f1a2b3c-4d5e-4f6a-8b7c-2d3e4f5a6b7c",
        "value": "Rotated~Secret-4",
        "expires": "2099-01-01T00:00:00Z",
    }
    old = {
        "id": "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d",
        "value": SECRET,
        "expires": "2099-01-01T00:00:00Z",
    }
    assert control(sim, "PUT", f"/applications/{APP}/secrets", [new]).status_code == 200
    assert msal_app(sim, secret=SECRET).acquire_token_for_client(GRAPH_SCOPE)["error_codes"] == [
        7000215
    ]
    assert "access_token" in msal_app(sim, secret=new["value"]).acquire_token_for_client(
        GRAPH_SCOPE
    )
    sim.set_app_secrets(APP, [old, new])
