"""Builds simulator fixtures for tests: tenants, apps, users and groups with readable names."""

from __future__ import annotations

import copy
import uuid
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
