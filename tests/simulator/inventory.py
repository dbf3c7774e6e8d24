"""A customer tenant whose Intune section says which apps each device has, with details."""

from __future__ import annotations

import copy
from typing import Any

from .partners import CUSTOMER, build_partner_fixture

APPS = [f"a{n:031x}" for n in range(1, 6)]  # 32-hex ids, as real detected apps have
DEVICES = [f"d1000000-0000-4000-8000-{n:012d}" for n in range(1, 6)]
# Which apps each device has: app 0 on every device, app 4 on none.
LINKS = {
    DEVICES[0]: [APPS[0], APPS[1], APPS[2]],
    DEVICES[1]: [APPS[0], APPS[1]],
    DEVICES[2]: [APPS[0]],
    DEVICES[3]: [APPS[3], APPS[0]],
    DEVICES[4]: [APPS[0], APPS[2]],
}
DETAILS = {
    "physicalMemoryInBytes": 17_179_869_184,
    "ethernetMacAddress": "00155D0000AA",
    "iccid": "8901260000000000001",
    "udid": "00008030-000A1B2C3D4E5F60",
    "notes": "Reception desk",
    "activationLockBypassCode": "ABCD-EFGH",
    "remoteAssistanceSessionUrl": "https://assist.example/session/1",
    "enrollmentProfileName": "Autopilot corporate",
}


def device(n: int) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "deviceName": f"DESK-{n:03d}",
        "serialNumber": f"SER{n:04d}",
        "manufacturer": "Dell Inc.",
        "model": "OptiPlex 7090",
        "operatingSystem": "Windows",
        "osVersion": "10.0.22631.3447",
        "userId": f"u0000000-0000-4000-8000-{n:012d}",
        "emailAddress": f"user{n}@contoso.example",
        "userDisplayName": f"User {n}",
        "detected_apps": list(LINKS[DEVICES[n - 1]]),
    }
    if n == 1:
        entry.update(DETAILS)
        entry["report_columns"] = {
            "ProcessorArchitecture": "x64",
            "TPMManufacturerId": "1229346816",
            "OSDescription": "Windows 11 Enterprise",
        }
    return entry


def build_inventory_fixture() -> dict[str, Any]:
    """The partner fixture, with Contoso's Intune replaced by the inventory above. App 1
    states its deviceCount (99, whatever the links say); the others derive it."""
    fixture = copy.deepcopy(build_partner_fixture())
    detected: dict[str, Any] = {
        app: {
            "displayName": f"Tool {n}",
            "version": f"{n}.0.1",
            "publisher": "Contoso Tools",
            "platform": "windows",
        }
        for n, app in enumerate(APPS, start=1)
    }
    detected[APPS[1]]["deviceCount"] = 99
    fixture["tenants"][CUSTOMER]["intune"] = {
        "managed_devices": {d: device(n) for n, d in enumerate(DEVICES, start=1)},
        "detected_apps": detected,
    }
    return fixture


def devices_of(app: str) -> list[str]:
    """The fixture's devices that have `app`, in fixture order."""
    return [d for d in DEVICES if app in LINKS[d]]
