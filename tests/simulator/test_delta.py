"""users/delta and groups/delta: documented shapes, rounds, paging, filters and token expiry."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from simulator import Simulator
from tests.conftest import fresh_port

from .conftest import (
    APP,
    APP_GROUPS_ONLY,
    GROUP_FIVE,
    LEVEL0,
    NESTED,
    OTHER_SECRET,
    TENANT,
    USERS,
    build_fixture,
    graph_get,
    graph_token,
    http,
)

GROUP_SELECT = "/groups/delta?$select=displayName,members"
USER_SELECT = "/users/delta?$select=displayName,mail,userPrincipalName"


@pytest.fixture
def dsim() -> Iterator[Simulator]:
    """A simulator of its own per test: delta tests change the directory."""
    simulator = Simulator(copy.deepcopy(build_fixture()), port=fresh_port())
    simulator.start()
    yield simulator
    simulator.stop()


def control(sim: Simulator, method: str, path: str, body: Any = None) -> requests.Response:
    return http(sim).request(method, f"{sim.base_url}/_sim{path}", json=body, timeout=10)


def round_of(sim: Simulator, url: str, token: str) -> tuple[list[list[dict[str, Any]]], str]:
    """Every page of a round (following nextLinks verbatim) and its deltaLink."""
    pages = []
    while True:
        response = graph_get(sim, url, token)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["value"])
        if "@odata.nextLink" in body:
            url = body["@odata.nextLink"]
            continue
        return pages, body["@odata.deltaLink"]


def latest(sim: Simulator, url: str, token: str) -> str:
    sep = "&" if "?" in url else "?"
    body = graph_get(sim, f"{url}{sep}$deltatoken=latest", token).json()
    assert body["value"] == []
    return str(body["@odata.deltaLink"])


def test_first_round_lists_every_group_with_members_by_id_and_type(dsim: Simulator) -> None:
    pages, delta_link = round_of(dsim, GROUP_SELECT, graph_token(dsim))
    groups = {g["id"]: g for page in pages for g in page}
    assert set(groups) == {GROUP_FIVE, LEVEL0, NESTED}
    level0 = groups[LEVEL0]
    assert level0["displayName"] == "TinyMDM"
    assert {m["@odata.type"] for m in level0["members@delta"]} == {
        "#microsoft.graph.user", "#microsoft.graph.group", "#microsoft.graph.device",
        "#microsoft.graph.orgContact"}
    assert all(set(m) == {"@odata.type", "id"} for m in level0["members@delta"])
    # The query is encoded in the token: the link carries nothing else.
    assert set(parse_qs(urlsplit(delta_link).query)) == {"$deltatoken"}


def test_delta_round_reports_member_adds_and_removals(dsim: Simulator) -> None:
    token = graph_token(dsim)
    link = latest(dsim, GROUP_SELECT, token)
    dsim.add_member(TENANT, NESTED, USERS[3])
    dsim.remove_member(TENANT, NESTED, USERS[1])
    pages, link2 = round_of(dsim, link, token)
    (entry,) = [g for page in pages for g in page]
    assert entry["id"] == NESTED
    changes = {m["id"]: m for m in entry["members@delta"]}
    assert changes[USERS[3]] == {"@odata.type": "#microsoft.graph.user", "id": USERS[3]}
    assert changes[USERS[1]]["@removed"] == {"reason": "deleted"}
    # Nothing since: an empty round, whose deltaLink is the same token again.
    pages, link3 = round_of(dsim, link2, token)
    assert pages == [[]] and link3 == link2


def test_user_round_reports_edits_and_soft_deletion_group_round_does_not(
        dsim: Simulator) -> None:
    token = graph_token(dsim)
    users_link, groups_link = latest(dsim, USER_SELECT, token), latest(dsim, GROUP_SELECT, token)
    dsim.upsert_object(TENANT, "users", {"id": USERS[0], "displayName": "Renamed",
                                         "userPrincipalName": "user1@contoso.onmicrosoft.com"})
    control(dsim, "DELETE", f"/tenants/{TENANT}/objects/users/{USERS[1]}")
    control(dsim, "DELETE", f"/tenants/{TENANT}/objects/users/{USERS[2]}?permanent=true")
    pages, _ = round_of(dsim, users_link, token)
    users = {u["id"]: u for page in pages for u in page}
    assert users[USERS[0]]["displayName"] == "Renamed"
    assert users[USERS[0]]["mail"] is None
    assert users[USERS[1]] == {"id": USERS[1], "@removed": {"reason": "changed"}}
    assert users[USERS[2]] == {"id": USERS[2], "@removed": {"reason": "deleted"}}
    # The documented trap: no member @removed in group delta for deleted users.
    pages, _ = round_of(dsim, groups_link, token)
    assert [g for page in pages for g in page] == []


def test_filter_takes_up_to_fifty_ids(dsim: Simulator) -> None:
    token = graph_token(dsim)
    pages, _ = round_of(dsim, f"{GROUP_SELECT}&$filter=id eq '{NESTED}'", token)
    assert [g["id"] for page in pages for g in page] == [NESTED]
    many = " or ".join(f"id eq '{USERS[0][:-3]}{n:03d}'" for n in range(51))
    response = graph_get(dsim, f"{GROUP_SELECT}&$filter={many}", token)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "Request_BadRequest"
    other = graph_get(dsim, f"{GROUP_SELECT}&$filter=displayName eq 'x'", token)
    assert other.status_code == 400


def test_large_group_is_spread_over_pages_and_objects_repeat(dsim: Simulator) -> None:
    token = graph_token(dsim)
    assert control(dsim, "PUT", "/delta", {"members_page": 2}).status_code == 200
    pages, _ = round_of(dsim, f"{GROUP_SELECT}&$filter=id eq '{GROUP_FIVE}'", token)
    assert len(pages) == 3
    assert [len(page[0]["members@delta"]) for page in pages] == [2, 2, 1]
    merged = [m["id"] for page in pages for m in page[0]["members@delta"]]
    assert merged == USERS
    control(dsim, "PUT", "/delta", {"members_page": 1000, "repeat": True})
    pages, _ = round_of(dsim, f"{GROUP_SELECT}&$filter=id eq '{NESTED}'", token)
    assert [g["id"] for g in pages[0]] == [NESTED, NESTED]


def test_expired_token_is_refused_and_resync_points_to_a_new_round(dsim: Simulator) -> None:
    token = graph_token(dsim)
    link = latest(dsim, GROUP_SELECT, token)
    assert control(dsim, "POST", f"/tenants/{TENANT}/delta_expiry").status_code == 200
    response = graph_get(dsim, link, token)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "syncStateNotFound"
    link = latest(dsim, GROUP_SELECT, token)  # a new token works
    assert graph_get(dsim, link, token).status_code == 200
    control(dsim, "POST", f"/tenants/{TENANT}/delta_resync")
    gone = graph_get(dsim, link, token)
    assert gone.status_code == 410
    assert "/v1.0/groups/delta?$select=displayName%2Cmembers" in gone.headers["Location"]


def test_permissions_and_unsupported_options(dsim: Simulator) -> None:
    groups_only = graph_token(dsim, APP_GROUPS_ONLY, OTHER_SECRET)
    assert graph_get(dsim, USER_SELECT, groups_only).status_code == 403
    assert graph_get(dsim, GROUP_SELECT, groups_only).status_code == 200
    token = graph_token(dsim, APP)
    assert graph_get(dsim, f"{USER_SELECT}&$expand=manager", token).status_code == 400
    assert graph_get(dsim, f"{USER_SELECT}&$top=2", token).status_code == 200  # ignored
    assert graph_get(dsim, "/users/delta?$deltatoken=forged", token).status_code == 400
