"""Per-device software and details: fixture links, the single-device read, an app's devices."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from simulator import FixtureError, Simulator

from .inventory import APPS, DETAILS, DEVICES, LINKS, build_inventory_fixture, devices_of
from .partners import CUSTOMER, DEVICES_ONLY_APP, NO_ROLES_APP, get, read_all, token

DEVICES_URL = "/v1.0/deviceManagement/managedDevices"
DETECTED_URL = "/v1.0/deviceManagement/detectedApps"
WHERE = f"tenants.{CUSTOMER}.intune"


@pytest.fixture(scope="module")
def bearer(inventory_sim: Simulator) -> str:
    return token(inventory_sim, CUSTOMER)


@pytest.fixture(autouse=True)
def fresh_inventory(inventory_sim: Simulator) -> Iterator[None]:
    yield
    inventory_sim.set_throttling({})
    intune = build_inventory_fixture()["tenants"][CUSTOMER]["intune"]
    inventory_sim.update_tenant(CUSTOMER, {"intune": intune})


def _broken(change: str) -> dict[str, Any]:
    fixture = build_inventory_fixture()
    intune = fixture["tenants"][CUSTOMER]["intune"]
    first = intune["managed_devices"][DEVICES[0]]
    if change == "unknown-app":
        first["detected_apps"].append("nosuchapp")
    elif change == "duplicate-app":
        first["detected_apps"].append(APPS[1].upper())
    elif change == "links-not-list":
        first["detected_apps"] = APPS[0]
    elif change == "report-column":
        first["report_columns"]["CpuName"] = "x"
    elif change == "report-value":
        first["report_columns"]["ProcessorArchitecture"] = 9
    elif change == "hardware":
        first["hardwareInformation"] = {"tpmSpecificationVersion": "2.0"}
    return fixture


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            "unknown-app",
            f"{WHERE}.managed_devices.{DEVICES[0]}.detected_apps[3]: unknown detected "
            "app 'nosuchapp'",
        ),
        (
            "duplicate-app",
            f"{WHERE}.managed_devices.{DEVICES[0]}.detected_apps[3]: duplicate "
            f"detected app '{APPS[1].upper()}'",
        ),
        ("links-not-list", f"{WHERE}.managed_devices.{DEVICES[0]}.detected_apps: must be a list"),
        (
            "report-column",
            f"{WHERE}.managed_devices.{DEVICES[0]}.report_columns: unknown key 'CpuName'",
        ),
        (
            "report-value",
            f"{WHERE}.managed_devices.{DEVICES[0]}.report_columns."
            "ProcessorArchitecture: must be a non-empty string",
        ),
        # hardwareInformation is a beta property: v1.0's managedDevice has none
        (
            "hardware",
            f"{WHERE}.managed_devices.{DEVICES[0]}: unknown property 'hardwareInformation'",
        ),
    ],
)
def test_invalid_inventory_fields_name_the_path(change: str, message: str) -> None:
    with pytest.raises(FixtureError) as raised:
        Simulator(_broken(change))
    assert str(raised.value).startswith(message)


def test_device_count_is_derived_from_the_links_unless_given(
    inventory_sim: Simulator, bearer: str
) -> None:
    apps = read_all(inventory_sim, DETECTED_URL, bearer)[0]["value"]
    counts = {app["id"]: app["deviceCount"] for app in apps}
    assert counts == {
        APPS[0]: 5,
        APPS[1]: 99,  # stated in the fixture
        APPS[2]: 2,
        APPS[3]: 1,
        APPS[4]: 0,
    }
    # a fixture without any links keeps its stated counts (and 0 where none is stated)
    partner_only = copy.deepcopy(build_inventory_fixture())
    for entry in partner_only["tenants"][CUSTOMER]["intune"]["managed_devices"].values():
        entry.pop("detected_apps")
    intune = Simulator(partner_only).state.world.tenants[CUSTOMER].intune
    assert intune is not None
    assert [app["deviceCount"] for app in intune.detected_apps] == [0, 99, 0, 0, 0]


def test_list_leaves_the_detail_properties_at_their_defaults(
    inventory_sim: Simulator, bearer: str
) -> None:
    listed = read_all(inventory_sim, DEVICES_URL, bearer)[0]["value"][0]
    assert listed["id"] == DEVICES[0]
    assert listed["serialNumber"] == "SER0001"
    assert {name: listed[name] for name in DETAILS} == {
        "physicalMemoryInBytes": 0,
        "ethernetMacAddress": None,
        "iccid": None,
        "udid": None,
        "notes": None,
        "activationLockBypassCode": None,
        "remoteAssistanceSessionUrl": None,
        "enrollmentProfileName": None,
    }
    assert "detected_apps" not in listed
    assert "report_columns" not in listed


def test_single_read_returns_details_only_when_selected(
    inventory_sim: Simulator, bearer: str
) -> None:
    url = f"{DEVICES_URL}/{DEVICES[0]}"
    plain = get(inventory_sim, url, bearer)
    assert plain.status_code == 200
    assert plain.json()["physicalMemoryInBytes"] == 0
    assert plain.json()["ethernetMacAddress"] is None
    assert plain.json()["@odata.context"].endswith("#deviceManagement/managedDevices/$entity")
    names = ",".join(DETAILS)
    selected = get(inventory_sim, f"{url}?$select=deviceName,{names}", bearer)
    assert selected.status_code == 200
    body = selected.json()
    assert body.pop("@odata.context").endswith(f"managedDevices(deviceName,{names})/$entity")
    assert body == {"id": DEVICES[0], "deviceName": "DESK-001", **DETAILS}
    # a device whose fixture has no details gets the defaults even when they are selected
    other = get(inventory_sim, f"{DEVICES_URL}/{DEVICES[1]}?$select=physicalMemoryInBytes", bearer)
    assert other.json()["physicalMemoryInBytes"] == 0


def test_single_read_refuses_beta_properties_and_unknown_devices(
    inventory_sim: Simulator, bearer: str
) -> None:
    url = f"{DEVICES_URL}/{DEVICES[0]}?$select=id,hardwareInformation"
    beta_only = get(inventory_sim, url, bearer)
    assert beta_only.status_code == 400
    assert beta_only.json()["error"]["message"] == (
        "Could not find a property named 'hardwareInformation' on type "
        "'microsoft.graph.managedDevice'."
    )
    missing = get(inventory_sim, f"{DEVICES_URL}/d1000000-0000-4000-8000-00000000ffff", bearer)
    assert missing.status_code == 404
    error = missing.json()["error"]
    assert error["code"] == "ResourceNotFound"
    assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
    # v1.0 has no per-device detectedApps (beta only)
    beta_path = get(inventory_sim, f"{DEVICES_URL}/{DEVICES[0]}/detectedApps", bearer)
    assert beta_path.status_code == 400


def test_an_apps_devices_match_the_fixture_page_by_page(
    inventory_sim: Simulator, bearer: str
) -> None:
    url = f"{DETECTED_URL}/{APPS[0]}/managedDevices?$top=2&$select=deviceName,ethernetMacAddress"
    pages = read_all(inventory_sim, url, bearer)
    assert [len(page["value"]) for page in pages] == [2, 2, 1]
    assert pages[0]["@odata.context"] == (
        f"{inventory_sim.base_url}/v1.0/$metadata#deviceManagement/detectedApps('{APPS[0]}')"
        "/managedDevices(deviceName,ethernetMacAddress)"
    )
    assert pages[0]["@odata.nextLink"].startswith(
        f"{inventory_sim.base_url}{DETECTED_URL}/{APPS[0]}/managedDevices?$top=2&$select="
    )
    items = [item for page in pages for item in page["value"]]
    assert [item["id"] for item in items] == DEVICES
    # listed as List managedDevices lists them: the details stay at their defaults
    assert items[0] == {"id": DEVICES[0], "deviceName": "DESK-001", "ethernetMacAddress": None}
    for app in APPS[1:]:
        found = read_all(inventory_sim, f"{DETECTED_URL}/{app}/managedDevices", bearer)
        assert [d["id"] for d in found[0]["value"]] == devices_of(app), app
        assert found[0]["value"] == [] or found[0]["value"][0]["deviceName"].startswith("DESK")


def test_one_detected_app_and_unknown_apps(inventory_sim: Simulator, bearer: str) -> None:
    one = get(inventory_sim, f"{DETECTED_URL}/{APPS[2].upper()}?$select=displayName", bearer)
    assert one.status_code == 200
    assert one.json()["id"] == APPS[2]
    assert one.json()["displayName"] == "Tool 3"
    for url in (f"{DETECTED_URL}/nosuchapp", f"{DETECTED_URL}/nosuchapp/managedDevices"):
        assert get(inventory_sim, url, bearer).status_code == 404, url
    wrong = get(inventory_sim, f"{DETECTED_URL}/{APPS[0]}/users", bearer)
    assert wrong.status_code == 400


def test_an_apps_devices_need_the_devices_permission_and_budget(
    inventory_sim: Simulator,
) -> None:
    url = f"{DETECTED_URL}/{APPS[0]}/managedDevices"
    bare = get(inventory_sim, url, token(inventory_sim, CUSTOMER, NO_ROLES_APP))
    assert bare.status_code == 403
    assert "DeviceManagementManagedDevices.Read.All" in bare.json()["error"]["message"]
    devices_only = token(inventory_sim, CUSTOMER, DEVICES_ONLY_APP)
    inventory_sim.set_throttling({"window_seconds": 30, "intune_devices_per_window": 3})
    inventory_sim.reset_stats()
    statuses = [
        get(inventory_sim, u, devices_only).status_code
        for u in (url, DEVICES_URL, f"{DEVICES_URL}/{DEVICES[0]}", url)
    ]
    assert statuses == [200, 200, 200, 429]  # one budget for all the devices routes
    stats = inventory_sim.stats()
    assert stats["budget_throttled"]["devices"] == 1
    kinds = stats["by_path_kind"]
    assert kinds["GET graph.detectedAppDevices"] == 2
    assert kinds["GET graph.managedDevice"] == 1
    assert kinds["GET graph.managedDevices"] == 1


def test_control_edits_keep_links_consistent(inventory_sim: Simulator, bearer: str) -> None:
    inventory_sim.delete_object(CUSTOMER, "detected_apps", APPS[0])
    url = f"{DETECTED_URL}/{APPS[2]}/managedDevices"
    assert [d["id"] for d in read_all(inventory_sim, url, bearer)[0]["value"]] == [
        DEVICES[0],
        DEVICES[4],
    ]
    inventory_sim.upsert_object(
        CUSTOMER, "managed_devices", {"id": DEVICES[1], "detected_apps": [APPS[2]]}
    )
    assert [d["id"] for d in read_all(inventory_sim, url, bearer)[0]["value"]] == [
        DEVICES[0],
        DEVICES[1],
        DEVICES[4],
    ]
    counts = {
        a["id"]: a["deviceCount"] for a in read_all(inventory_sim, DETECTED_URL, bearer)[0]["value"]
    }
    assert counts[APPS[2]] == 3
    assert counts[APPS[1]] == 99  # still the stated count
    with pytest.raises(FixtureError, match="unknown detected app"):
        inventory_sim.upsert_object(
            CUSTOMER, "managed_devices", {"id": DEVICES[1], "detected_apps": [APPS[0]]}
        )
    assert LINKS[DEVICES[1]] == [APPS[0], APPS[1]]  # the test data itself is untouched
