"""Simulator fixtures for the device benchmarks: a partner (MSP) and its customers, each
with managed devices that have detected apps (links) and hardware details."""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass
from typing import Any

DEVICE_PAGE, DETECTED_PAGE, MOBILE_PAGE, BATCH = 1000, 50, 100, 20
MOBILE_APPS = 20
ROLES = ["Organization.Read.All", "DeviceManagementManagedDevices.Read.All",
         "DeviceManagementApps.Read.All"]


@dataclass(frozen=True)
class Minimum:
    """What one tenant's first read needs at least, on the read-only path."""

    pages: int  # organization and listing pages
    app_reads: int  # one per detected app (each on at most 1,000 devices)
    detail_reads: int  # one per device
    chain: int  # the longest run of requests that wait for each other (listing pages + 1)

    @property
    def subrequests(self) -> int:
        return self.app_reads + self.detail_reads

    @property
    def http(self) -> int:
        """HTTP round trips: pages, and the single reads 20 to a $batch."""
        return (self.pages + math.ceil(self.app_reads / BATCH)
                + math.ceil(self.detail_reads / BATCH))

    @property
    def budgeted(self) -> int:
        """Requests Intune counts against the devices budget (every batched one too)."""
        return self.pages - 2 + self.subrequests  # all but organization and mobileApps

    @classmethod
    def of(cls, devices: int, apps: int, *, details: bool = True) -> Minimum:
        device_pages = max(1, math.ceil(devices / DEVICE_PAGE))
        app_pages = max(1, math.ceil(apps / DETECTED_PAGE))
        pages = 1 + device_pages + app_pages + max(1, math.ceil(MOBILE_APPS / MOBILE_PAGE))
        return cls(pages, apps, devices if details else 0, max(device_pages, app_pages) + 1)


def budget_seconds(budgeted: int, budget: int = 2000, window: float = 20.0) -> float:
    """The time Intune's budget forces on one tenant's requests: a window's worth of
    requests goes at once, each further one waits for a window to pass."""
    return (math.ceil(budgeted / budget) - 1) * window if budgeted else 0.0


def build(tenants: int, devices: int, apps: int, per_device: int, seed: int = 11
          ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fixture and the facts the benchmark needs about it (ids, secrets, links)."""
    rng = random.Random(seed)

    def new() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    partner, partner_app, inventory_app, operator = new(), new(), new(), new()
    secret = uuid.UUID(int=rng.getrandbits(128)).hex

    def app(name: str, home: str, **more: Any) -> dict[str, Any]:
        return {"home_tenant": home, "display_name": name, **more,
                "secrets": [{"id": new(), "value": f"{name[0]}-{secret}",
                             "expires": "2099-01-01T00:00:00Z"}]}

    fx: dict[str, Any] = {
        "applications": {partner_app: app("partner app", partner),
                         inventory_app: app("inventory app", partner, multitenant=True),
                         operator: app("operator", partner)},
        "tenants": {partner: {
            "display_name": "MSP", "users": {}, "groups": {}, "devices": {}, "contacts": {},
            "service_principals": {
                partner_app: {"roles": ["DelegatedAdminRelationship.Read.All"]},
                inventory_app: {"roles": ROLES}, operator: {"roles": []}},
            "gdap": {"customers": [], "relationships": []},
        }},
        "key_vault": {"principals": [operator], "secrets": {}},
        "throttling": {"enabled": True, "window_seconds": 20,
                       "intune_devices_per_window": 2000, "intune_apps_per_window": 1000},
    }
    customers, links = [], 0
    for t in range(tenants):
        tid = new()
        customers.append(tid)
        app_ids = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(apps)]
        managed = {}
        for d in range(devices):
            did = new()
            on = rng.sample(app_ids, min(per_device, apps))
            links += len(on)
            managed[did] = {
                "deviceName": f"T{t:03d}-PC{d:05d}", "serialNumber": f"SN{t:03d}{d:05d}",
                "manufacturer": "Contoso", "model": "Laptop 9", "operatingSystem": "Windows",
                "osVersion": "10.0.22631", "managedDeviceOwnerType": "company",
                "enrolledDateTime": "2026-01-05T10:00:00Z",
                "lastSyncDateTime": "2026-11-20T08:00:00Z",
                "complianceState": "compliant", "managementAgent": "mdm",
                "azureADDeviceId": new(), "userId": new(),
                "userPrincipalName": f"user{d}@t{t}.example",
                "emailAddress": f"user{d}@t{t}.example", "userDisplayName": f"User {d}",
                "wiFiMacAddress": f"{d:012X}", "totalStorageSpaceInBytes": 256_000_000_000,
                "freeStorageSpaceInBytes": 100_000_000_000, "isEncrypted": True,
                "physicalMemoryInBytes": 17_179_869_184, "ethernetMacAddress": f"E{d:011X}",
                "udid": f"UDID-{d:08d}", "enrollmentProfileName": "Autopilot",
                "detected_apps": on,
            }
        detected = {a: {"displayName": f"App {n:04d}", "version": f"{n % 7}.0",
                        "publisher": "Fabrikam", "platform": "windows", "sizeInByte": 1000}
                    for n, a in enumerate(app_ids)}
        mobile = {}
        for m in range(MOBILE_APPS):
            mid = new()
            mobile[mid] = {"@odata.type": "#microsoft.graph.win32LobApp",
                           "displayName": f"Mobile {m}", "publisher": "Fabrikam"}
        fx["tenants"][tid] = {
            "display_name": f"Customer {t:03d}", "users": {}, "groups": {}, "devices": {},
            "contacts": {}, "service_principals": {inventory_app: {"roles": ROLES}},
            "intune": {"licensed": True, "managed_devices": managed,
                       "detected_apps": detected, "mobile_apps": mobile},
        }
        gdap = fx["tenants"][partner]["gdap"]
        gdap["relationships"].append({
            "id": f"{new()}-{new()}", "displayName": f"GDAP {t}", "status": "active",
            "customer": {"tenantId": tid, "displayName": f"Customer {t:03d}"},
            "endDateTime": "2030-06-01T00:00:00Z"})
        gdap["customers"].append({"id": tid, "tenantId": tid,
                                  "displayName": f"Customer {t:03d}"})
    facts = {"partner": partner, "partner_app": partner_app, "inventory_app": inventory_app,
             "secret": secret, "customers": customers, "links": links}
    return fx, facts


def links_of(fixture: dict[str, Any], tenant: str) -> dict[str, tuple[str, ...]]:
    """Each device of a tenant and the detected apps on it (sorted), as the fixture says."""
    devices = fixture["tenants"][tenant]["intune"]["managed_devices"]
    return {d: tuple(sorted(entry["detected_apps"])) for d, entry in devices.items()}
