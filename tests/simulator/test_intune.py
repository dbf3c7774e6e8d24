"""Intune on Graph: managedDevices, detectedApps and mobileApps, licences and permissions."""

from __future__ import annotations

import json

import pytest

from simulator import Simulator

from .partners import (
    CUSTOMER,
    DETECTED_COUNT,
    DEVICE_COUNT,
    DEVICES,
    DEVICES_ONLY_APP,
    MOBILE_IOS,
    MOBILE_STORE,
    MOBILE_WIN32,
    NO_ROLES_APP,
    UNLICENSED,
    get,
    read_all,
    token,
)

DEVICES_URL = "/v1.0/deviceManagement/managedDevices"
DETECTED_URL = "/v1.0/deviceManagement/detectedApps"
MOBILE_URL = "/v1.0/deviceAppManagement/mobileApps"


@pytest.fixture(scope="module")
def bearer(partner_sim: Simulator) -> str:
    return token(partner_sim, CUSTOMER)


def test_managed_devices_page_with_top_select_and_skiptoken(
    partner_sim: Simulator, bearer: str
) -> None:
    url = f"{DEVICES_URL}?$top=3&$select=id,deviceName,serialNumber,isEncrypted"
    pages = read_all(partner_sim, url, bearer)
    assert [len(page["value"]) for page in pages] == [3, 3, 1]
    assert [page["@odata.count"] for page in pages] == [3, 3, 1]  # items in the page
    assert pages[0]["@odata.context"] == (
        f"{partner_sim.base_url}/v1.0/$metadata#deviceManagement/managedDevices"
        "(id,deviceName,serialNumber,isEncrypted)"
    )
    link = pages[0]["@odata.nextLink"]
    assert link.startswith(f"{partner_sim.base_url}{DEVICES_URL}?$top=3&$select=")
    assert "$skiptoken=" in link
    items = [item for page in pages for item in page["value"]]
    assert [item["id"] for item in items] == DEVICES  # fixture order
    assert items[0] == {
        "id": DEVICES[0],
        "deviceName": "LAPTOP-001",
        "serialNumber": "SN00001",
        "isEncrypted": True,
    }


def test_managed_devices_default_page_has_every_property(
    partner_sim: Simulator, bearer: str
) -> None:
    pages = read_all(partner_sim, DEVICES_URL, bearer)
    assert len(pages) == 1
    device = pages[0]["value"][0]
    assert len(pages[0]["value"]) == DEVICE_COUNT
    assert device["manufacturer"] == "LENOVO"
    assert device["azureADDeviceId"].startswith("a0000000")
    # unset strings are "" and unset objects null, as real Intune lists them
    assert device["imei"] == ""
    assert device["userId"] == ""
    assert device["phoneNumber"] == ""
    assert device["notes"] is None
    assert device["deviceActionResults"] == []
    # List managedDevices leaves ethernetMacAddress null: only a single GET carries it
    assert device["ethernetMacAddress"] is None
    one = get(partner_sim, f"{DEVICES_URL}/{DEVICES[0]}?$select=id,ethernetMacAddress", bearer)
    assert one.status_code == 200
    assert one.json()["ethernetMacAddress"] == "00155D000001"
    assert one.json()["@odata.context"].endswith(
        "#deviceManagement/managedDevices(id,ethernetMacAddress)/$entity"
    )


def test_unknown_select_property_and_bad_skiptoken_are_400(
    partner_sim: Simulator, bearer: str
) -> None:
    response = get(partner_sim, f"{DEVICES_URL}?$select=id,ownerType", bearer)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BadRequest"
    assert response.json()["error"]["message"] == (
        "Could not find a property named 'ownerType' on type 'microsoft.graph.managedDevice'."
    )
    forged = get(partner_sim, f"{DEVICES_URL}?$skiptoken=forged", bearer)
    assert forged.status_code == 400
    # paths are matched without regard to case, like Graph
    assert get(partner_sim, "/v1.0/devicemanagement/manageddevices", bearer).status_code == 200


def test_top_above_1000_gives_a_page_of_1000(partner_sim: Simulator, bearer: str) -> None:
    response = get(partner_sim, f"{DEVICES_URL}?$top=5000", bearer)
    assert response.status_code == 200
    assert len(response.json()["value"]) == DEVICE_COUNT


def test_detected_apps_come_50_per_page_whatever_top_says(
    partner_sim: Simulator, bearer: str
) -> None:
    pages = read_all(partner_sim, f"{DETECTED_URL}?$top=999", bearer)
    assert [len(page["value"]) for page in pages] == [50, 50, DETECTED_COUNT - 100]
    assert "$top=999" in pages[0]["@odata.nextLink"]
    first = pages[0]["value"][0]
    assert first == {
        "id": "app0001",
        "displayName": "App 1",
        "version": "1.1",
        "sizeInByte": 1000,
        "deviceCount": 1,
        "publisher": "Contoso Ltd",
        "platform": "windows",
    }
    assert len({app["id"] for page in pages for app in page["value"]}) == DETECTED_COUNT


def test_mobile_apps_carry_their_odata_type(partner_sim: Simulator, bearer: str) -> None:
    pages = read_all(partner_sim, MOBILE_URL, bearer)
    apps = {app["id"]: app for page in pages for app in page["value"]}
    assert {app_id: app["@odata.type"] for app_id, app in apps.items()} == {
        MOBILE_WIN32: "#microsoft.graph.win32LobApp",
        MOBILE_STORE: "#microsoft.graph.winGetApp",
        MOBILE_IOS: "#microsoft.graph.iosVppApp",
    }
    assert apps[MOBILE_WIN32]["fileName"] == "7z.intunewin"  # a property of the subtype
    assert apps[MOBILE_WIN32]["publishingState"] == "published"
    selected = get(partner_sim, f"{MOBILE_URL}?$select=displayName", bearer).json()["value"]
    assert selected[0] == {
        "@odata.type": "#microsoft.graph.win32LobApp",
        "id": MOBILE_WIN32,
        "displayName": "7-Zip",
    }


@pytest.mark.parametrize("url", [DEVICES_URL, DETECTED_URL, MOBILE_URL])
def test_a_tenant_without_intune_gets_request_not_applicable(
    partner_sim: Simulator, url: str
) -> None:
    response = get(partner_sim, url, token(partner_sim, UNLICENSED))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "BadRequest"
    assert "Request not applicable to target tenant." in error["message"]


def test_each_collection_needs_its_permission(partner_sim: Simulator) -> None:
    devices_only = token(partner_sim, CUSTOMER, DEVICES_ONLY_APP)
    assert get(partner_sim, DEVICES_URL, devices_only).status_code == 200
    assert get(partner_sim, DETECTED_URL, devices_only).status_code == 200
    denied = get(partner_sim, MOBILE_URL, devices_only)
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "Forbidden"
    wrapped = json.loads(denied.json()["error"]["message"])  # Intune wraps JSON in `message`
    assert wrapped["_version"] == 3
    assert wrapped["Message"].startswith(
        "Application is not authorized to perform this operation. Application must have one "
        "of the following scopes: DeviceManagementApps.Read.All, "
        "DeviceManagementApps.ReadWrite.All - Operation ID"
    )
    bare = token(partner_sim, CUSTOMER, NO_ROLES_APP)
    for url in (DEVICES_URL, DETECTED_URL, f"{DEVICES_URL}/{DEVICES[0]}"):
        response = get(partner_sim, url, bare)
        assert response.status_code == 403, url
        assert "DeviceManagementManagedDevices.Read.All" in response.json()["error"]["message"]


def test_missing_token_and_unknown_device(partner_sim: Simulator, bearer: str) -> None:
    response = get(partner_sim, DEVICES_URL, "not-a-token")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"
    missing = get(partner_sim, f"{DEVICES_URL}/d0000000-0000-4000-8000-00000000ffff", bearer)
    assert missing.status_code == 404
