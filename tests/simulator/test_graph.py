"""Graph v1.0 groups and members: paging, $select, permissions and errors."""

from __future__ import annotations

import uuid

import pytest

from simulator import Simulator

from .conftest import (
    APP_GROUPS_ONLY,
    APP_NO_ROLES,
    CONTACT,
    DEVICE,
    GROUP_FIVE,
    LEVEL0,
    NESTED,
    OPERATOR,
    OPERATOR_SECRET,
    OTHER_SECRET,
    USERS,
    graph_get,
    graph_token,
    http,
    msal_app,
)


@pytest.fixture(scope="module")
def token(sim: Simulator) -> str:
    return graph_token(sim)


def test_members_are_paged_with_top_and_the_last_page_has_no_next_link(
    sim: Simulator, token: str
) -> None:
    url = f"/groups/{GROUP_FIVE}/members?$top=2&$select=id,displayName,mail"
    pages = []
    while url:
        response = graph_get(sim, url, token)
        assert response.status_code == 200
        page = response.json()
        assert page["@odata.context"].endswith("$metadata#directoryObjects(id,displayName,mail)")
        pages.append(page["value"])
        url = page.get("@odata.nextLink")
        if url:
            assert url.startswith(f"{sim.base_url}/v1.0/groups/{GROUP_FIVE}/members?")
            assert "$top=2" in url
            assert "$select=id,displayName,mail" in url
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [m["id"] for p in pages for m in p] == USERS  # insertion order
    assert pages[0][0] == {
        "@odata.type": "#microsoft.graph.user",
        "id": USERS[0],
        "displayName": "User 1",
        "mail": "user1@contoso.example",
    }
    assert pages[2][0]["mail"] is None  # a user without mail


def test_default_page_holds_everything_and_default_properties(sim: Simulator, token: str) -> None:
    page = graph_get(sim, f"/groups/{GROUP_FIVE}/members", token).json()
    assert "@odata.nextLink" not in page
    first = page["value"][0]
    assert first["userPrincipalName"] == "user1@contoso.onmicrosoft.com"
    assert first["businessPhones"] == []
    assert "accountEnabled" not in first  # only when $select-ed


def test_members_carry_their_odata_type(sim: Simulator, token: str) -> None:
    page = graph_get(sim, f"/groups/{LEVEL0}/members?$select=id,displayName", token).json()
    assert [(m["@odata.type"], m["id"]) for m in page["value"]] == [
        ("#microsoft.graph.user", USERS[0]),
        ("#microsoft.graph.group", NESTED),
        ("#microsoft.graph.device", DEVICE),
        ("#microsoft.graph.orgContact", CONTACT),
    ]


def test_cast_segments_narrow_members_to_one_type(sim: Simulator, token: str) -> None:
    users = graph_get(sim, f"/groups/{LEVEL0}/members/microsoft.graph.user", token).json()
    groups = graph_get(sim, f"/groups/{LEVEL0}/members/microsoft.graph.group", token).json()
    assert [m["id"] for m in users["value"]] == [USERS[0]]
    assert [m["id"] for m in groups["value"]] == [NESTED]
    assert groups["value"][0]["displayName"] == "Management"
    assert users["@odata.context"].endswith("$metadata#users")


def test_top_1000_is_rejected(sim: Simulator, token: str) -> None:
    response = graph_get(sim, f"/groups/{GROUP_FIVE}/members?$top=1000", token)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "Request_UnsupportedQuery"
    assert error["message"] == (
        "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."
    )


def test_group_read_honours_select(sim: Simulator, token: str) -> None:
    response = graph_get(sim, f"/groups/{LEVEL0}?$select=id,displayName", token)
    assert response.json() == {
        "@odata.context": f"{sim.base_url}/v1.0/$metadata#groups(id,displayName)/$entity",
        "id": LEVEL0,
        "displayName": "TinyMDM",
    }


def test_user_id_used_as_group_id_is_404(sim: Simulator, token: str) -> None:
    for url in (f"/groups/{USERS[0]}", f"/groups/{USERS[0]}/members"):
        response = graph_get(sim, url, token)
        assert response.status_code == 404
        error = response.json()["error"]
        assert error["code"] == "Request_ResourceNotFound"
        assert error["message"].startswith(f"Resource '{USERS[0]}' does not exist")


def test_malformed_group_id_is_400(sim: Simulator, token: str) -> None:
    response = graph_get(sim, "/groups/not-a-guid/members", token)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "Request_BadRequest"
    assert error["message"] == "Invalid object identifier 'not-a-guid'."


def test_without_group_member_read_listing_is_403(sim: Simulator) -> None:
    token = graph_token(sim, APP_NO_ROLES, OTHER_SECRET)
    for url in (f"/groups/{LEVEL0}/members", f"/groups/{LEVEL0}"):
        response = graph_get(sim, url, token)
        assert response.status_code == 403
        error = response.json()["error"]
        assert error["code"] == "Authorization_RequestDenied"
        assert error["message"] == "Insufficient privileges to complete the operation."


def test_without_user_read_user_members_have_only_id_and_type(sim: Simulator) -> None:
    token = graph_token(sim, APP_GROUPS_ONLY, OTHER_SECRET)
    page = graph_get(sim, f"/groups/{LEVEL0}/members?$select=id,displayName,mail", token).json()
    user, group = page["value"][0], page["value"][1]
    assert user == {
        "@odata.type": "#microsoft.graph.user",
        "id": USERS[0],
        "displayName": None,
        "mail": None,
    }
    assert group["displayName"] == "Management"


def test_missing_or_foreign_tokens_are_401(sim: Simulator) -> None:
    missing = http(sim).get(f"{sim.base_url}/v1.0/groups/{LEVEL0}/members")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "InvalidAuthenticationToken"
    forged = graph_get(sim, f"/groups/{LEVEL0}/members", "a.b.c")
    assert forged.status_code == 401
    vault = msal_app(sim, OPERATOR, OPERATOR_SECRET).acquire_token_for_client(
        ["https://vault.azure.net/.default"]
    )
    wrong_audience = graph_get(sim, f"/groups/{LEVEL0}/members", vault["access_token"])
    assert wrong_audience.status_code == 401
    assert "audience" in wrong_audience.json()["error"]["message"]


def test_every_response_has_a_request_id_and_echoes_the_client_request_id(
    sim: Simulator, token: str
) -> None:
    client_request_id = str(uuid.uuid4())
    response = graph_get(
        sim, f"/groups/{USERS[0]}", token, **{"client-request-id": client_request_id}
    )
    uuid.UUID(response.headers["request-id"])
    assert response.headers["client-request-id"] == client_request_id
    inner = response.json()["error"]["innerError"]
    assert inner["request-id"] == response.headers["request-id"]
    assert inner["client-request-id"] == client_request_id


def test_unknown_segment_is_400(sim: Simulator, token: str) -> None:
    response = graph_get(sim, f"/groups/{LEVEL0}/owners", token)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Resource not found for the segment 'owners'."


def test_requests_are_counted_by_kind(sim: Simulator, token: str) -> None:
    sim.reset_stats()
    graph_get(sim, f"/groups/{LEVEL0}/members", token)
    graph_get(sim, f"/groups/{LEVEL0}", token)
    stats = sim.stats()
    assert stats["requests"] == 2
    assert stats["by_path_kind"] == {"GET graph.group": 1, "GET graph.members": 1}
