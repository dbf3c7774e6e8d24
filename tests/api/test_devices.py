"""A tenant's devices and software over HTTP: sync starts, filters, pages, purge, health."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from functions.core.errors import ConflictError
from functions.core.model import RunStatus
from functions.devices.model import DeviceRecord
from functions.storage.entities import iso
from tests.api.conftest import (
    INJECTIONS,
    Api,
    assert_error,
    connect_partner,
    queued_jobs,
    run_queued_jobs,
    stored,
)
from tests.conftest import Harness
from tests.world import Partner, World, device, directory_side, seed_example

UNKNOWN = "11111111-2222-3333-4444-555555555555"
DEVICE_FIELDS = {
    "id", "name", "serialNumber", "manufacturer", "model", "operatingSystem", "osVersion",
    "ownerType", "enrolledAt", "lastSyncAt", "complianceState", "managementAgent",
    "azureAdDeviceId", "userId", "userUpn", "userEmail", "userDisplayName", "imei", "meid",
    "wifiMac", "ethernetMac", "totalStorageBytes", "freeStorageBytes", "isEncrypted",
    "physicalMemoryBytes", "udid", "iccid", "enrollmentProfile", "tpmVersion", "detailsAsOf",
    "processorArchitecture", "tpmManufacturerId", "tpmManufacturerVersion", "biosVersion",
    "retired", "retiredAt", "changedAt",
}


def _all(api: Api, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a list, following continuation tokens."""
    items, token = [], None
    while True:
        r = api.get(path, params={**params, **({"continuationToken": token} if token else {})})
        assert r.status_code == 200, r.text
        page = r.json()
        items += page["items"]
        token = page["continuationToken"]
        if not token:
            return items


def _names(response: requests.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {d["name"] for d in response.json()["items"]}


@pytest.mark.slow
def test_device_sync_is_refused_for_tenants_it_would_skip(
    harness: Harness, world: World, api: Api
) -> None:
    partner = Partner(world)
    ok = partner.customer("Ok")
    excluded = partner.customer("Excluded")
    indirect = partner.customer("Indirect", relationship="none")
    ending = partner.customer("Ending")
    directory_only, _ = seed_example(world)
    harness.start()
    harness.onboard(directory_only)
    connect_partner(harness, partner, "partner-center", excluded=[excluded])
    partner.data["partner_center"]["customers"] = [
        c for c in partner.data["partner_center"]["customers"] if c["id"] != ending]
    assert harness.sim is not None
    harness.sim.update_tenant(partner.id, {"partner_center": partner.data["partner_center"]})
    assert harness.services.partners.discover(partner.id).inactive == [ending]
    before = stored(harness)
    for tid, status, code, hint in (
        (excluded, 409, "tenant_excluded", "excluded"),
        (indirect, 409, "tenant_unsupported", "indirect"),
        (ending, 409, "tenant_inactive", "no longer a customer"),
        (directory_only.id, 409, "not_configured", "POST /api/partners"),
        (UNKNOWN, 404, "unknown_tenant", UNKNOWN),
        ("not-a-guid", 400, "invalid_guid", "path.tenantId"),
        ("' or PartitionKey ne '", 400, "invalid_guid", "path.tenantId"),
    ):
        error = assert_error(api.post(f"/api/tenants/{tid}/devices/sync"), status, code)
        assert hint in error["message"]
    # (GET .../devices/sync would read a device named "sync": 400, its id is no GUID.)
    assert_error(api.put(f"/api/tenants/{ok}/devices/sync"), 405, "method_not_allowed")
    assert stored(harness) == before
    assert queued_jobs(harness, "devices") == []
    assert api.post(f"/api/tenants/{ok}/devices/sync").status_code == 202


@pytest.mark.slow
def test_devices_with_every_field_filters_and_pages(
    harness: Harness, world: World, api: Api
) -> None:
    partner = Partner(world)
    tid = partner.customer("Gamma", devices=0, detected=0, mobile=0)
    managed = partner.customers[tid]["intune"]["managed_devices"]
    for i in range(6):  # compliance: i % 3 == 0 is noncompliant
        d = device(f"PC-{i}", i, operatingSystem="iOS" if i >= 4 else "Windows",
                   serialNumber="To Be Filled By O.E.M." if i == 5 else f" sn{i:06d}x ")
        managed[d["id"]] = d
    harness.start()
    connect_partner(harness, partner)
    harness.services.runner.run_one("devices", tid, "cli")
    gone = next(iter(managed))  # PC-0
    assert harness.sim is not None
    harness.sim.delete_object(tid, "managed_devices", gone)
    resync = harness.services.runner.run_one("devices", tid, "cli")
    run = api.get(f"/api/tenants/{tid}/runs/{resync.run_id}").json()
    assert run["devices"] == {"created": 0, "updated": 0, "unchanged": 5, "retired": 1,
                              "restored": 0}

    devices = f"/api/tenants/{tid}/devices"
    everything = _all(api, devices, pageSize=2)
    assert len(everything) == 6
    by_name = {d["name"]: d for d in everything}
    assert all(set(d) == DEVICE_FIELDS for d in everything)
    assert {
        "".join(w if i == 0 else w.title() for i, w in enumerate(f.name.split("_")))
        for f in fields(DeviceRecord)} == DEVICE_FIELDS
    one = by_name["PC-1"]
    source = managed[one["id"]]
    assert one["serialNumber"] == "SN000001X"
    assert (one["userId"], one["userUpn"]) == (source["userId"], "user1@customer.example")
    assert one["totalStorageBytes"] == 256_000_000_000
    assert (one["isEncrypted"], one["imei"], one["retired"], one["retiredAt"]) == (
        True, None, False, None)
    assert one["enrolledAt"] == "2026-01-05T10:00:00Z"
    assert by_name["PC-5"]["serialNumber"] is None
    assert by_name["PC-0"]["retired"] is True and by_name["PC-0"]["retiredAt"]

    assert _names(api.get(devices, params={"retired": "true"})) == {"PC-0"}
    assert _names(api.get(devices, params={"retired": "false"})) == {
        "PC-1", "PC-2", "PC-3", "PC-4", "PC-5"}
    assert _names(api.get(devices, params={"complianceState": "noncompliant"})) == {
        "PC-0", "PC-3"}
    assert _names(api.get(devices, params={"complianceState": "noncompliant",
                                           "retired": "false"})) == {"PC-3"}
    assert _names(api.get(devices, params={"operatingSystem": "iOS"})) == {"PC-4", "PC-5"}
    assert _names(api.get(devices, params={"operatingSystem": "ios"})) == {"PC-4", "PC-5"}
    assert _names(api.get(devices, params={"operatingSystem": "io"})) == set()  # whole value
    assert _names(api.get(devices, params={"userDeleted": "false"})) == set(by_name)


@pytest.mark.slow
def test_device_and_software_filters_return_only_the_callers_tenants_rows(
    harness: Harness, world: World, api: Api
) -> None:
    partner = Partner(world)
    mine, other = partner.customer("Mine", devices=4), partner.customer("Other", devices=4)
    harness.start()
    connect_partner(harness, partner)
    for tid in (mine, other):
        harness.services.runner.run_one("devices", tid, "cli")
    my_ids = {d["id"] for d in _all(api, f"/api/tenants/{mine}/devices")}
    other_ids = {d["id"] for d in _all(api, f"/api/tenants/{other}/devices")}
    assert len(my_ids) == len(other_ids) == 4
    before = stored(harness)
    for field in ("complianceState", "operatingSystem"):
        for value in [*INJECTIONS, "compliant' or PartitionKey ne 'x", "Windows') or ('a"]:
            r = api.get(f"/api/tenants/{mine}/devices", params={field: value,
                                                                 "pageSize": 1000})
            assert r.status_code == 200, (value, r.text)
            assert {d["id"] for d in r.json()["items"]} <= my_ids, value
    # Real values match in both tenants, yet each answer holds only the caller's devices.
    for params in ({"complianceState": "compliant"}, {"operatingSystem": "Windows"}):
        got = {d["id"] for d in _all(api, f"/api/tenants/{mine}/devices", **params)}
        assert got and got <= my_ids and not got & other_ids
    for kind in ("detected", "managed"):
        mine_apps = {a["id"] for a in _all(api, f"/api/tenants/{mine}/software/{kind}")}
        other_apps = {a["id"] for a in _all(api, f"/api/tenants/{other}/software/{kind}")}
        assert mine_apps and not mine_apps & other_apps
    for value in ("' or PartitionKey ne '", "true or 1 eq 1"):
        assert_error(api.get(f"/api/tenants/{mine}/devices", params={"retired": value}), 400,
                     "invalid_request")
        assert_error(api.get(f"/api/tenants/{mine}/software/detected",
                             params={"removed": value}), 400, "invalid_request")
    assert stored(harness) == before


@pytest.mark.slow
def test_devices_of_users_marked_deleted_in_the_directory(
    harness: Harness, world: World, api: Api
) -> None:
    partner = Partner(world)
    tid = partner.customer("Zeta", devices=0)
    device_only = partner.customer("Device only")
    side = directory_side(partner, tid, ownerless_device=True)
    app, secret, group, leaver = side.app, side.secret, side.group, side.leaver
    harness.start()
    connect_partner(harness, partner)
    for t in (tid, device_only):
        harness.services.runner.run_one("devices", t, "cli")
    # The partner's customer gets its directory connection added over HTTP, and keeps its
    # device connection.
    r = api.post("/api/tenants", json={"tenantId": tid, "clientId": app,
                                       "clientSecret": secret, "groupId": group})
    assert r.status_code == 201, r.text
    assert r.json()["directory"]["groupId"] == group
    assert r.json()["devices"]["partnerTenantId"] == partner.id
    assert secret not in r.text
    assert_error(api.post("/api/tenants", json={"tenantId": tid, "clientId": app,
                                                "clientSecret": secret, "groupId": group}),
                 409, "tenant_exists")
    harness.services.runner.run_one("directory", tid, "cli")
    assert harness.sim is not None
    harness.sim.remove_member(tid, group, leaver)
    harness.services.runner.run_one("directory", tid, "cli")
    devices = f"/api/tenants/{tid}/devices"
    [hit] = api.get(devices, params={"userDeleted": "true"}).json()["items"]
    assert (hit["name"], hit["userId"]) == ("ZETA-0", leaver)
    assert _names(api.get(devices, params={"userDeleted": "true", "retired": "true"})) == set()
    assert len(api.get(devices).json()["items"]) == 3
    tenant = api.get(f"/api/tenants/{tid}").json()
    assert tenant["directory"]["groupId"] == group
    assert tenant["devices"]["partnerTenantId"] == partner.id
    # Without a directory sync there is nothing to join: said, not an empty list.
    error = assert_error(api.get(f"/api/tenants/{device_only}/devices",
                                 params={"userDeleted": "true"}), 409, "not_configured")
    assert "directory connection" in error["message"]


@pytest.mark.slow
def test_detected_and_managed_software_in_pages(harness: Harness, world: World, api: Api) -> None:
    partner = Partner(world)
    tid = partner.customer("Apps", devices=1, detected=5, mobile=3)
    harness.start()
    connect_partner(harness, partner)
    harness.services.runner.run_one("devices", tid, "cli")
    detected_src = partner.customers[tid]["intune"]["detected_apps"]
    gone = next(iter(detected_src))
    assert harness.sim is not None
    harness.sim.delete_object(tid, "detected_apps", gone)
    resync = harness.services.runner.run_one("devices", tid, "cli")
    assert api.get(f"/api/tenants/{tid}/runs/{resync.run_id}").json()["apps"]["removed"] == 1

    detected = _all(api, f"/api/tenants/{tid}/software/detected", pageSize=2)
    assert len(detected) == 5
    app = next(a for a in detected if a["name"] == "App 003")
    assert app == {"id": app["id"], "name": "App 003", "version": "1.3.0",
                   "publisher": "Fabrikam", "platform": "windows", "deviceCount": 4,
                   "sizeBytes": 4000, "removed": False, "removedAt": None,
                   "changedAt": app["changedAt"]}
    assert app["changedAt"]  # the first sync detected it
    removed = api.get(f"/api/tenants/{tid}/software/detected", params={"removed": "true"})
    [only] = removed.json()["items"]
    assert only["id"] == gone and only["removedAt"]
    assert len(api.get(f"/api/tenants/{tid}/software/detected",
                       params={"removed": "false"}).json()["items"]) == 4

    managed = _all(api, f"/api/tenants/{tid}/software/managed", pageSize=1)
    assert sorted((m["name"], m["type"]) for m in managed) == [
        ("Mobile 00", "win32LobApp"), ("Mobile 01", "iosStoreApp"),
        ("Mobile 02", "androidManagedStoreApp")]
    assert all(set(m) == {"id", "name", "type", "publisher", "removed", "removedAt",
                          "changedAt"} for m in managed)


@pytest.mark.parametrize("query", [
    "devices?retired=maybe", "devices?complianceState=", "devices?operatingSystem=%00",
    "devices?complianceState=" + "a" * 257, "devices?userDeleted=2", "devices?pageSize=0",
    "devices?pageSize=1001", "devices?continuationToken=garbage", "devices?pageSize=ten",
    "software/detected?removed=x", "software/detected?pageSize=0",
    "software/managed?pageSize=5000", "software/managed?continuationToken=e30=",
])
def test_malformed_device_and_software_queries_are_400(
    harness: Harness, world: World, api: Api, query: str
) -> None:
    partner = Partner(world)
    tid = partner.customer("Alpha")
    harness.start()
    connect_partner(harness, partner)
    r = api.get(f"/api/tenants/{tid}/{query}")
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] in {"invalid_filter", "invalid_request",
                                         "invalid_page_size", "invalid_continuation"}


def test_unknown_and_malformed_tenants_of_device_and_software_lists(
    harness: Harness, api: Api
) -> None:
    harness.start()
    for path in ("devices", "software/detected", "software/managed"):
        assert_error(api.get(f"/api/tenants/{UNKNOWN}/{path}"), 404, "unknown_tenant")
        assert_error(api.get(f"/api/tenants/bad/{path}"), 400, "invalid_guid")


@pytest.mark.slow
def test_tenants_show_both_kinds_and_filter_by_health(
    harness: Harness, world: World, api: Api
) -> None:
    partner = Partner(world)
    healthy = partner.customer("Healthy")
    no_consent = partner.customer("NoConsent", consented=False)
    synced, _ = seed_example(world)
    pending, _ = seed_example(world)
    harness.start(TENANTSYNC_GRAPH_MAX_RETRIES="1")
    for t in (synced, pending):
        harness.onboard(t)
    harness.sync(synced)
    connect_partner(harness, partner)
    for tid in (healthy, no_consent):
        harness.services.runner.run_one("devices", tid, "cli")

    def tenant_ids(health: str) -> set[str]:
        return {t["tenantId"] for t in _all(api, "/api/tenants", health=health, pageSize=1)}

    assert tenant_ids("healthy") == {synced.id, healthy}
    assert tenant_ids("consent_missing") == {no_consent}
    assert tenant_ids("unknown") == {pending.id}  # device-only tenants have no directory
    assert tenant_ids("quarantined") == set()
    everyone = {t["tenantId"]: t for t in _all(api, "/api/tenants")}
    assert set(everyone) == {synced.id, pending.id, healthy, no_consent}
    assert everyone[synced.id]["devices"] is None
    assert everyone[no_consent]["devices"]["health"] == "consent_missing"
    assert everyone[no_consent]["devices"]["lastErrorCode"] == "app_not_found"
    assert everyone[no_consent]["devices"]["consecutiveFailures"] == 1
    assert everyone[healthy]["devices"]["organization"] == "Healthy Ltd"
    for bad in ("sick", "' or ''='", ""):
        assert_error(api.get("/api/tenants", params={"health": bad}), 400, "invalid_request")


@pytest.mark.slow
def test_purge_deletes_a_customers_devices_and_software_and_waits_for_its_sync(
    harness: Harness, world: World, api: Api
) -> None:
    partner = Partner(world)
    gone, kept = partner.customer("Gone"), partner.customer("Kept")
    harness.start()
    connect_partner(harness, partner)
    for tid in (gone, kept):
        harness.services.runner.run_one("devices", tid, "cli")
    run_id = api.post(f"/api/tenants/{gone}/devices/sync").json()["runId"]
    before = stored(harness)
    error = assert_error(api.delete(f"/api/tenants/{gone}", params={"purge": "true"}), 409,
                         "sync_running")
    assert error["runId"] == run_id
    assert stored(harness) == before
    assert run_queued_jobs(harness, "devices") == 1

    kept_before = [e for e in harness.entities() if e["PartitionKey"] == kept]
    assert {e["_table"].removeprefix(harness.prefix) for e in kept_before} == {
        "claims", "feed", "inventory", "runs"}
    assert api.delete(f"/api/tenants/{gone}", params={"purge": "true"}).status_code == 204
    remaining = harness.entities()
    assert not [e for e in remaining if gone in (e["PartitionKey"], e["RowKey"])]
    assert [e for e in remaining if e["PartitionKey"] == kept] == kept_before
    # The partner's shared inventory secret stays: other customers use it.
    assert harness.services.runner.run_one("devices", kept, "cli").status == "succeeded"


@pytest.mark.slow
def test_concurrent_sync_starts_queue_exactly_one_run(
    harness: Harness, world: World, api: Api
) -> None:
    partner = Partner(world)
    tenants = [partner.customer(f"Race {i}") for i in range(6)]
    harness.start()
    connect_partner(harness, partner)
    starters = 4
    for tid in tenants:
        gate = threading.Barrier(starters)

        def start(tid: str = tid, gate: threading.Barrier = gate) -> requests.Response:
            gate.wait()
            return requests.post(f"{api.base_url}/api/tenants/{tid}/devices/sync", timeout=30)

        with ThreadPoolExecutor(starters) as pool:
            answers = list(pool.map(lambda _: start(), range(starters)))
        started = [a.json()["runId"] for a in answers if a.status_code == 202]
        refused = [a.json()["error"] for a in answers if a.status_code == 409]
        assert len(started) == 1, [a.status_code for a in answers]
        assert len(refused) == starters - 1
        assert {e["code"] for e in refused} == {"sync_running"}
        assert {e["runId"] for e in refused} == set(started)  # the one that won
    jobs = queued_jobs(harness, "devices")
    assert sorted(j["tenant_id"] for j in jobs) == sorted(tenants)  # one job each
    assert run_queued_jobs(harness, "devices") == len(tenants)
    # Finished runs free the tenant: the next start is queued.
    assert api.post(f"/api/tenants/{tenants[0]}/devices/sync").status_code == 202


def test_a_claim_left_by_a_start_that_died_blocks_for_a_minute_only(
    harness: Harness, world: World
) -> None:
    partner = Partner(world)
    tid = partner.customer("Crashed")
    harness.start()
    connect_partner(harness, partner)
    runs, starter = harness.services.runs, harness.services.starter
    # A starter claimed and died before recording its run.
    dead = "0000000000000-deadbeef"
    assert runs.insert_claim(tid, "devices", dead, datetime.now(UTC))
    with pytest.raises(ConflictError) as refused:
        starter.start(tid, "devices", "http", enqueue=False)
    assert refused.value.run_id == dead
    store = harness.services.tables
    held = store.get("claims", tid, "devices")
    assert held is not None and held["RunId"] == dead
    store.upsert("claims", {**held, "ClaimedAt": iso(datetime.now(UTC) - timedelta(minutes=2))})
    third = starter.start(tid, "devices", "http", enqueue=False)
    taken = store.get("claims", tid, "devices")
    assert taken is not None and taken["RunId"] == third.run_id
    # The claim is per kind: a directory start is not held back by it.
    assert runs.insert_claim(tid, "directory", "0000000000001-deadbeef", datetime.now(UTC))


@pytest.mark.slow
def test_the_schedule_and_http_starts_never_queue_a_tenant_twice(
    harness: Harness, world: World, api: Api
) -> None:
    partner = Partner(world)
    tenants = sorted([partner.customer("Timed A"), partner.customer("Timed B")])
    harness.start()
    connect_partner(harness, partner)
    assert harness.services.scheduler.schedule("devices", trigger="timer") == (2, 0)
    jobs = {j["tenant_id"]: j["run_id"] for j in queued_jobs(harness, "devices")}
    assert sorted(jobs) == tenants
    for tid, run_id in jobs.items():  # the timer's runs are recorded as queued
        run = harness.services.runs.get(tid, run_id)
        assert (run.status, run.trigger, run.kind) == (RunStatus.QUEUED, "timer", "devices")
    error = assert_error(api.post(f"/api/tenants/{tenants[0]}/devices/sync"), 409,
                         "sync_running")
    assert error["runId"] == jobs[tenants[0]]
    assert harness.services.scheduler.schedule("devices", trigger="timer") == (0, 2)  # still queued
    assert len(queued_jobs(harness, "devices")) == 2
    assert run_queued_jobs(harness, "devices") == 2
    for tid, run_id in jobs.items():  # the worker ran the very runs the timer recorded
        assert harness.services.runs.get(tid, run_id).status == RunStatus.SUCCEEDED
    assert harness.services.scheduler.schedule("devices", trigger="timer") == (2, 0)
