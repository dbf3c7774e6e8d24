"""Partner-side access: partner users (AdminAgents, GDAP security groups, MFA), GDAP access
assignments (roles per security group), and what the delegated flows leave behind: refresh
tokens, delegated grants in customer tenants, service principals and app role assignments
that reach app-only tokens only after a propagation delay.

The fixture's top-level ``partner_access``::

    {"propagation_seconds": 30,
     "partners": {PARTNER_TENANT: {
         "users": {USER_ID: {"userPrincipalName": "...", "admin_agent": true,
                             "groups": [GROUP_ID], "mfa": true}},
         "signed_in_user": USER_ID,
         "access_assignments": {RELATIONSHIP_ID: [{"group": GROUP_ID,
                                                   "roles": [ROLE_DEFINITION_ID]}]}}}}
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .model import Tenant, World
from .validate import as_list, boolean, fail, guid, mapping, number, text

_TOP_KEYS = ("propagation_seconds", "partners")
_PARTNER_KEYS = ("users", "signed_in_user", "access_assignments")
_USER_KEYS = ("userPrincipalName", "admin_agent", "groups", "mfa")

# Entra role template ids (permissions-reference).
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
PRIVILEGED_ROLE_ADMIN = "e8611ab8-c189-46e8-94e1-60213ab1f814"
APPLICATION_ADMIN = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
CLOUD_APPLICATION_ADMIN = "158c047a-c907-4556-b7ef-446551a6b5f7"

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
# Graph's application permissions (appRoles) by name: ids from the permissions reference.
GRAPH_APP_ROLES = {
    "DeviceManagementManagedDevices.Read.All": "2f51be20-0bb4-4fed-bf7b-db946066c75e",
    "DeviceManagementApps.Read.All": "7a6ee1e7-141e-4cec-ae74-d9db155731ff",
    "Organization.Read.All": "498476ce-e0fe-48b0-b801-37ba7e2685c6",
    "GroupMember.Read.All": "98830695-27a2-44f7-8c18-0c3ebc9698f6",
    "User.Read.All": "df021288-bdef-4463-88db-98f22de89214",
    "Directory.Read.All": "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
}


def role_id(name: str) -> str:
    """The appRoleId of a Graph application permission (a stable made-up one if unknown)."""
    return GRAPH_APP_ROLES.get(name) or str(uuid.uuid5(uuid.NAMESPACE_URL, f"approle:{name}"))


def role_name(role: str) -> str | None:
    for name, rid in GRAPH_APP_ROLES.items():
        if rid == role.lower():
            return name
    return None


def sp_id(tenant_id: str, client_id: str) -> str:
    """A service principal's object id: stable per (tenant, app), as token `oid`s are."""
    return str(uuid.uuid5(uuid.UUID(tenant_id), client_id))


def held_assignment_id(tenant_id: str, client_id: str, role: str) -> str:
    """The id of an assignment an admin's consent made (the fixture's, a link's)."""
    return str(uuid.uuid5(uuid.UUID(tenant_id), f"{client_id}/{role}"))


@dataclass
class PartnerUser:
    id: str
    upn: str
    admin_agent: bool
    groups: frozenset[str]
    mfa: bool  # signs in with MFA (the token's amr carries "mfa")
    mfa_required_again: bool = False  # refresh tokens need a new MFA sign-in (AADSTS50076)


@dataclass
class PartnerSide:
    users: dict[str, PartnerUser]
    signed_in_user: str | None
    # relationship id (lower case) -> [(security group id, role definition ids)]
    assignments: dict[str, list[tuple[str, frozenset[str]]]]


@dataclass
class RefreshGrant:
    partner: str
    user: str
    client_id: str
    state: str = "valid"  # "valid" | "revoked" | "expired"


@dataclass
class AuthCode:
    partner: str
    user: str
    client_id: str
    redirect_uri: str
    scope: str
    challenge: str | None
    nonce: str | None
    issued: float


@dataclass
class RoleAssignment:
    id: str
    tenant: str
    principal_client: str  # the app whose service principal holds the role
    role: str  # the Graph application permission's name
    created: str
    visible_at: float  # app-only tokens carry it from then on


@dataclass
class PartnerAccess:
    """The partner side of a simulator; read and changed under ``SimState.lock``."""

    partners: dict[str, PartnerSide] = field(default_factory=dict)
    propagation_seconds: float = 0.0
    codes: dict[str, AuthCode] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshGrant] = field(default_factory=dict)
    # (customer tenant, client id) -> delegated Graph scopes granted (Partner Center consent)
    delegated: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    # (tenant, client id) -> when the service principal reaches the token endpoint
    principals: dict[tuple[str, str], float] = field(default_factory=dict)
    assignments: list[RoleAssignment] = field(default_factory=list)
    consent_requests: int = 0  # Partner Center applicationconsents calls answered 2xx

    def new_refresh_token(self, partner: str, user: str, client_id: str) -> str:
        token = "0.AR" + secrets.token_urlsafe(48)
        self.refresh_tokens[token] = RefreshGrant(partner, user, client_id)
        return token

    def user(self, partner: str, user_id: str) -> PartnerUser | None:
        side = self.partners.get(partner)
        return side.users.get(user_id) if side else None

    def roles_in(self, world: World, partner: str, user_id: str, customer: str) -> set[str]:
        """Entra roles the partner user holds in `customer` through active GDAP
        relationships whose access assignments name one of the user's groups."""
        side = self.partners.get(partner)
        tenant = world.tenants.get(partner)
        user = side.users.get(user_id) if side else None
        if side is None or tenant is None or tenant.gdap is None or user is None:
            return set()
        held: set[str] = set()
        for rel in tenant.gdap.relationships:
            if rel["customer"]["tenantId"] != customer or rel["status"] != "active":
                continue
            for group, roles in side.assignments.get(str(rel["id"]).lower(), []):
                if group in user.groups:
                    held.update(roles)
        return held

    def relationship_of(self, world: World, partner: str, customer: str) -> str | None:
        """"active", another status, or None when the partner has no relationship."""
        tenant = world.tenants.get(partner)
        if tenant is None or tenant.gdap is None:
            return None
        statuses = [rel["status"] for rel in tenant.gdap.relationships
                    if rel["customer"]["tenantId"] == customer]
        if "active" in statuses:
            return "active"
        return statuses[0] if statuses else None

    def add_principal(self, tenant: Tenant, client_id: str) -> None:
        """A service principal created through Graph: tokens see it after the delay."""
        self.principals.setdefault(
            (tenant.id, client_id), time.time() + self.propagation_seconds
        )

    def has_principal(self, tenant: Tenant, client_id: str) -> bool:
        return client_id in tenant.roles or (tenant.id, client_id) in self.principals

    def remove_principal(self, tenant: Tenant, client_id: str) -> None:
        """DELETE of a service principal: it and its app role assignments go."""
        tenant.roles.pop(client_id, None)
        self.principals.pop((tenant.id, client_id), None)
        self.assignments = [a for a in self.assignments
                            if not (a.tenant == tenant.id and a.principal_client == client_id)]

    def remove_assignment(self, tenant: Tenant, assignment_id: str) -> bool:
        """DELETE of an app role assignment, made through Graph or held from an admin's
        consent (its id derived as the listing shows it); False if there is none."""
        for item in self.assignments:
            if item.tenant == tenant.id and item.id == assignment_id.lower():
                self.assignments.remove(item)
                held = tenant.roles.get(item.principal_client, [])
                if item.role in held:
                    held.remove(item.role)
                return True
        for client_id, held in tenant.roles.items():
            for role in list(held):
                if held_assignment_id(tenant.id, client_id, role) == assignment_id.lower():
                    held.remove(role)
                    return True
        return False

    def grant_later(self, tenant: Tenant, client_id: str, roles: list[str]) -> None:
        """An admin's consent while a propagation delay is set: the principal and each role
        it lacks reach tokens only once the delay has passed."""
        if client_id not in tenant.roles:
            self.add_principal(tenant, client_id)
        held = tenant.roles.get(client_id, [])
        visible_at = time.time() + self.propagation_seconds
        for role in roles:
            if role not in held:
                self.assignments.append(RoleAssignment(
                    str(uuid.uuid4()), tenant.id, client_id, role, "", visible_at))

    def settle(self, world: World) -> None:
        """Move principals and role assignments whose delay has passed into the tenants'
        roles, which the token endpoint reads. The caller holds the lock."""
        now = time.time()
        for (tenant_id, client_id), visible_at in list(self.principals.items()):
            tenant = world.tenants.get(tenant_id)
            if visible_at <= now and tenant is not None:
                tenant.roles.setdefault(client_id, [])
        for item in self.assignments:
            tenant = world.tenants.get(item.tenant)
            if item.visible_at > now or tenant is None:
                continue
            held = tenant.roles.setdefault(item.principal_client, [])
            if item.role not in held:
                held.append(item.role)


def parse_partner_access(raw: object, world: World) -> PartnerAccess:
    """The fixture's ``partner_access`` (None: no partner side). Raises FixtureError."""
    if raw is None:
        return PartnerAccess()
    top = mapping(raw, "partner_access", _TOP_KEYS)
    access = PartnerAccess(
        propagation_seconds=number(top.get("propagation_seconds", 0), "partner_access."
                                   "propagation_seconds", 0, 3600))
    for key, item in mapping(top.get("partners", {}), "partner_access.partners").items():
        where = f"partner_access.partners.{key}"
        partner = guid(key, where)
        if partner not in world.tenants:
            fail(where, f"unknown tenant '{key}'")
        access.partners[partner] = parse_partner_side(item, where)
    return access


def parse_partner_side(raw: object, where: str) -> PartnerSide:
    entry = mapping(raw, where, _PARTNER_KEYS)
    users: dict[str, PartnerUser] = {}
    for key, item in mapping(entry.get("users", {}), f"{where}.users").items():
        path = f"{where}.users.{key}"
        user_id = guid(key, path)
        props = mapping(item, path, _USER_KEYS)
        groups = frozenset(guid(g, f"{path}.groups[{n}]")
                           for n, g in enumerate(as_list(props.get("groups", []),
                                                         f"{path}.groups")))
        users[user_id] = PartnerUser(
            id=user_id,
            upn=text(props.get("userPrincipalName", f"{user_id}@partner.example"),
                     f"{path}.userPrincipalName"),
            admin_agent=boolean(props.get("admin_agent", True), f"{path}.admin_agent"),
            groups=groups, mfa=boolean(props.get("mfa", True), f"{path}.mfa"))
    signed_in = entry.get("signed_in_user")
    if signed_in is not None:
        signed_in = guid(signed_in, f"{where}.signed_in_user")
        if signed_in not in users:
            fail(f"{where}.signed_in_user", f"unknown user '{signed_in}'")
    assignments: dict[str, list[tuple[str, frozenset[str]]]] = {}
    raw_assignments = mapping(entry.get("access_assignments", {}), f"{where}.access_assignments")
    for rel_id, items in raw_assignments.items():
        path = f"{where}.access_assignments.{rel_id}"
        parsed: list[tuple[str, frozenset[str]]] = []
        for n, item in enumerate(as_list(items, path)):
            one = mapping(item, f"{path}[{n}]", ("group", "roles"))
            roles = frozenset(guid(r, f"{path}[{n}].roles")
                              for r in as_list(one.get("roles", []), f"{path}[{n}].roles"))
            parsed.append((guid(one.get("group"), f"{path}[{n}].group"), roles))
        assignments[rel_id.lower()] = parsed
    return PartnerSide(users=users, signed_in_user=signed_in, assignments=assignments)


def access_assignment_items(side: PartnerSide | None, relationship_id: str) -> list[dict[str, Any]]:
    """Graph's delegatedAdminAccessAssignment items of one relationship."""
    if side is None:
        return []
    items = []
    for n, (group, roles) in enumerate(side.assignments.get(relationship_id.lower(), [])):
        items.append({
            "@odata.type": "#microsoft.graph.delegatedAdminAccessAssignment",
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{relationship_id}/{n}/{group}")),
            "status": "active",
            "createdDateTime": "2024-01-01T00:00:00Z",
            "lastModifiedDateTime": "2024-01-01T00:00:00Z",
            "accessContainer": {"accessContainerId": group,
                                "accessContainerType": "securityGroup"},
            "accessDetails": {"unifiedRoles": [{"roleDefinitionId": r} for r in sorted(roles)]},
        })
    return items
