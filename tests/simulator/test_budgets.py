"""Intune request budgets, faults on the partner endpoints, and their control calls."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from simulator import FixtureError, Simulator

from .conftest import http
from .partners import (
    CUSTOMER,
    DEVICES,
    DEVICES_ONLY_APP,
    PARTNER,
    PARTNER_CENTER_SCOPE,
    UNLICENSED,
    build_partner_fixture,
    get,
    token,
)

DEVICES_URL = "/v1.0/deviceManagement/managedDevices"
DETECTED_URL = "/v1.0/deviceManagement/detectedApps"
MOBILE_URL = "/v1.0/deviceAppManagement/mobileApps"


@pytest.fixture(autouse=True)
def defaults_after(partner_sim: Simulator) -> Iterator[None]:
    yield
    partner_sim.set_throttling({})
    partner_sim.clear_faults()
    partner_sim.update_tenant(UNLICENSED, {"intune": None})


def control(sim: Simulator, method: str, path: str, body: Any = None) -> requests.Response:
    return http(sim).request(method, f"{sim.base_url}/_sim{path}", json=body, timeout=10)


def statuses(sim: Simulator, url: str, bearer: str, times: int) -> list[int]:
    return [get(sim, url, bearer).status_code for _ in range(times)]


@pytest.mark.slow
def test_small_budget_throttles_then_recovers(partner_sim: Simulator) -> None:
    partner_sim.set_throttling(
        {"window_seconds": 1, "intune_devices_per_window": 3, "intune_apps_per_window": 2}
    )
    partner_sim.reset_stats()
    bearer = token(partner_sim, CUSTOMER)
    assert statuses(partner_sim, DEVICES_URL, bearer, 3) == [200, 200, 200]
    throttled = get(partner_sim, DETECTED_URL, bearer)  # same category as managedDevices
    assert throttled.status_code == 429
    retry_after = float(throttled.headers["Retry-After"])
    assert 0.1 <= retry_after <= 1.0
    assert round(retry_after * 10) == retry_after * 10  # tenths of a second
    error = throttled.json()["error"]
    assert error["code"] == "TooManyRequests"
    assert json.loads(error["message"])["_version"] == 3
    stats = partner_sim.stats()
    assert stats["budget_throttled"] == {"devices": 1, "apps": 0, "directory": 0}
    assert stats["throttled"] == 1
    time.sleep(retry_after)
    assert get(partner_sim, DEVICES_URL, bearer).status_code == 200


def test_budgets_are_per_category_and_per_app_and_tenant(partner_sim: Simulator) -> None:
    partner_sim.set_throttling(
        {"window_seconds": 5, "intune_devices_per_window": 2, "intune_apps_per_window": 2}
    )
    partner_sim.update_tenant(UNLICENSED, {"intune": {"managed_devices": {}}})
    sync = token(partner_sim, CUSTOMER)
    assert statuses(partner_sim, DEVICES_URL, sync, 3) == [200, 200, 429]
    # the apps budget is separate
    assert statuses(partner_sim, MOBILE_URL, sync, 3) == [200, 200, 429]
    # another app in the same tenant has its own budget
    other_app = token(partner_sim, CUSTOMER, DEVICES_ONLY_APP)
    assert get(partner_sim, DEVICES_URL, other_app).status_code == 200
    # the same app in another tenant too
    elsewhere = token(partner_sim, UNLICENSED)
    response = get(partner_sim, DEVICES_URL, elsewhere)
    assert response.status_code == 200
    assert response.json()["value"] == []


def test_throttling_over_https_and_disabled(partner_sim: Simulator) -> None:
    body = {"enabled": True, "window_seconds": 10, "intune_devices_per_window": 1}
    assert control(partner_sim, "PUT", "/throttling", body).status_code == 200
    bearer = token(partner_sim, CUSTOMER)
    assert statuses(partner_sim, DEVICES_URL, bearer, 2) == [200, 429]
    assert control(partner_sim, "PUT", "/throttling", {"enabled": False}).status_code == 200
    assert statuses(partner_sim, DEVICES_URL, bearer, 3) == [200, 200, 200]
    bad = control(partner_sim, "PUT", "/throttling", {"window_seconds": 0})
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("throttling.window_seconds: must be a number")


def test_faults_apply_to_the_new_endpoints(partner_sim: Simulator) -> None:
    bearer = token(partner_sim, CUSTOMER)
    partner_sim.set_faults(
        [
            {
                "match": {"path_contains": "/detectedApps", "tenant": CUSTOMER},
                "kind": "status",
                "status": 503,
                "page": 2,
            },
            {
                "match": {"path_contains": "/partnercenter/"},
                "kind": "status",
                "status": 500,
                "page": 2,
                "code": "3000",
                "message": "Partner Center is down",
            },
            {
                "match": {"path_contains": "delegatedAdmin"},
                "kind": "throttle",
                "retry_after": 2,
                "times": 1,
            },
        ]
    )
    first = get(partner_sim, DETECTED_URL, bearer)
    assert first.status_code == 200
    second = get(partner_sim, first.json()["@odata.nextLink"], bearer)
    assert second.status_code == 503
    assert second.json()["error"]["code"] == "ServiceUnavailable"
    # Partner Center: page 2 is the request that seeks with a continuation token
    pc = token(partner_sim, PARTNER, scope=PARTNER_CENTER_SCOPE)
    page1 = get(partner_sim, "/partnercenter/v1/customers?size=2", pc)
    assert page1.status_code == 200
    link = page1.json()["links"]["next"]
    headers = {h["key"]: h["value"] for h in link["headers"]}
    page2 = get(partner_sim, f"/partnercenter{link['uri']}", pc, **headers)
    assert page2.status_code == 500
    assert page2.json() == {
        "code": 3000,
        "description": "Partner Center is down",
        "data": [],
        "source": "PartnerFD",
    }
    gdap = get(
        partner_sim,
        "/v1.0/tenantRelationships/delegatedAdminCustomers",
        token(partner_sim, PARTNER),
    )
    assert gdap.status_code == 429
    assert gdap.headers["Retry-After"] == "2"
    assert gdap.json()["error"]["code"] == "TooManyRequests"


def test_update_tenant_replaces_sections(partner_sim: Simulator) -> None:
    bearer = token(partner_sim, UNLICENSED)
    assert get(partner_sim, DEVICES_URL, bearer).status_code == 400
    device = {"deviceName": "NEW-PC", "serialNumber": "XYZ"}
    body = {"intune": {"managed_devices": {DEVICES[0]: device}}}
    assert control(partner_sim, "PATCH", f"/tenants/{UNLICENSED}", body).status_code == 200
    listed = get(partner_sim, DEVICES_URL, bearer).json()["value"]
    assert [(d["id"], d["deviceName"]) for d in listed] == [(DEVICES[0], "NEW-PC")]
    partner_sim.update_tenant(UNLICENSED, {"intune": {"licensed": False}})
    assert get(partner_sim, DEVICES_URL, bearer).status_code == 400
    bad = control(
        partner_sim, "PATCH", f"/tenants/{UNLICENSED}", {"intune": {"managed_devices": {"x": {}}}}
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == "intune.managed_devices.x: not a GUID: 'x'"
    with pytest.raises(FixtureError, match="unknown key 'devices'"):
        partner_sim.update_tenant(UNLICENSED, {"devices": {}})


def test_intune_items_are_upserted_and_deleted_like_objects(partner_sim: Simulator) -> None:
    partner_sim.update_tenant(UNLICENSED, {"intune": {"managed_devices": {}}})
    bearer = token(partner_sim, UNLICENSED)
    partner_sim.upsert_object(UNLICENSED, "managed_devices", {"id": DEVICES[0], "deviceName": "A"})
    path = f"/tenants/{UNLICENSED}/objects"
    response = control(partner_sim, "PUT", f"{path}/managed_devices", {"id": DEVICES[1]})
    assert response.status_code == 200
    app = {"id": "app1", "displayName": "Edge", "version": "120.0"}
    assert control(partner_sim, "PUT", f"{path}/detected_apps", app).status_code == 200
    listed = get(partner_sim, DEVICES_URL, bearer).json()["value"]
    assert [(d["id"], d["deviceName"]) for d in listed] == [(DEVICES[0], "A"), (DEVICES[1], "")]
    assert get(partner_sim, DETECTED_URL, bearer).json()["value"][0]["version"] == "120.0"
    partner_sim.upsert_object(UNLICENSED, "managed_devices", {"id": DEVICES[0], "model": "X"})
    assert control(partner_sim, "DELETE", f"{path}/managed_devices/{DEVICES[1]}").ok
    listed = get(partner_sim, DEVICES_URL, bearer).json()["value"]
    assert [(d["id"], d["deviceName"], d["model"]) for d in listed] == [(DEVICES[0], "", "X")]
    missing = control(partner_sim, "DELETE", f"{path}/managed_devices/{DEVICES[1]}")
    assert missing.status_code == 400
    with pytest.raises(FixtureError, match="has no intune section"):
        partner_sim.delete_object(PARTNER, "managed_devices", DEVICES[0])


def _broken(change: str) -> dict[str, Any]:
    fixture = copy.deepcopy(build_partner_fixture())
    customer = fixture["tenants"][CUSTOMER]
    partner = fixture["tenants"][PARTNER]
    if change == "device-type":
        customer["intune"]["managed_devices"][DEVICES[0]]["isEncrypted"] = "yes"
    elif change == "device-property":
        customer["intune"]["managed_devices"][DEVICES[0]]["ownerType"] = "company"
    elif change == "mobile-type":
        next(iter(customer["intune"]["mobile_apps"].values())).pop("@odata.type")
    elif change == "gdap-status":
        partner["gdap"]["relationships"][0]["status"] = "ACTIVE"
    elif change == "pc-app":
        partner["partner_center"]["app_access"] = ["12345678-1234-4234-8234-123456789012"]
    elif change == "two-defaults":
        customer["organization"]["verifiedDomains"][1]["isDefault"] = True
    elif change == "multitenant":
        fixture["applications"][DEVICES_ONLY_APP]["multitenant"] = "yes"
    elif change == "throttling":
        fixture["throttling"] = {"intune_apps_per_window": 0}
    return fixture


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            "device-type",
            f"tenants.{CUSTOMER}.intune.managed_devices.{DEVICES[0]}.isEncrypted: must be a bool",
        ),
        (
            "device-property",
            f"tenants.{CUSTOMER}.intune.managed_devices.{DEVICES[0]}: unknown property 'ownerType'",
        ),
        ("mobile-type", f"tenants.{CUSTOMER}.intune.mobile_apps."),
        ("gdap-status", f"tenants.{PARTNER}.gdap.relationships[0].status: must be one of"),
        ("pc-app", f"tenants.{PARTNER}.partner_center.app_access[0]: unknown application"),
        (
            "two-defaults",
            f"tenants.{CUSTOMER}.organization.verifiedDomains: exactly one domain must have",
        ),
        ("multitenant", f"applications.{DEVICES_ONLY_APP}.multitenant: must be true or false"),
        ("throttling", "throttling.intune_apps_per_window: must be an integer from 1"),
    ],
)
def test_invalid_sections_name_the_path(change: str, message: str) -> None:
    with pytest.raises(FixtureError) as raised:
        Simulator(_broken(change))
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_fixture_throttling_defaults_and_overrides() -> None:
    fixture = build_partner_fixture()
    assert Simulator(fixture).state.world.throttling.devices_per_window == 2000
    fixture["throttling"] = {"window_seconds": 1, "intune_apps_per_window": 5}
    config = Simulator(fixture).state.world.throttling
    assert (config.enabled, config.window_seconds) == (True, 1.0)
    assert (config.devices_per_window, config.apps_per_window) == (2000, 5)
