"""JSON batching: POST /v1.0/$batch, its limits, order, per-request throttling and faults."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from simulator import Simulator

from .conftest import http
from .inventory import APPS, DEVICES, devices_of
from .partners import CUSTOMER, get, token

BATCH_URL = "/v1.0/$batch"


@pytest.fixture(scope="module")
def bearer(inventory_sim: Simulator) -> str:
    return token(inventory_sim, CUSTOMER)


@pytest.fixture(autouse=True)
def defaults_after(inventory_sim: Simulator) -> Iterator[None]:
    yield
    inventory_sim.set_throttling({})
    inventory_sim.clear_faults()


def post_batch(sim: Simulator, bearer: str | None, body: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return http(sim).post(f"{sim.base_url}{BATCH_URL}", json=body, headers=headers, timeout=10)


def step(step_id: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "method": "GET", "url": url, **extra}


def by_id(response: requests.Response) -> dict[str, dict[str, Any]]:
    assert response.status_code == 200, response.text
    return {item["id"]: item for item in response.json()["responses"]}


def test_each_request_answers_as_on_its_own_in_any_order(
    inventory_sim: Simulator, bearer: str
) -> None:
    urls = {
        "list": "/deviceManagement/managedDevices?$top=2&$select=id,deviceName",
        "one": f"deviceManagement/managedDevices/{DEVICES[0]}?$select=physicalMemoryInBytes",
        "app": f"/deviceManagement/detectedApps/{APPS[2]}/managedDevices?$select=id",
        "org": "/organization",
    }
    body = {"requests": [step(key, url) for key, url in urls.items()]}
    response = post_batch(inventory_sim, bearer, body)
    ordered = [item["id"] for item in response.json()["responses"]]
    assert sorted(ordered) == sorted(urls)
    assert ordered != list(urls)  # clients must match answers by id
    again = post_batch(inventory_sim, bearer, body)
    assert [item["id"] for item in again.json()["responses"]] == ordered  # seeded by the body
    answers = by_id(response)
    for key, url in urls.items():
        alone = get(inventory_sim, f"/v1.0/{url.lstrip('/')}", bearer)
        assert answers[key]["status"] == alone.status_code == 200, key
        expected = alone.json()
        assert answers[key]["body"] == expected, key
        assert answers[key]["headers"]["Content-Type"].startswith("application/json")
    assert answers["one"]["body"]["physicalMemoryInBytes"] == 17_179_869_184
    assert [d["id"] for d in answers["app"]["body"]["value"]] == devices_of(APPS[2])
    assert "@odata.nextLink" in answers["list"]["body"]


@pytest.mark.parametrize(
    ("requests_", "message"),
    [
        (
            [step(str(n), "/organization") for n in range(21)],
            "Number of batch request steps exceeds the maximum value of 20.",
        ),
        (
            [step("a", "/organization"), step("A", "/organization")],
            "Batch request ids must be unique: 'A' repeats.",
        ),
        ([{"id": "1", "method": "GET"}], "requests[0].url must be a non-empty string."),
        (
            [step("1", "https://graph.microsoft.com/v1.0/organization")],
            "requests[0].url must be relative to the version, such as '/users'.",
        ),
        (
            [step("1", "/organization", dependsOn=["9"])],
            "Request '1' depends on unknown request '9'.",
        ),
        (
            [
                step("1", "/organization", dependsOn=["2"]),
                step("2", "/organization", dependsOn=["1"]),
            ],
            "The dependsOn of the batch's requests form a cycle.",
        ),
        (
            [{**step("1", "/organization"), "body": {}}],
            "requests[0] has a body but no Content-Type header.",
        ),
        ([], "Invalid batch payload format: no requests."),
    ],
)
def test_a_malformed_batch_is_400_as_a_whole(
    inventory_sim: Simulator, bearer: str, requests_: list[Any], message: str
) -> None:
    response = post_batch(inventory_sim, bearer, {"requests": requests_})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "BadRequest"
    assert error["message"] == message
    assert "request-id" in error["innerError"]


def test_twenty_requests_are_allowed(inventory_sim: Simulator, bearer: str) -> None:
    body = {
        "requests": [
            step(str(n), f"/deviceManagement/detectedApps/{APPS[n % 5]}") for n in range(20)
        ]
    }
    answers = by_id(post_batch(inventory_sim, bearer, body))
    assert len(answers) == 20
    assert {answer["status"] for answer in answers.values()} == {200}


def test_each_request_is_throttled_on_its_own_budget(inventory_sim: Simulator, bearer: str) -> None:
    inventory_sim.set_throttling({"window_seconds": 30, "intune_devices_per_window": 3})
    inventory_sim.reset_stats()
    body = {
        "requests": [
            step(str(n), f"/deviceManagement/managedDevices/{DEVICES[n]}") for n in range(5)
        ]
        + [step("org", "/organization")]
    }
    response = post_batch(inventory_sim, bearer, body)
    assert response.status_code == 200  # the batch itself is not throttled
    answers = by_id(response)
    statuses = sorted(answers[str(n)]["status"] for n in range(5))
    assert statuses == [200, 200, 200, 429, 429]
    assert answers["org"]["status"] == 200  # not an Intune route: no budget
    for answer in answers.values():
        if answer["status"] == 429:
            assert 0.1 <= float(answer["headers"]["Retry-After"]) <= 30
            assert answer["body"]["error"]["code"] == "TooManyRequests"
    stats = inventory_sim.stats()
    assert stats["budget_throttled"]["devices"] == 2
    assert stats["throttled"] == 0  # no HTTP response was a 429
    assert stats["batch"]["throttled"] == 2
    assert stats["batch"]["subrequests"] == 6
    assert stats["batch"]["by_path_kind"] == {
        "GET graph.managedDevice": 5,
        "GET graph.organization": 1,
    }
    assert stats["by_path_kind"] == {"POST graph.batch": 1}
    # the same budget refuses a direct request too
    direct = get(inventory_sim, f"/v1.0/deviceManagement/managedDevices/{DEVICES[0]}", bearer)
    assert direct.status_code == 429


def test_faults_match_the_requests_inside_a_batch(inventory_sim: Simulator, bearer: str) -> None:
    inventory_sim.set_faults(
        [
            {
                "match": {"path_contains": f"/detectedApps/{APPS[1]}"},
                "kind": "status",
                "status": 503,
                "retry_after": 2,
                "times": 1,
            },
            {"match": {"path_contains": f"/detectedApps/{APPS[2]}"}, "kind": "drop"},
            {
                "match": {"path_contains": f"/detectedApps/{APPS[3]}"},
                "kind": "latency",
                "seconds": 0.4,
            },
        ]
    )
    body = {
        "requests": [step(str(n), f"/deviceManagement/detectedApps/{APPS[n]}") for n in range(4)]
    }
    started = time.monotonic()
    answers = by_id(post_batch(inventory_sim, bearer, body))
    assert time.monotonic() - started >= 0.4  # as slow as its slowest request
    assert answers["0"]["status"] == 200
    assert answers["1"]["status"] == 503
    assert answers["1"]["headers"]["Retry-After"] == "2"
    assert answers["1"]["body"]["error"]["code"] == "ServiceUnavailable"
    assert answers["2"]["status"] == 504  # a dropped connection cannot happen inside a batch
    assert answers["3"]["status"] == 200
    faults = inventory_sim.stats()["faults"]
    assert [fault["applied"] for fault in faults] == [1, 1, 1]
    # a fault on the batch path itself answers the whole batch
    inventory_sim.set_faults([{"match": {"path_contains": "/$batch"}, "kind": "throttle"}])
    whole = post_batch(inventory_sim, bearer, body)
    assert whole.status_code == 429
    assert whole.headers["Retry-After"] == "1"


def test_the_batch_token_is_checked_once_and_used_for_each_request(
    inventory_sim: Simulator, bearer: str
) -> None:
    body = {"requests": [step("1", "/organization")]}
    missing = post_batch(inventory_sim, None, body)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "InvalidAuthenticationToken"
    forged = {"requests": [step("1", "/organization", headers={"Authorization": "Bearer x"})]}
    assert by_id(post_batch(inventory_sim, bearer, forged))["1"]["status"] == 200
    assert get(inventory_sim, BATCH_URL, bearer).status_code == 405


def test_depends_on_orders_requests_and_fails_dependents(
    inventory_sim: Simulator, bearer: str
) -> None:
    missing = "d1000000-0000-4000-8000-00000000ffff"
    body = {
        "requests": [
            step("c", "/organization", dependsOn=["b"]),
            step("b", f"/deviceManagement/managedDevices/{missing}", dependsOn=["a"]),
            step("a", "/organization"),
            step("d", "/organization", dependsOn=["a"]),
        ]
    }
    answers = by_id(post_batch(inventory_sim, bearer, body))
    assert answers["a"]["status"] == 200
    assert answers["b"]["status"] == 404
    assert answers["c"]["status"] == 424  # "fails with status code 424 (Failed Dependency)"
    assert answers["c"]["body"]["error"]["code"] == "FailedDependency"
    assert answers["d"]["status"] == 200


def test_a_batch_is_one_graph_request_in_flight(inventory_sim: Simulator, bearer: str) -> None:
    body = {
        "requests": [step(str(n), f"/deviceManagement/detectedApps/{APPS[n]}") for n in range(5)]
    }
    inventory_sim.set_latency(0.4)
    try:
        inventory_sim.reset_stats()
        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = list(pool.map(lambda _: post_batch(inventory_sim, bearer, body), range(2)))
    finally:
        inventory_sim.set_latency(0)
    assert [answer.status_code for answer in answers] == [200, 200]
    stats = inventory_sim.stats()
    assert stats["graph_in_flight_peak"] == 2  # two batches, not ten requests
    assert stats["batch"]["subrequests"] == 10
    assert stats["by_status"] == {"200": 2}
    inventory_sim.reset_stats()
    cleared = inventory_sim.stats()
    assert cleared["batch"] == {
        "subrequests": 0,
        "by_path_kind": {},
        "by_status": {},
        "throttled": 0,
    }
    assert cleared["by_status"] == {}
