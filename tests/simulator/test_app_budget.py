"""Graph's identity and access budget per app across all tenants (groups and users)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from simulator import Simulator

from .conftest import APP, GROUP_FIVE, USERS, graph_get, graph_token


@pytest.fixture
def small_budget(sim: Simulator) -> Iterator[Simulator]:
    sim.set_throttling({"window_seconds": 1, "directory_app_requests_per_window": 3})
    sim.reset_stats()
    yield sim
    sim.set_throttling({})


def test_the_apps_directory_budget_throttles_every_kind_of_read_then_recovers(
    small_budget: Simulator,
) -> None:
    sim, bearer = small_budget, graph_token(small_budget)
    reads = [f"/groups/{GROUP_FIVE}", f"/groups/{GROUP_FIVE}/members", f"/users/{USERS[0]}"]
    assert [graph_get(sim, url, bearer).status_code for url in reads] == [200, 200, 200]
    throttled = graph_get(sim, f"/users/{USERS[1]}", bearer)
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    retry_after = float(throttled.headers["Retry-After"])
    assert 0.1 <= retry_after <= 1.0
    stats = sim.stats()
    assert stats["app_window_peak"] == {APP: 3}  # the refused one is not counted
    assert stats["budget_throttled"]["directory"] == 1
    time.sleep(retry_after)
    assert graph_get(sim, f"/users/{USERS[1]}", bearer).status_code == 200


def test_the_default_budget_is_the_documented_one(sim: Simulator) -> None:
    sim.set_throttling({})
    assert sim.state.limiter.config.directory_app_per_window == 50_000
