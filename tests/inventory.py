"""A customer tenant whose devices have software (fixture links) and hardware details, for
the inventory tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from functions.core.sensitive import SecretValue
from tests.conftest import Harness
from tests.world import Partner, World

# What a single read of device 0 gives beyond the list (the list leaves these empty).
DETAILS: dict[str, Any] = {
    "physicalMemoryInBytes": 17_179_869_184, "ethernetMacAddress": "00155D0000AA",
    "iccid": "8901260000000000001", "udid": "00008030-000A1B2C3D4E5F60",
    "enrollmentProfileName": "Autopilot corporate",
    "deviceHealthAttestationState": {"tpmVersion": "2.0", "bitLockerStatus": "on"},
    "activationLockBypassCode": "NEVER-READ-ME",
}
REPORT_COLUMNS = {"ProcessorArchitecture": "x64", "TPMManufacturerId": "1229346816",
                  "TPMManufacturerVersion": "7.2.1.0", "SystemManagementBIOSVersion": "1.14.0"}


@dataclass
class Estate:
    """One customer: its device ids and app ids (fixture order) and which apps each device
    has (device i has apps 0..i, up to the number of apps)."""

    partner: Partner
    tenant: str
    devices: list[str]
    apps: list[str]
    links: dict[str, list[str]] = field(default_factory=dict)

    @property
    def intune(self) -> dict[str, Any]:
        return self.partner.customers[self.tenant]["intune"]

    def device(self, n: int) -> dict[str, Any]:
        return dict(self.intune["managed_devices"][self.devices[n]])

    def devices_of(self, app: str) -> set[str]:
        return {d for d, apps in self.links.items() if app in apps}


def estate(partner: Partner, name: str = "Inventory", *, devices: int = 4, apps: int = 5,
           roles: list[str] | None = None) -> Estate:
    """A customer whose device i has apps 0..i; device 0 has every detail and the export
    columns."""
    tenant = partner.customer(name, devices=devices, detected=apps, mobile=1, roles=roles)
    intune = partner.customers[tenant]["intune"]
    device_ids, app_ids = list(intune["managed_devices"]), list(intune["detected_apps"])
    found = Estate(partner, tenant, device_ids, app_ids)
    for n, device_id in enumerate(device_ids):
        entry = intune["managed_devices"][device_id]
        entry["detected_apps"] = app_ids[:n + 1]
        found.links[device_id] = app_ids[:n + 1]
        if n == 0:
            entry.update(DETAILS)
            entry["report_columns"] = dict(REPORT_COLUMNS)
    for app in intune["detected_apps"].values():
        app.pop("deviceCount", None)  # derived from the links
    return found


def connect(harness: Harness, partner: Partner) -> None:
    harness.services.partners.add(
        partner.id, partner.partner_app, SecretValue(partner.partner_secret),
        partner.inventory_app, SecretValue(partner.inventory_secret), source="list",
        customers=list(partner.customers))
    harness.services.partners.discover(partner.id)


def started(harness: Harness, world: World, **kwargs: Any) -> Estate:
    """One customer as ``estate`` builds it, the simulator started and the partner
    connected."""
    partner = Partner(world)
    found = estate(partner, **kwargs)
    harness.start()
    connect(harness, partner)
    return found
