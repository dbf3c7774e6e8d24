"""Injected faults: throttling, failing pages, dropped connections and latency."""

from __future__ import annotations

import http.client
import json
import ssl
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from simulator import FixtureError, Simulator

from .conftest import GRAPH_SCOPE, GROUP_FIVE, OTHER_TENANT, graph_get, graph_token, msal_app

MEMBERS = f"/groups/{GROUP_FIVE}/members"


@pytest.fixture(scope="module")
def token(sim: Simulator) -> str:
    return graph_token(sim)


@pytest.fixture(autouse=True)
def no_faults_left(sim: Simulator) -> Iterator[None]:
    yield
    sim.clear_faults()
    sim.set_latency(0)


def test_throttle_sends_429_with_retry_after_then_succeeds(sim: Simulator, token: str) -> None:
    sim.reset_stats()
    sim.set_faults(
        [
            {
                "match": {"path_contains": "/members", "method": "GET"},
                "kind": "throttle",
                "retry_after": 1.5,
                "times": 1,
            }
        ]
    )
    throttled = graph_get(sim, MEMBERS, token)
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "1.5"
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    assert graph_get(sim, MEMBERS, token).status_code == 200
    assert sim.stats()["throttled"] == 1


def test_failure_on_page_two_only(sim: Simulator, token: str) -> None:
    page_two = [
        {
            "match": {"path_contains": MEMBERS},
            "kind": "status",
            "status": 503,
            "retry_after": 2,
            "page": 2,
        }
    ]
    sim.set_faults(page_two)
    first = graph_get(sim, f"{MEMBERS}?$top=2", token)
    assert first.status_code == 200
    second_url = first.json()["@odata.nextLink"]
    second = graph_get(sim, second_url, token)
    assert second.status_code == 503
    assert second.headers["Retry-After"] == "2"
    assert second.json()["error"]["code"] == "ServiceUnavailable"
    assert graph_get(sim, second_url, token).status_code == 503  # no `times`: forever
    sim.clear_faults()
    third_url = graph_get(sim, second_url, token).json()["@odata.nextLink"]
    sim.set_faults(page_two)
    assert graph_get(sim, f"{MEMBERS}?$top=2", token).status_code == 200
    assert graph_get(sim, third_url, token).status_code == 200


def test_after_skips_the_first_matching_requests(sim: Simulator, token: str) -> None:
    sim.set_faults(
        [
            {
                "match": {"path_contains": MEMBERS},
                "kind": "status",
                "status": 500,
                "after": 1,
                "times": 1,
            }
        ]
    )
    statuses = [graph_get(sim, MEMBERS, token).status_code for _ in range(3)]
    assert statuses == [200, 500, 200]


def test_fault_for_another_tenant_does_not_apply(sim: Simulator, token: str) -> None:
    sim.set_faults([{"match": {"tenant": OTHER_TENANT}, "kind": "status", "status": 500}])
    assert graph_get(sim, MEMBERS, token).status_code == 200


def test_drop_closes_the_connection_without_an_answer(sim: Simulator, token: str) -> None:
    sim.set_faults([{"match": {"path_contains": MEMBERS}, "kind": "drop", "times": 1}])
    with pytest.raises(requests.ConnectionError):
        graph_get(sim, MEMBERS, token)
    assert graph_get(sim, MEMBERS, token).status_code == 200


def test_latency_fault_and_global_latency_delay_answers(sim: Simulator, token: str) -> None:
    sim.set_faults([{"match": {"path_contains": MEMBERS}, "kind": "latency", "seconds": 0.2}])
    started = time.monotonic()
    assert graph_get(sim, MEMBERS, token).status_code == 200
    assert time.monotonic() - started >= 0.2
    sim.clear_faults()
    sim.set_latency(0.1)
    started = time.monotonic()
    graph_get(sim, MEMBERS, token)
    assert time.monotonic() - started >= 0.1


def test_latency_counts_from_the_request_line_and_the_stats_give_the_time_taken(
        sim: Simulator, token: str) -> None:
    sim.set_latency(0.3)
    sim.reset_stats()
    url = urlsplit(sim.base_url)
    context = ssl.create_default_context(cafile=sim.ca_path)
    connection = http.client.HTTPSConnection(url.hostname or "", url.port, context=context,
                                             timeout=10)
    body = json.dumps({"requests": [{"id": "1", "method": "GET", "url": MEMBERS}]}).encode()
    started = time.monotonic()
    connection.putrequest("POST", "/v1.0/$batch")
    for name, value in (("Authorization", f"Bearer {token}"),
                        ("Content-Type", "application/json"),
                        ("Content-Length", str(len(body)))):
        connection.putheader(name, value)
    connection.endheaders()
    time.sleep(0.3)  # the body comes late: the service's clock is already running
    connection.send(body)
    response = connection.getresponse()
    response.read()
    took = time.monotonic() - started
    connection.close()
    assert response.status == 200
    # 0.3 s from the request line, not 0.3 s after the late body (0.6 s).
    assert 0.3 <= took < 0.55
    assert 300 <= sim.stats()["graph_service_ms"] < 550


def test_token_endpoint_faults_are_shaped_like_entra(sim: Simulator) -> None:
    sim.set_faults(
        [
            {
                "match": {"path_contains": "/oauth2/v2.0/token"},
                "kind": "throttle",
                "retry_after": 1,
                "times": 1,
            }
        ]
    )
    result = msal_app(sim).acquire_token_for_client(GRAPH_SCOPE)
    assert result["error"] == "temporarily_unavailable"
    assert result["error_codes"] == [90055]
    assert "access_token" in msal_app(sim).acquire_token_for_client(GRAPH_SCOPE)


def test_invalid_fault_is_rejected_with_its_path(sim: Simulator) -> None:
    with pytest.raises(FixtureError, match=r"^faults\[1\]\.kind: must be one of"):
        sim.set_faults([{"kind": "drop"}, {"kind": "explode"}])


def test_repeat_link_gives_the_page_its_own_link(sim: Simulator, token: str) -> None:
    sim.set_faults([{"match": {"path_contains": MEMBERS}, "kind": "repeat_link", "page": 2}])
    first = graph_get(sim, f"{MEMBERS}?$top=2", token).json()
    second_url = first["@odata.nextLink"]
    second = graph_get(sim, second_url, token).json()
    assert second["@odata.nextLink"] == second_url  # stuck on page 2
    assert len(second["value"]) == 2


def test_foreign_link_points_the_next_link_at_another_host(sim: Simulator, token: str) -> None:
    sim.set_faults([{"match": {"path_contains": MEMBERS}, "kind": "foreign_link",
                     "host": "127.0.0.1:9"}])
    body = graph_get(sim, f"{MEMBERS}?$top=2", token).json()
    link = urlsplit(body["@odata.nextLink"])
    assert (link.scheme, link.netloc) == ("https", "127.0.0.1:9")
    assert link.path == f"/v1.0{MEMBERS}" and "$skiptoken" in link.query
    with pytest.raises(FixtureError, match=r"^faults\[0\]\.host: a foreign_link fault needs"):
        sim.set_faults([{"kind": "foreign_link"}])
