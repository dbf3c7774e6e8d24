"""One device with its software and hardware, the devices of an app, devices by app name
and version: over HTTP, paged, filtered, and refusing bad input like every list."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.api.conftest import INJECTIONS, Api, assert_error, stored
from tests.conftest import Harness
from tests.inventory import DETAILS, Estate, started
from tests.world import World

UNKNOWN = "11111111-2222-3333-4444-555555555555"


def _all(api: Api, path: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every item of a list, following continuation tokens; and how many pages it took."""
    items, token, pages = [], None, 0
    while True:
        r = api.get(path, params={**params, **({"continuationToken": token} if token else {})})
        assert r.status_code == 200, r.text
        page = r.json()
        items += page["items"]
        pages += 1
        token = page["continuationToken"]
        if not token:
            return items, pages


def _ids(response: requests.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {d["id"] for d in response.json()["items"]}


def _synced(harness: Harness, world: World) -> Estate:
    found = started(harness, world)
    tools = found.intune["detected_apps"]
    for n, app in enumerate(found.apps):  # "Tool 0".."Tool 4"; Tool 3 and 4 in version 2
        tools[app].update(displayName=f"Tool {n}", version="2.0" if n >= 3 else f"1.{n}")
    assert harness.sim is not None
    harness.sim.update_tenant(found.tenant, {"intune": found.intune})
    run = harness.services.runner.run_one("devices", found.tenant, "cli")
    assert run.status.value == "succeeded", run.error
    return found


@pytest.mark.slow
def test_one_device_with_its_hardware_and_its_software_ended_links_included(
    harness: Harness, world: World, api: Api
) -> None:
    found = _synced(harness, world)
    # App 0 leaves device 0: its link ends.
    entry = found.device(0)
    entry["detected_apps"] = []
    assert harness.sim is not None
    harness.sim.upsert_object(found.tenant, "managed_devices", {"id": found.devices[0], **entry})
    harness.services.runner.run_one("devices", found.tenant, "cli")
    body = api.get(f"/api/tenants/{found.tenant}/devices/{found.devices[0].upper()}").json()
    assert body["id"] == found.devices[0]
    assert body["physicalMemoryBytes"] == DETAILS["physicalMemoryInBytes"]
    assert (body["udid"], body["iccid"], body["ethernetMac"]) == (
        DETAILS["udid"], DETAILS["iccid"], DETAILS["ethernetMacAddress"])
    assert (body["tpmVersion"], body["enrollmentProfile"]) == ("2.0", "Autopilot corporate")
    assert body["detailsAsOf"] == entry["lastSyncDateTime"]
    assert body["processorArchitecture"] is None  # the read-only path
    [ended] = body["software"]
    assert ended["appId"] == found.apps[0] and ended["name"] == "Tool 0"
    assert ended["version"] == "1.0" and ended["removed"] is True and ended["removedAt"]
    three = api.get(f"/api/tenants/{found.tenant}/devices/{found.devices[3]}").json()
    assert [(a["name"], a["version"], a["removed"]) for a in three["software"]] == [
        ("Tool 0", "1.0", False), ("Tool 1", "1.1", False), ("Tool 2", "1.2", False),
        ("Tool 3", "2.0", False)]
    assert three["software"][0]["publisher"] == "Fabrikam"


@pytest.mark.slow
def test_one_device_refuses_a_malformed_id_and_answers_404_for_an_unknown_one(
    harness: Harness, world: World, api: Api
) -> None:
    found = _synced(harness, world)
    base = f"/api/tenants/{found.tenant}/devices"
    before = stored(harness)
    for bad in ("not-a-guid", "' or PartitionKey ne '", "1234"):
        assert "path.deviceId" in assert_error(api.get(f"{base}/{bad}"), 400,
                                               "invalid_guid")["message"]
    assert UNKNOWN in assert_error(api.get(f"{base}/{UNKNOWN}"), 404,
                                   "unknown_device")["message"]
    assert_error(api.get(f"/api/tenants/{UNKNOWN}/devices/{found.devices[0]}"), 404,
                 "unknown_tenant")
    assert stored(harness) == before


@pytest.mark.slow
def test_the_devices_of_an_app_page_and_refuse_bad_input(
    harness: Harness, world: World, api: Api
) -> None:
    found = _synced(harness, world)
    app = found.apps[1]  # on devices 1, 2 and 3
    path = f"/api/tenants/{found.tenant}/software/detected/{app}/devices"
    items, pages = _all(api, path, pageSize=1)
    assert {d["id"] for d in items} == found.devices_of(app) and len(items) == 3
    assert pages >= 3
    assert all("physicalMemoryBytes" in d for d in items)
    assert _ids(api.get(path)) == found.devices_of(app)
    before = stored(harness)
    assert_error(api.get(path, params={"pageSize": 0}), 400, "invalid_page_size")
    assert_error(api.get(path, params={"pageSize": 1001}), 400, "invalid_page_size")
    assert_error(api.get(path, params={"continuationToken": "bm90IGEgdG9rZW4"}), 400,
                 "invalid_continuation")
    unknown = f"/api/tenants/{found.tenant}/software/detected/{'f' * 32}/devices"
    assert "f" * 32 in assert_error(api.get(unknown), 404, "unknown_app")["message"]
    for bad in ("has space", "a" * 201, "semi;colon"):
        assert_error(api.get(f"/api/tenants/{found.tenant}/software/detected/{bad}/devices"),
                     400, "invalid_app_id")
    assert_error(api.get(f"/api/tenants/{UNKNOWN}/software/detected/{app}/devices"), 404,
                 "unknown_tenant")
    assert stored(harness) == before


@pytest.mark.slow
def test_devices_by_app_name_prefix_and_version_in_any_case(
    harness: Harness, world: World, api: Api
) -> None:
    found = _synced(harness, world)
    devices = f"/api/tenants/{found.tenant}/devices"
    by_name = lambda **p: _ids(api.get(devices, params=p))  # noqa: E731
    assert by_name(appName="tool") == set(found.devices)  # every device has Tool 0
    assert by_name(appName="TOOL 2") == found.devices_of(found.apps[2])
    assert by_name(appName="tool", appVersion="2.0") == found.devices_of(found.apps[3])
    assert by_name(appName="Tool 1", appVersion="1.1") == found.devices_of(found.apps[1])
    assert by_name(appName="tool 1", appVersion="9.9") == set()
    assert by_name(appName="nothing like it") == set()
    assert by_name(appName="tool", appVersion="2.0", operatingSystem="windows") == \
        found.devices_of(found.apps[3])
    items, _ = _all(api, devices, appName="tool", pageSize=1)
    assert {d["id"] for d in items} == set(found.devices)
    before = stored(harness)
    assert "appName" in assert_error(api.get(devices, params={"appVersion": "2.0"}), 400,
                                     "invalid_filter")["message"]
    assert_error(api.get(devices, params={"appName": ""}), 400, "invalid_filter")
    assert_error(api.get(devices, params={"appName": "x" * 257}), 400, "invalid_filter")
    for value in INJECTIONS:
        assert by_name(appName=value) == set()
    assert stored(harness) == before
