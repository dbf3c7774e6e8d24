"""The fleet benchmark's world: many directory tenants and two partners' device tenants of
sizes drawn from a fixed seed, and how they are onboarded on a local stack. Half of each
sign in with a client secret, half federated through the function app's managed identity."""

from __future__ import annotations

import json
import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DIRECTORY_ROLES = ["GroupMember.Read.All", "User.Read.All"]
PARTNER_ROLES = ["DelegatedAdminRelationship.Read.All"]
DEPLOYMENT_DIRECTORY_ROLES = [*DIRECTORY_ROLES, "Organization.Read.All"]
INVENTORY_ROLES = ["Organization.Read.All", "DeviceManagementManagedDevices.Read.All",
                   "DeviceManagementApps.Read.All"]
DETECTED_APPS, APPS_A_DEVICE, MOBILE_APPS = 40, 4, 3
GROUP_SIZE = 250  # users in each level-1 group of a tenant big enough to have them


@dataclass
class Fleet:
    """The fixture and what the benchmark needs to onboard and check it."""

    fixture: dict[str, Any]
    # tenant -> (app, secret or "" for federated, level-0 group, users)
    directory: dict[str, tuple[str, str, str, int]] = field(default_factory=dict)
    devices: dict[str, int] = field(default_factory=dict)  # tenant -> managed devices
    # Each partner: tenant, app, inventory_app, and salt ("" for a federated one).
    partners: list[dict[str, str]] = field(default_factory=list)
    secret_devices: set[str] = field(default_factory=set)  # device tenants read with a secret


def directory_size(rng: random.Random, n: int) -> int:
    """20-500 users, log-uniform; one tenant in 50 is large (1,500-2,000)."""
    if n % 50 == 49:
        return rng.randint(1500, 2000)
    return int(20 * 25 ** rng.random())


def device_size(rng: random.Random, n: int) -> int:
    """50-400 devices, log-uniform; one tenant in 20 is large (800-1,000)."""
    if n % 20 == 19:
        return rng.randint(800, 1000)
    return int(50 * 8 ** rng.random())


def build(directory_tenants: int, device_tenants: int, seed: int = 21) -> Fleet:
    rng = random.Random(seed)

    def new() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    home, operator, identity, principal = new(), new(), new(), new()
    salt = uuid.UUID(int=rng.getrandbits(128)).hex
    federated = {"name": "function-app-identity",
                 "issuer": f"https://login.microsoftonline.com/{home}/v2.0",
                 "subject": principal, "audiences": ["api://AzureADTokenExchange"]}

    def secret_app(name: str, tenant: str, value: str, **more: Any) -> dict[str, Any]:
        return {"home_tenant": tenant, "display_name": name, **more,
                "secrets": [{"id": new(), "value": value, "expires": "2099-01-01T00:00:00Z"}]}

    deployment_app = new()
    fixture: dict[str, Any] = {
        "applications": {
            operator: secret_app("operator", home, f"op-{salt}"),
            # The deployment's own directory app, trusted through the managed identity.
            deployment_app: {"home_tenant": home, "display_name": "tenantsync directory",
                             "multitenant": True, "federated_credentials": [federated],
                             "required_roles": DEPLOYMENT_DIRECTORY_ROLES, "certificates": []},
        },
        "managed_identities": {identity: {"principal_id": principal, "home_tenant": home}},
        "tenants": {home: {"display_name": "Operator", "users": {}, "groups": {},
                           "devices": {}, "contacts": {},
                           "service_principals": {operator: {"roles": []}, deployment_app: {
                               "roles": DEPLOYMENT_DIRECTORY_ROLES}}}},
        "key_vault": {"principals": [operator], "secrets": {}},
        "throttling": {"enabled": True, "window_seconds": 20,
                       "intune_devices_per_window": 2000, "intune_apps_per_window": 1000},
    }
    fleet = Fleet(fixture)
    for n in range(directory_tenants):
        tenant, users = new(), directory_size(rng, n)
        if n % 2:  # every other tenant signs in through the managed identity (federated)
            app, secret, roles = deployment_app, "", DEPLOYMENT_DIRECTORY_ROLES
        else:
            app, secret, roles = new(), f"d{n}-{salt}", DIRECTORY_ROLES
            fixture["applications"][app] = secret_app(f"directory {n}", tenant, secret)
        level0, data = _directory_tenant(new, n, users)
        data["service_principals"] = {app: {"roles": list(roles)}}
        fixture["tenants"][tenant] = data
        fleet.directory[tenant] = (app, secret, level0, users)
    if device_tenants:
        secret_partner = _secret_partner(fleet, new, salt, secret_app)
        federated_partner = _federated_partner(fleet, new, home, federated)
        for t in range(device_tenants):
            partner = secret_partner if t % 2 == 0 else federated_partner
            tenant = _device_tenant(fleet, new, rng, t, partner)
            if partner is secret_partner:
                fleet.secret_devices.add(tenant)
    return fleet


def _directory_tenant(new: Any, n: int, users: int) -> tuple[str, dict[str, Any]]:
    ids = [new() for _ in range(users)]
    objs = {uid: {"displayName": f"User {n}-{i}", "accountEnabled": True,
                  "mail": None if i % 17 == 0 else f"u{i}@t{n}.example",
                  "userPrincipalName": f"u{i}@t{n}.onmicrosoft.com"} for i, uid in enumerate(ids)}
    groups: dict[str, Any] = {}
    direct = ids if users <= 2 * GROUP_SIZE else ids[:users // 2]
    members: list[str] = list(direct)
    for g in range(len(direct), users, GROUP_SIZE):
        gid = new()
        groups[gid] = {"displayName": f"Team {g}", "members": ids[g:g + GROUP_SIZE]}
        members.append(gid)
    level0 = new()
    groups[level0] = {"displayName": "TinyMDM", "members": members}
    return level0, {"display_name": f"Directory {n:04d}", "users": objs, "groups": groups,
                    "devices": {}, "contacts": {}}


def _partner(fleet: Fleet, partner: str, apps: tuple[str, str], salt: str) -> dict[str, str]:
    """A partner tenant's GDAP section and its two apps' service principals."""
    partner_app, inventory_app = apps
    tenant = fleet.fixture["tenants"].setdefault(partner, {
        "display_name": "MSP", "users": {}, "groups": {}, "devices": {}, "contacts": {},
        "service_principals": {}})
    tenant["gdap"] = {"customers": [], "relationships": []}
    tenant["service_principals"].update({partner_app: {"roles": PARTNER_ROLES},
                                         inventory_app: {"roles": INVENTORY_ROLES}})
    entry = {"tenant": partner, "app": partner_app, "inventory_app": inventory_app,
             "salt": salt}
    fleet.partners.append(entry)
    return entry


def _secret_partner(fleet: Fleet, new: Any, salt: str, secret_app: Any) -> dict[str, str]:
    partner, partner_app, inventory_app = new(), new(), new()
    apps = fleet.fixture["applications"]
    apps[partner_app] = secret_app("partner app", partner, f"p-{salt}")
    apps[inventory_app] = secret_app("inventory app", partner, f"i-{salt}", multitenant=True)
    return _partner(fleet, partner, (partner_app, inventory_app), salt)


def _federated_partner(fleet: Fleet, new: Any, home: str, federated: dict[str, Any]
                       ) -> dict[str, str]:
    """The deployment's own partner and inventory apps, in the identity's home tenant,
    trusting the managed identity (as infra/app-registrations.bicep sets them up)."""
    partner_app, inventory_app = new(), new()
    for app, name, roles, multitenant in (
            (partner_app, "tenantsync partner", PARTNER_ROLES, False),
            (inventory_app, "tenantsync inventory", INVENTORY_ROLES, True)):
        fleet.fixture["applications"][app] = {
            "home_tenant": home, "display_name": name, "multitenant": multitenant,
            "federated_credentials": [dict(federated)], "required_roles": roles,
            "certificates": []}
    return _partner(fleet, home, (partner_app, inventory_app), "")


def _device_tenant(fleet: Fleet, new: Any, rng: random.Random, t: int,
                   partner: dict[str, str]) -> str:
    tid, devices = new(), device_size(rng, t)
    apps = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(DETECTED_APPS)]
    managed = {new(): _device(t, d, rng.sample(apps, APPS_A_DEVICE), new)
               for d in range(devices)}
    fleet.fixture["tenants"][tid] = {
        "display_name": f"Customer {t:03d}", "users": {}, "groups": {}, "devices": {},
        "contacts": {},
        "service_principals": {partner["inventory_app"]: {"roles": INVENTORY_ROLES}},
        "intune": {"licensed": True, "managed_devices": managed,
                   "detected_apps": {a: {"displayName": f"App {i}", "version": "1.0",
                                         "publisher": "Fabrikam", "platform": "windows",
                                         "sizeInByte": 1000} for i, a in enumerate(apps)},
                   "mobile_apps": {new(): {"@odata.type": "#microsoft.graph.win32LobApp",
                                           "displayName": f"Mobile {m}", "publisher": "Fabrikam"}
                                   for m in range(MOBILE_APPS)}}}
    gdap = fleet.fixture["tenants"][partner["tenant"]]["gdap"]
    gdap["relationships"].append({
        "id": f"{new()}-{new()}", "displayName": f"GDAP {t}", "status": "active",
        "customer": {"tenantId": tid, "displayName": f"Customer {t:03d}"},
        "endDateTime": "2030-06-01T00:00:00Z"})
    gdap["customers"].append({"id": tid, "tenantId": tid, "displayName": f"Customer {t:03d}"})
    fleet.devices[tid] = devices
    return tid


def _device(t: int, d: int, apps: list[str], new: Any) -> dict[str, Any]:
    return {"deviceName": f"T{t:03d}-PC{d:05d}", "serialNumber": f"SN{t:03d}{d:05d}",
            "manufacturer": "Contoso", "model": "Laptop 9", "operatingSystem": "Windows",
            "osVersion": "10.0.22631", "managedDeviceOwnerType": "company",
            "enrolledDateTime": "2026-01-05T10:00:00Z",
            "lastSyncDateTime": "2026-11-20T08:00:00Z", "complianceState": "compliant",
            "managementAgent": "mdm", "azureADDeviceId": new(), "userId": new(),
            "userPrincipalName": f"user{d}@t{t}.example", "userDisplayName": f"User {d}",
            "totalStorageSpaceInBytes": 256_000_000_000,
            "freeStorageSpaceInBytes": 100_000_000_000, "isEncrypted": True,
            "physicalMemoryInBytes": 17_179_869_184, "detected_apps": apps}


def write_fixture(fleet: Fleet, directory: Path) -> Path:
    path = directory / "fleet-fixture.json"
    path.write_text(json.dumps(fleet.fixture))
    return path


def onboard(services: Any, fleet: Fleet, threads: int = 8) -> list[str]:
    """Onboard every directory tenant (connection test, credential to Key Vault, tenant row)
    and the partners, then discover their customers; returns the errors met."""
    from functions.clients.credentials import CredentialInput
    from functions.core.sensitive import SecretValue

    def add(item: tuple[str, tuple[str, str, str, int]]) -> str:
        tenant, (app, secret, level0, _) = item
        credential = SecretValue(secret) if secret else CredentialInput.of("federated")
        try:
            services.onboarding.add_directory_tenant(tenant, app, credential, level0)
        except Exception as exc:  # reported; the bench counts the tenant as missed
            return f"{tenant}: {exc}"
        return ""

    with ThreadPoolExecutor(threads) as pool:
        errors = [e for e in pool.map(add, fleet.directory.items()) if e]
    for p in fleet.partners:
        partner: SecretValue | CredentialInput = (
            SecretValue("p-" + p["salt"]) if p["salt"] else CredentialInput.of("federated"))
        inventory: SecretValue | CredentialInput = (
            SecretValue("i-" + p["salt"]) if p["salt"] else CredentialInput.of("federated"))
        services.partners.add(p["tenant"], p["app"], partner, p["inventory_app"], inventory,
                              source="gdap")
        services.partners.discover(p["tenant"])
    return errors
