"""One Graph request path: the host rule, the loop guard, one retry budget, $batch's policy.

Every test runs the real clients against the simulator; a link to another host is pointed
at a loopback listener that counts connections, so "no token sent" means "nothing sent".
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import msal
import pytest
import requests

from functions.clients.batch import GraphBatch, SubRequest
from functions.clients.graph import GraphClient
from functions.core.errors import GraphError, TenantError
from functions.core.model import RunStatus
from functions.devices import reader as device_reader
from functions.devices.store import DeviceFilter
from functions.directory import reader
from simulator import Simulator
from tests.conftest import Harness
from tests.inventory import started
from tests.test_devices import connect, sync
from tests.test_inventory import devices_of
from tests.world import Partner, Tenant, World


class Listener:
    """A loopback TCP listener that counts the connections made to it (and closes them)."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.connections = 0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True, name="foreign-host").start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._socket.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._closed = True
        self._socket.close()


@pytest.fixture
def foreign() -> Iterator[Listener]:
    listener = Listener()
    yield listener
    listener.close()


def _tenant(world: World) -> tuple[Tenant, list[str], str, list[str]]:
    """Five direct users and a group of five, so that pages of two make several pages."""
    t = world.tenant()
    direct = [t.user(f"Direct {i}") for i in range(5)]
    grouped = [t.user(f"Grouped {i}") for i in range(5)]
    group = t.group("Team", *grouped)
    t.add(t.level0, *direct, group)
    return t, direct, group, grouped


def _client(harness: Harness, t: Tenant, **kwargs: object) -> tuple[GraphClient, list[float]]:
    """A GraphClient signed in as the tenant's app, whose retry waits are recorded, not slept."""
    assert harness.sim is not None
    session = requests.Session()
    session.verify, session.trust_env = harness.sim.ca_path, False
    app = msal.ConfidentialClientApplication(
        t.app_id, client_credential=t.secret, authority=f"{harness.sim.base_url}/{t.id}",
        instance_discovery=False, http_client=session)
    token = str(app.acquire_token_for_client(["https://graph.microsoft.com/.default"])
                ["access_token"])
    waits: list[float] = []
    client = GraphClient(f"{harness.sim.base_url}/v1.0", lambda: token, session,
                         sleep=waits.append, **kwargs)  # type: ignore[arg-type]
    return client, waits


def _synced(harness: Harness, t: Tenant, monkeypatch: pytest.MonkeyPatch) -> Simulator:
    """The tenant onboarded and synced once, with member pages of two; every sync reads the
    whole tree (no delta re-sync), whose member pages the faults are in."""
    harness.start(TENANTSYNC_DIRECTORY_RECONCILE_HOURS="0")
    harness.onboard(t)
    monkeypatch.setattr(reader, "PAGE_SIZE", "2")
    assert harness.sync(t).status == RunStatus.SUCCEEDED
    assert harness.sim is not None
    return harness.sim


def test_a_repeating_next_link_ends_the_sync_partial_with_nobody_marked_deleted(
    harness: Harness, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    t, _direct, group, grouped = _tenant(world)
    sim = _synced(harness, t, monkeypatch)
    sim.remove_member(t.id, group, grouped[0])  # someone really leaves
    # The group's second page links to itself: a walk that followed it would never end.
    sim.set_faults([{"match": {"path_contains": f"/groups/{group}/members"},
                             "kind": "repeat_link", "page": 2}])
    run = harness.sync(t)
    assert (run.status, run.error_code) == (RunStatus.PARTIAL, "graph_paging_loop")
    assert run.users.marked_deleted == 0 and run.memberships_removed == 0
    assert not harness.users(t, deleted_only=True)
    assert run.graph_requests < 15  # the loop was stopped, not read on
    sim.clear_faults()
    converged = harness.sync(t)
    assert converged.status == RunStatus.SUCCEEDED
    assert set(harness.users(t, deleted_only=True)) == {grouped[0]}


def test_a_next_link_to_another_host_is_never_sent_the_token(
    harness: Harness, world: World, monkeypatch: pytest.MonkeyPatch, foreign: Listener
) -> None:
    t, direct, _group, _grouped = _tenant(world)
    sim = _synced(harness, t, monkeypatch)
    sim.remove_member(t.id, t.level0, direct[0])
    sim.set_faults([{"match": {"path_contains": f"/groups/{t.level0}/members"},
                             "kind": "foreign_link", "host": f"127.0.0.1:{foreign.port}"}])
    run = harness.sync(t)
    assert run.status in (RunStatus.PARTIAL, RunStatus.FAILED)
    assert run.error_code == "graph_bad_next_link"
    assert foreign.connections == 0
    assert not harness.users(t, deleted_only=True)


def test_a_get_of_a_url_on_another_host_sends_nothing(
    harness: Harness, world: World, foreign: Listener
) -> None:
    t, *_ = _tenant(world)
    harness.start()
    graph, _ = _client(harness, t)
    for url in (f"https://127.0.0.1:{foreign.port}/v1.0/users",
                f"http://{graph.base_url.removeprefix('https://')}/users"):
        with pytest.raises(GraphError) as caught:
            graph.get(url)
        assert caught.value.code == "graph_bad_next_link"
    assert foreign.connections == 0
    assert graph.stats.requests == 0


@pytest.mark.parametrize(("kind", "code"), [("foreign_link", "graph_bad_next_link"),
                                            ("repeat_link", "graph_paging_loop")])
def test_partner_center_paging_keeps_the_host_rule_and_the_loop_guard(
    harness: Harness, world: World, monkeypatch: pytest.MonkeyPatch, foreign: Listener,
    kind: str, code: str,
) -> None:
    from functions.partners import discovery

    partner = Partner(world)
    for i in range(5):
        partner.customer(f"Customer {i}")
    harness.start()
    monkeypatch.setattr(discovery, "PARTNER_CENTER_PAGE_SIZE", "2")
    connect(harness, partner, "partner-center")
    assert harness.sim is not None
    harness.sim.set_faults([{"match": {"path_contains": "/partnercenter/v1/customers"},
                             "kind": kind, "host": f"127.0.0.1:{foreign.port}", "page": 2}])
    with pytest.raises(TenantError) as caught:
        harness.services.partners.discover(partner.id)
    assert caught.value.code == code
    assert "nothing was marked inactive" in caught.value.message
    assert foreign.connections == 0


def test_retry_after_is_honoured_up_to_the_max_wait(harness: Harness, world: World) -> None:
    t, *_ = _tenant(world)
    harness.start()
    assert harness.sim is not None
    graph, waits = _client(harness, t, max_retries=6, max_retry_wait=3.0)
    harness.sim.set_faults([
        {"match": {"path_contains": "/members"}, "kind": "throttle", "retry_after": 0.5,
         "times": 1},
        {"match": {"path_contains": "/members"}, "kind": "throttle", "retry_after": 400,
         "times": 1},
    ])
    assert graph.get(f"/groups/{t.level0}/members")["value"]
    # The hint as given, then the cap (each plus at most 10% jitter).
    assert len(waits) == 2
    assert 0.5 <= waits[0] <= 0.55
    assert 3.0 <= waits[1] <= 3.3
    assert (graph.stats.requests, graph.stats.throttled) == (3, 2)


def test_one_retry_budget_serves_a_whole_walk(harness: Harness, world: World) -> None:
    t, *_ = _tenant(world)
    harness.start()
    assert harness.sim is not None
    # Each of the first three pages is unavailable once: three retries for the walk. (A 429
    # is waited out longer, up to THROTTLED_RETRIES: tests/test_budget_waits.py.)
    faults = [{"match": {"path_contains": f"/groups/{t.level0}/members"}, "kind": "status",
               "status": 503, "retry_after": 0.01, "times": 1, "page": page}
              for page in (1, 2, 3)]
    harness.sim.set_faults(faults)
    graph, waits = _client(harness, t, max_retries=2)
    with pytest.raises(GraphError) as failed:
        list(graph.pages(f"/groups/{t.level0}/members", {"$top": "2"}))
    assert failed.value.status == 503
    assert len(waits) == 2  # not two a page
    harness.sim.set_faults(faults)
    graph, waits = _client(harness, t, max_retries=3)
    pages = list(graph.pages(f"/groups/{t.level0}/members", {"$top": "2"}))
    assert sum(len(p) for p in pages) == 6 and len(waits) == 3


def test_a_throttled_request_inside_a_batch_is_retried_under_the_clients_policy(
    harness: Harness, world: World
) -> None:
    t, direct, *_ = _tenant(world)
    harness.start()
    assert harness.sim is not None
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    requests_ = [SubRequest(u, f"/users/{u}") for u in direct[:2]]
    fault = {"match": {"path_contains": f"/users/{direct[0]}"}, "kind": "throttle",
             "retry_after": 400}
    # Once throttled: retried after the client's max wait (not Retry-After's 400 s).
    harness.sim.set_faults([{**fault, "times": 1}])
    graph, _ = _client(harness, t, max_retries=1, max_retry_wait=0.5)
    outcome = GraphBatch(graph, clock=lambda: now[0], sleep=sleep).run(requests_)
    assert all(a.ok for a in outcome.answers.values())
    assert 0.5 <= sum(slept) <= 0.55
    assert (graph.stats.requests, graph.stats.batched, graph.stats.throttled) == (2, 3, 1)
    # Unavailable twice: the client's budget of one retry is spent, the 503 is the answer.
    harness.sim.set_faults([{**fault, "kind": "status", "status": 503, "times": 2}])
    graph, _ = _client(harness, t, max_retries=1, max_retry_wait=0.5)
    outcome = GraphBatch(graph, clock=lambda: now[0], sleep=sleep).run(requests_)
    assert outcome.answers[direct[0]].status == 503
    assert outcome.answers[direct[1]].ok
    # Throttled twice: a 429 is a budget's window, waited out beyond the outage retries.
    harness.sim.set_faults([{**fault, "times": 2}])
    graph, _ = _client(harness, t, max_retries=1, max_retry_wait=0.5)
    outcome = GraphBatch(graph, clock=lambda: now[0], sleep=sleep).run(requests_)
    assert all(a.ok for a in outcome.answers.values())


def test_batches_in_flight_answer_each_request_once_and_a_failed_batch_raises(
    harness: Harness, world: World
) -> None:
    t = world.tenant()
    users = [t.user(f"User {i}") for i in range(45)]
    harness.start()
    assert harness.sim is not None
    graph, _ = _client(harness, t)
    requests_ = [SubRequest(u, f"/users/{u}?$select=id") for u in users]
    outcome = GraphBatch(graph, in_flight=3).run(requests_)
    assert sorted(outcome.answers) == sorted(users) and not outcome.undone
    assert all(a.ok and a.body["id"] == key for key, a in outcome.answers.items())
    assert (graph.stats.requests, graph.stats.batched) == (3, 45)  # 20 + 20 + 5
    # A $batch refused as a whole: its error, once the batches in flight came back.
    harness.sim.set_faults([{"match": {"path_contains": "$batch"}, "kind": "status",
                             "status": 400}])
    with pytest.raises(GraphError) as failed:
        GraphBatch(graph, in_flight=3).run(requests_)
    assert failed.value.status == 400
    assert not [th for th in threading.enumerate() if th.name == "graph-batch"]


def test_a_repeating_device_listing_link_retires_no_device(
    harness: Harness, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    partner = Partner(world)
    tid = partner.customer("Delta", devices=6, detected=10)
    harness.start()
    connect(harness, partner)
    harness.services.partners.discover(partner.id)
    assert sync(harness, tid).status == RunStatus.SUCCEEDED
    assert harness.sim is not None
    harness.sim.delete_object(tid, "managed_devices",
                              next(iter(partner.customers[tid]["intune"]["managed_devices"])))
    monkeypatch.setitem(device_reader._LISTINGS, "devices", (
        "/deviceManagement/managedDevices", {"$select": device_reader.DEVICE_SELECT, "$top": "2"},
        "DeviceManagementManagedDevices.Read.All"))
    harness.sim.set_faults([{"match": {"path_contains": "/deviceManagement/managedDevices"},
                             "kind": "repeat_link", "page": 2}])
    run = sync(harness, tid)
    assert (run.status, run.error_code) == (RunStatus.PARTIAL, "graph_paging_loop")
    assert run.devices.marked_deleted == 0
    assert not list(harness.services.inventory.devices(tid, DeviceFilter(retired=True)))


def test_a_repeating_link_in_a_batched_walk_fails_that_app_only(
    harness: Harness, world: World
) -> None:
    found = started(harness, world)
    assert harness.sim is not None
    looping = found.apps[2]
    # Each answer for the app's devices links to itself: the second one is a link seen before.
    harness.sim.set_faults([{"match": {"path_contains": f"/detectedApps/{looping}/managedDevices"},
                             "kind": "repeat_link"}])
    run = sync(harness, found.tenant)
    assert (run.status, run.error_code) == (RunStatus.PARTIAL, "graph_paging_loop")
    # Five apps read once, the looping one once more: then its walk stopped.
    assert harness.sim.stats()["batch"]["by_path_kind"]["GET graph.detectedAppDevices"] == 5 + 1
    for app in found.apps:
        if app != looping:
            assert devices_of(harness, found, app) == found.devices_of(app)
