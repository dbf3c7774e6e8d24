"""Graph v1.0 `GET /groups`: a tenant's security groups by name, for choosing a level-0 group."""

from __future__ import annotations

import pytest

from simulator import Simulator

from .conftest import (
    APP_NO_ROLES,
    GROUP_FIVE,
    LEVEL0,
    NESTED,
    OTHER_SECRET,
    graph_get,
    graph_token,
)

SECURITY = "$filter=securityEnabled eq true"


@pytest.fixture(scope="module")
def token(sim: Simulator) -> str:
    return graph_token(sim)


def test_security_groups_are_listed_and_paged(sim: Simulator, token: str) -> None:
    url = f"/groups?{SECURITY}&$select=id,displayName&$top=2"
    pages = []
    while url:
        response = graph_get(sim, url, token)
        assert response.status_code == 200, response.text
        pages.append(response.json()["value"])
        url = response.json().get("@odata.nextLink")
    assert [len(p) for p in pages] == [2, 1]
    assert [g["id"] for p in pages for g in p] == [GROUP_FIVE, NESTED, LEVEL0]
    assert pages[0][0] == {"id": GROUP_FIVE, "displayName": "Five"}


def test_a_name_prefix_narrows_them_in_any_case(sim: Simulator, token: str) -> None:
    response = graph_get(sim, f"/groups?{SECURITY} and startswith(displayName,'tiny')", token)
    assert [g["displayName"] for g in response.json()["value"]] == ["TinyMDM"]
    quoted = graph_get(sim, f"/groups?{SECURITY} and startswith(displayName,'O''Brien')", token)
    assert quoted.json()["value"] == []


@pytest.mark.parametrize("query", [
    "", "$filter=mailEnabled eq true", f"{SECURITY}&$orderby=displayName",
    f"{SECURITY}&$top=1000",
])
def test_other_queries_are_refused(sim: Simulator, token: str, query: str) -> None:
    response = graph_get(sim, f"/groups?{query}", token)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "Request_UnsupportedQuery"


def test_listing_needs_a_group_permission(sim: Simulator) -> None:
    token = graph_token(sim, APP_NO_ROLES, OTHER_SECRET)
    response = graph_get(sim, f"/groups?{SECURITY}", token)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "Authorization_RequestDenied"
