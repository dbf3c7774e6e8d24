"""Builds simulator fixtures for tests: tenants, apps, users and groups with readable names."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from typing import Any

DIRECTORY_ROLES = ["GroupMember.Read.All", "User.Read.All"]


def new_id() -> str:
    return str(uuid.uuid4())


class World:
    """One operator identity (for Key Vault) and any number of tenants with a directory app."""

    def __init__(self) -> None:
        self.home = new_id()
        self.operator_id = new_id()
        self.operator_secret = f"op-{uuid.uuid4().hex}"
        self.fixture: dict[str, Any] = {
            "applications": {
                self.operator_id: {
                    "home_tenant": self.home, "display_name": "operator",
                    "secrets": [{"id": new_id(), "value": self.operator_secret,
                                 "expires": "2099-01-01T00:00:00Z"}],
                }
            },
            "tenants": {self.home: _tenant("Operator home")},
            "key_vault": {"principals": [self.operator_id], "secrets": {}},
        }
        self.fixture["tenants"][self.home]["service_principals"][self.operator_id] = {"roles": []}

    @property
    def operator(self) -> dict[str, str]:
        return {"tenant_id": self.home, "client_id": self.operator_id,
                "secret": self.operator_secret}

    def tenant(self, name: str = "Contoso", *, roles: list[str] | None = None,
               secret_expires: str = "2099-01-01T00:00:00Z") -> Tenant:
        return Tenant(self, name, DIRECTORY_ROLES if roles is None else roles, secret_expires)

    def build(self) -> dict[str, Any]:
        return copy.deepcopy(self.fixture)


def _tenant(name: str) -> dict[str, Any]:
    return {"display_name": name, "service_principals": {}, "users": {}, "groups": {},
            "devices": {}, "contacts": {}}


class Tenant:
    """A tenant with a single-tenant directory app and a level-0 group."""

    def __init__(self, world: World, name: str, roles: list[str], secret_expires: str) -> None:
        self.world = world
        self.id = new_id()
        self.app_id = new_id()
        self.secret = f"val~{uuid.uuid4().hex}"
        self.secret_id = new_id()
        world.fixture["tenants"][self.id] = _tenant(name)
        self.data = world.fixture["tenants"][self.id]
        world.fixture["applications"][self.app_id] = {
            "home_tenant": self.id, "display_name": f"{name} directory app",
            "secrets": [{"id": self.secret_id, "value": self.secret, "expires": secret_expires}],
        }
        self.data["service_principals"][self.app_id] = {"roles": list(roles)}
        self.names: dict[str, str] = {}
        self.level0 = self.group("TinyMDM")

    def user(self, name: str, mail: str | None = "", upn: str | None = None) -> str:
        uid = new_id()
        slug = name.lower().replace(" ", ".")
        self.data["users"][uid] = {
            "displayName": name,
            "mail": f"{slug}@contoso.example" if mail == "" else mail,
            "userPrincipalName": upn or f"{slug}@contoso.onmicrosoft.com",
            "accountEnabled": True,
        }
        self.names[uid] = name
        return uid

    def group(self, name: str, *members: str) -> str:
        gid = new_id()
        self.data["groups"][gid] = {"displayName": name, "members": list(members)}
        self.names[gid] = name
        return gid

    def device(self, name: str) -> str:
        did = new_id()
        self.data["devices"][did] = {"displayName": name}
        return did

    def contact(self, name: str) -> str:
        cid = new_id()
        self.data["contacts"][cid] = {"displayName": name}
        return cid

    def add(self, group_id: str, *members: str) -> None:
        self.data["groups"][group_id]["members"].extend(members)


def seed_example(world: World) -> tuple[Tenant, dict[str, str]]:
    """The seed's example: TinyMDM holds Tom Smith, John Doe and Management (Jane Doe,
    Richard Roe, and DG whose member must be ignored), plus a user without mail."""
    t = world.tenant()
    ids = {
        "tom": t.user("Tom Smith"),
        "john": t.user("John Doe"),
        "jane": t.user("Jane Doe"),
        "richard": t.user("Richard Roe"),
        "alex": t.user("Alex Anonymous", mail=None),
        "dana": t.user("Dana Director"),
    }
    ids["dg"] = t.group("DG", ids["dana"])
    ids["management"] = t.group("Management", ids["jane"], ids["richard"], ids["dg"])
    t.add(t.level0, ids["tom"], ids["john"], ids["management"], ids["alex"])
    return t, ids


INVENTORY_ROLES = ["Organization.Read.All", "DeviceManagementManagedDevices.Read.All",
                   "DeviceManagementApps.Read.All"]
PARTNER_ROLES = ["DelegatedAdminRelationship.Read.All"]


class Partner:
    """A partner tenant with its partner app and its multitenant inventory app."""

    def __init__(self, world: World, name: str = "Partner MSP") -> None:
        self.world = world
        home = world.tenant(name, roles=PARTNER_ROLES)
        self.id, self.data = home.id, home.data
        self.partner_app, self.partner_secret = home.app_id, home.secret
        self.inventory_app = new_id()
        self.inventory_secret = f"inv~{uuid.uuid4().hex}"
        self.inventory_secret_id = new_id()
        world.fixture["applications"][self.inventory_app] = {
            "home_tenant": self.id, "display_name": "Inventory", "multitenant": True,
            "secrets": [{"id": self.inventory_secret_id, "value": self.inventory_secret,
                         "expires": "2099-01-01T00:00:00Z"}],
        }
        self.data["service_principals"][self.inventory_app] = {"roles": list(INVENTORY_ROLES)}
        self.data["gdap"] = {"customers": [], "relationships": []}
        self.data["partner_center"] = {"customers": [], "app_access": [self.partner_app]}
        self.customers: dict[str, dict[str, Any]] = {}

    def customer(
        self, name: str, *, devices: int = 3, detected: int = 4, mobile: int = 2,
        licensed: bool = True, consented: bool = True, gdap_status: str = "active",
        relationship: str = "reseller", roles: list[str] | None = None,
    ) -> str:
        tenant = _tenant(name)
        tid = new_id()
        self.world.fixture["tenants"][tid] = tenant
        if consented:
            tenant["service_principals"][self.inventory_app] = {
                "roles": list(INVENTORY_ROLES if roles is None else roles)}
        slug = name.lower().replace(" ", "")
        tenant["organization"] = {"displayName": f"{name} Ltd", "verifiedDomains": [
            {"name": f"{slug}.onmicrosoft.com", "isDefault": False, "isInitial": True},
            {"name": f"{slug}.example", "isDefault": True, "isInitial": False}]}
        if licensed:
            tenant["intune"] = {
                "licensed": True,
                "managed_devices": {d["id"]: d for d in
                                    (device(f"{name}-PC{i:03d}", i) for i in range(devices))},
                "detected_apps": {a["id"]: a for a in
                                  (detected_app(f"App {i:03d}", i) for i in range(detected))},
                "mobile_apps": {m["id"]: m for m in
                                (mobile_app(f"Mobile {i:02d}", i) for i in range(mobile))},
            }
        self.data["gdap"]["relationships"].append({
            "id": f"{new_id()}-{new_id()}", "displayName": f"GDAP {name}", "status": gdap_status,
            "customer": {"tenantId": tid, "displayName": name},
            "endDateTime": "2030-06-01T00:00:00Z"})
        self.data["gdap"]["customers"].append({"id": tid, "tenantId": tid, "displayName": name})
        self.data["partner_center"]["customers"].append({
            "id": tid, "companyProfile": {"tenantId": tid, "domain": f"{slug}.example",
                                          "companyName": name},
            "relationshipToPartner": relationship})
        self.customers[tid] = tenant
        return tid


@dataclass
class DirectorySide:
    """A customer tenant's own directory app and level-0 group, beside its Intune data."""

    app: str
    secret: str
    group: str
    leaver: str  # a member whose device is ZETA-0
    stayer: str  # a member whose device is ZETA-1


def directory_side(partner: Partner, tid: str, *, ownerless_device: bool = False
                   ) -> DirectorySide:
    """Give a customer a directory app, a level-0 group of two users, and a device of each
    (plus one without a user if asked)."""
    customer = partner.customers[tid]
    side = DirectorySide(new_id(), "dir~" + new_id(), new_id(), new_id(), new_id())
    partner.world.fixture["applications"][side.app] = {
        "home_tenant": tid, "display_name": "Directory",
        "secrets": [{"id": new_id(), "value": side.secret, "expires": "2099-01-01T00:00:00Z"}]}
    customer["service_principals"][side.app] = {"roles": list(DIRECTORY_ROLES)}
    for uid, name in ((side.leaver, "Lee Leaver"), (side.stayer, "Sam Stayer")):
        customer["users"][uid] = {"displayName": name, "mail": f"{uid[:8]}@z.example",
                                  "userPrincipalName": f"{uid[:8]}@z.onmicrosoft.com"}
    customer["groups"][side.group] = {"displayName": "TinyMDM",
                                      "members": [side.leaver, side.stayer]}
    owners: list[str | None] = [side.leaver, side.stayer, *([None] if ownerless_device else [])]
    for i, uid in enumerate(owners):
        d = device(f"ZETA-{i}", i, **({"userId": uid} if uid else {}))
        customer["intune"]["managed_devices"][d["id"]] = d
    return side


def device(name: str, i: int, **overrides: Any) -> dict[str, Any]:
    base = {
        "id": new_id(), "deviceName": name, "serialNumber": f" sn{i:06d}x ",
        "manufacturer": "Contoso", "model": "Laptop 9", "operatingSystem": "Windows",
        "osVersion": "10.0.22631", "managedDeviceOwnerType": "company",
        "enrolledDateTime": "2026-01-05T10:00:00Z", "lastSyncDateTime": "2026-11-20T08:00:00Z",
        "complianceState": "compliant" if i % 3 else "noncompliant",
        "managementAgent": "mdm", "azureADDeviceId": new_id(), "userId": new_id(),
        "userPrincipalName": f"user{i}@customer.example", "emailAddress": f"user{i}@c.example",
        "userDisplayName": f"User {i}", "imei": "", "meid": "", "wiFiMacAddress": "A0B1C2D3E4F5",
        "ethernetMacAddress": "", "totalStorageSpaceInBytes": 256_000_000_000,
        "freeStorageSpaceInBytes": 100_000_000_000, "isEncrypted": True,
    }
    base.update(overrides)
    return base


def detected_app(name: str, i: int) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex + uuid.uuid4().hex[:12], "displayName": name,
            "version": f"1.{i}.0", "publisher": "Fabrikam", "platform": "windows",
            "deviceCount": i + 1, "sizeInByte": 1000 * (i + 1)}


def mobile_app(name: str, i: int) -> dict[str, Any]:
    kinds = ["#microsoft.graph.win32LobApp", "#microsoft.graph.iosStoreApp",
             "#microsoft.graph.androidManagedStoreApp"]
    return {"id": new_id(), "@odata.type": kinds[i % len(kinds)], "displayName": name,
            "publisher": "Fabrikam"}


CALLBACK = "https://tenantsync.example/api/consent/callback"


class Deployment:
    """The deployment's own apps in the operator's tenant: a multitenant directory app and
    inventory app (and a partner app), each trusting the function app's user-assigned
    managed identity with a federated credential, and the consent redirect URI."""

    def __init__(self, world: World, public_url: str = "https://tenantsync.example") -> None:
        self.world = world
        self.public_url = public_url
        self.identity, self.principal = new_id(), new_id()
        world.fixture.setdefault("managed_identities", {})[self.identity] = {
            "principal_id": self.principal, "home_tenant": world.home}
        self.federated = {"name": "function-app-identity",
                          "issuer": f"https://login.microsoftonline.com/{world.home}/v2.0",
                          "subject": self.principal, "audiences": ["api://AzureADTokenExchange"]}
        self.directory_app = self._app("tenantsync directory",
                                       [*DIRECTORY_ROLES, "Organization.Read.All"])
        self.inventory_app = self._app("tenantsync inventory", INVENTORY_ROLES)
        self.partner_app = self._app("tenantsync partner", PARTNER_ROLES, multitenant=False)
        # Each app's service principal in its own (the deployment's) tenant, consented there.
        for app_id, roles in ((self.directory_app, [*DIRECTORY_ROLES, "Organization.Read.All"]),
                              (self.inventory_app, INVENTORY_ROLES),
                              (self.partner_app, PARTNER_ROLES)):
            world.fixture["tenants"][world.home]["service_principals"][app_id] = {
                "roles": list(roles)}

    def _app(self, name: str, roles: list[str], *, multitenant: bool = True) -> str:
        app_id = new_id()
        self.world.fixture["applications"][app_id] = {
            "home_tenant": self.world.home, "display_name": name, "multitenant": multitenant,
            "federated_credentials": [dict(self.federated)], "required_roles": list(roles),
            "redirect_uris": [f"{self.public_url}/api/consent/callback"], "certificates": []}
        return app_id

    def app(self, app_id: str) -> dict[str, Any]:
        return dict(self.world.fixture["applications"][app_id])

    def env(self) -> dict[str, str]:
        """The settings naming the apps and the public address (the identity's endpoint
        comes from the simulator, in Harness.start)."""
        return {"TENANTSYNC_PUBLIC_URL": self.public_url}

    def consented(self, tenant_id: str, app_id: str) -> None:
        """An admin of ``tenant_id`` has consented to one of the deployment's apps."""
        roles = self.world.fixture["applications"][app_id]["required_roles"]
        self.world.fixture["tenants"][tenant_id]["service_principals"][app_id] = {
            "roles": list(roles)}

    def certificate(self, app_id: str, pem: str, expires: str | None = None) -> None:
        """Register a certificate (its public part) on one of the apps."""
        entry: dict[str, Any] = {"id": new_id(), "pem": pem}
        if expires is not None:
            entry["expires"] = expires
        self.world.fixture["applications"][app_id]["certificates"].append(entry)
