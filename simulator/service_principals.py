"""Graph v1.0 service principals of a tenant and their app role assignments:

GET  /servicePrincipals?$filter=appId eq '{appId}'     GET /servicePrincipals(appId='{appId}')
POST /servicePrincipals {"appId"}                       GET /servicePrincipals/{id}
GET|POST /servicePrincipals/{resource-id}/appRoleAssignedTo
GET /tenantRelationships/delegatedAdminRelationships/{id}/accessAssignments

A delegated caller needs the scope and, in a customer tenant reached through GDAP, a role
that may do it: creating a multitenant app's principal, Application or Cloud Application
Administrator (or Global); assigning Microsoft Graph app roles, Privileged Role
Administrator or Global only (Entra's permissions reference). New principals and
assignments reach app-only tokens after `partner_access.propagation_seconds`.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from .graph import authenticate, denied
from .model import Tenant
from .partner_access import (
    APPLICATION_ADMIN,
    CLOUD_APPLICATION_ADMIN,
    GLOBAL_ADMIN,
    GRAPH_APP_ID,
    GRAPH_APP_ROLES,
    PRIVILEGED_ROLE_ADMIN,
    PartnerAccess,
    RoleAssignment,
    access_assignment_items,
    held_assignment_id,
    role_id,
    role_name,
    sp_id,
)
from .state import SimState
from .validate import is_guid
from .wire import GRAPH_JSON, Request, Response, graph_error, json_response, now_utc

_BY_APP_ID = re.compile(r"^serviceprincipals\(appid='([0-9a-fA-F-]{36})'\)$", re.IGNORECASE)
_FILTER = re.compile(r"^\s*appId\s+eq\s+'([0-9a-fA-F-]{36})'\s*$")
READ_SCOPES = frozenset({"Application.Read.All", "Application.ReadWrite.All",
                         "Directory.Read.All", "Directory.ReadWrite.All"})
WRITE_SCOPES = frozenset({"Application.ReadWrite.All", "Directory.ReadWrite.All"})
ASSIGN_SCOPES = frozenset({"AppRoleAssignment.ReadWrite.All"})
READ_ROLES = frozenset({"Application.Read.All", "Directory.Read.All"})
CREATE_ROLES = frozenset({GLOBAL_ADMIN, APPLICATION_ADMIN, CLOUD_APPLICATION_ADMIN})
GRAPH_ASSIGN_ROLES = frozenset({GLOBAL_ADMIN, PRIVILEGED_ROLE_ADMIN})
OTHER_ASSIGN_ROLES = GRAPH_ASSIGN_ROLES | CREATE_ROLES


def is_path(parts: list[str]) -> bool:
    """True for the paths this module serves (parts after /v1.0, in lower case)."""
    if parts and (parts[0] == "serviceprincipals" or _BY_APP_ID.match(parts[0])):
        return True
    return (len(parts) == 4 and parts[:2] == ["tenantrelationships",
                                              "delegatedadminrelationships"]
            and parts[3] == "accessassignments")


class _Caller:
    def __init__(self, state: SimState, claims: dict[str, Any]) -> None:
        self.tenant_id = str(claims["tid"])
        self.delegated = claims.get("idtyp") == "user"
        self.scopes = frozenset(str(claims.get("scp") or "").split())
        self.app_roles = frozenset(claims.get("roles") or [])
        partner = str(claims.get("idp") or "").rstrip("/").rsplit("/", 1)[-1]
        access: PartnerAccess = state.partner_access
        self.directory_roles = (
            access.roles_in(state.world, partner, str(claims.get("oid")), self.tenant_id)
            if self.delegated and partner != self.tenant_id else set())
        if self.delegated and partner == self.tenant_id:
            self.directory_roles = {GLOBAL_ADMIN}  # the partner's own admins, at home

    def may(self, scopes: frozenset[str], roles: frozenset[str],
            app_roles: frozenset[str] = frozenset()) -> bool:
        if not self.delegated:
            return bool(self.app_roles & app_roles)
        return bool(self.scopes & scopes) and bool(self.directory_roles & roles)


def _principal(tenant: Tenant, client_id: str, state: SimState) -> dict[str, Any]:
    app = state.world.applications.get(client_id)
    item: dict[str, Any] = {
        "id": sp_id(tenant.id, client_id), "appId": client_id,
        "displayName": app.display_name if app else client_id,
        "servicePrincipalType": "Application", "accountEnabled": True,
        "appOwnerOrganizationId": app.home_tenant if app else None,
    }
    if client_id == GRAPH_APP_ID:
        item["displayName"] = "Microsoft Graph"
        # Every tenant's Graph principal lists all of Graph's app roles.
        roles = set(GRAPH_APP_ROLES) | {name for held in tenant.roles.values() for name in held}
        item["appRoles"] = [{"id": role_id(n), "value": n, "allowedMemberTypes": ["Application"],
                             "isEnabled": True, "displayName": n} for n in sorted(roles)]
    return item


def _find(state: SimState, tenant: Tenant, object_or_app: str, by_app: bool) -> str | None:
    """The app id of a principal in the tenant, by its object id or its app id."""
    access: PartnerAccess = state.partner_access
    candidates = {GRAPH_APP_ID, *tenant.roles, *(c for t, c in access.principals
                                                  if t == tenant.id)}
    for client_id in candidates:
        if (client_id == object_or_app.lower()) if by_app else (
                sp_id(tenant.id, client_id) == object_or_app.lower()):
            return client_id
    return None


def _not_found(req: Request, what: str) -> Response:
    return graph_error(req, 404, "Request_ResourceNotFound",
                       f"Resource '{what}' does not exist or one of its queried "
                       "reference-property objects are not present.")


def handle(state: SimState, req: Request) -> Response:
    claims = authenticate(state, req)
    if isinstance(claims, Response):
        return claims
    parts = list(req.path[len("/v1.0/"):].strip("/").split("/"))
    lowered = [p.lower() for p in parts]
    with state.lock:
        tenant = state.tenant(str(claims["tid"]))
        assert tenant is not None
        caller = _Caller(state, claims)
        if lowered[0] == "tenantrelationships":
            return _access_assignments(state, req, caller, parts[2])
        match = _BY_APP_ID.match(parts[0])
        if match:
            if len(parts) != 1:
                return graph_error(req, 400, "BadRequest", "Unsupported segment.")
            return _get_one(state, req, caller, tenant, match.group(1), by_app=True)
        if len(parts) == 1:
            if req.method == "POST":
                return _create(state, req, caller, tenant)
            return _list(state, req, caller, tenant)
        if len(parts) == 2 and req.method == "DELETE":
            return _delete_principal(state, req, caller, tenant, parts[1])
        if len(parts) == 2:
            return _get_one(state, req, caller, tenant, parts[1], by_app=False)
        if len(parts) == 3 and lowered[2] == "approleassignedto":
            return _assigned_to(state, req, caller, tenant, parts[1])
        if len(parts) == 4 and lowered[2] == "approleassignedto" and req.method == "DELETE":
            return _unassign(state, req, caller, tenant, parts[1], parts[3])
    return graph_error(req, 400, "BadRequest", f"Resource not found for the segment "
                       f"'{parts[-1]}'.")


def _list(state: SimState, req: Request, caller: _Caller, tenant: Tenant) -> Response:
    if not caller.may(READ_SCOPES, OTHER_ASSIGN_ROLES | CREATE_ROLES, READ_ROLES):
        return denied(req)
    raw = req.query.get("$filter")
    wanted = None
    if raw is not None:
        match = _FILTER.match(raw)
        if match is None:
            return graph_error(req, 400, "Request_UnsupportedQuery",
                               "Unsupported query (simulated: $filter=appId eq '...' only).")
        wanted = match.group(1).lower()
    found = _find(state, tenant, wanted, by_app=True) if wanted else None
    ids = ([found] if found else []) if wanted else sorted(
        {GRAPH_APP_ID, *tenant.roles,
         *(c for t, c in state.partner_access.principals if t == tenant.id)})
    items = [_principal(tenant, c, state) for c in ids]
    context = f"{req.base_url}/v1.0/$metadata#servicePrincipals"
    return json_response(200, {"@odata.context": context, "value": items},
                         content_type=GRAPH_JSON)


def _get_one(state: SimState, req: Request, caller: _Caller, tenant: Tenant, key: str,
             *, by_app: bool) -> Response:
    if not caller.may(READ_SCOPES, OTHER_ASSIGN_ROLES | CREATE_ROLES, READ_ROLES):
        return denied(req)
    client_id = _find(state, tenant, key, by_app=by_app)
    if client_id is None:
        return _not_found(req, key)
    return json_response(200, _principal(tenant, client_id, state), content_type=GRAPH_JSON)


def _create(state: SimState, req: Request, caller: _Caller, tenant: Tenant) -> Response:
    try:
        body = req.json_body()
    except ValueError:
        return graph_error(req, 400, "BadRequest", "Invalid JSON in the request body.")
    app_id = str(body.get("appId") or "").lower() if isinstance(body, dict) else ""
    if not caller.may(WRITE_SCOPES, CREATE_ROLES):
        return denied(req)
    app = state.world.applications.get(app_id)
    if not is_guid(app_id) or app is None or (not app.multitenant
                                              and app.home_tenant != tenant.id):
        return graph_error(req, 400, "Request_BadRequest", f"The appId '{app_id}' of the "
                           "service principal does not reference a valid application object.")
    access: PartnerAccess = state.partner_access
    if access.has_principal(tenant, app_id):
        return graph_error(req, 409, "Request_MultipleObjectsWithSameKeyValue",
                           "Another object with the same value for property appId already "
                           "exists.")
    access.add_principal(tenant, app_id)
    return json_response(201, _principal(tenant, app_id, state), content_type=GRAPH_JSON)


def _delete_principal(state: SimState, req: Request, caller: _Caller, tenant: Tenant,
                      key: str) -> Response:
    """DELETE /servicePrincipals/{id}: Application.ReadWrite.All and, delegated, a role that
    may manage enterprise apps (Graph's page for the delete)."""
    if not caller.may(WRITE_SCOPES, CREATE_ROLES):
        return denied(req)
    client_id = _find(state, tenant, key, by_app=False)
    if client_id is None or client_id == GRAPH_APP_ID:
        return _not_found(req, key)
    state.partner_access.remove_principal(tenant, client_id)
    return Response(204, b"", {})


def _unassign(state: SimState, req: Request, caller: _Caller, tenant: Tenant, resource: str,
              assignment_id: str) -> Response:
    """DELETE /servicePrincipals/{resource}/appRoleAssignedTo/{id}: the same scope and roles
    as assigning one (Microsoft Graph app roles: Privileged Role Administrator or Global)."""
    if _find(state, tenant, resource, by_app=False) != GRAPH_APP_ID:
        return _not_found(req, resource)
    if not caller.may(ASSIGN_SCOPES, GRAPH_ASSIGN_ROLES):
        return denied(req)
    if not state.partner_access.remove_assignment(tenant, assignment_id):
        return _not_found(req, assignment_id)
    return Response(204, b"", {})


def _assignment(item: RoleAssignment, state: SimState, tenant: Tenant) -> dict[str, Any]:
    app = state.world.applications.get(item.principal_client)
    return {"id": item.id, "appRoleId": role_id(item.role), "createdDateTime": item.created,
            "principalDisplayName": app.display_name if app else item.principal_client,
            "principalId": sp_id(tenant.id, item.principal_client),
            "principalType": "ServicePrincipal",
            "resourceDisplayName": "Microsoft Graph",
            "resourceId": sp_id(tenant.id, GRAPH_APP_ID)}


def _assigned_to(state: SimState, req: Request, caller: _Caller, tenant: Tenant,
                 resource: str) -> Response:
    if _find(state, tenant, resource, by_app=False) != GRAPH_APP_ID:
        return _not_found(req, resource)
    access: PartnerAccess = state.partner_access
    if req.method == "GET":
        if not caller.may(READ_SCOPES | ASSIGN_SCOPES, OTHER_ASSIGN_ROLES, READ_ROLES):
            return denied(req)
        items = [_assignment(a, state, tenant) for a in access.assignments
                 if a.tenant == tenant.id]
        # Roles granted by an admin's consent (the fixture's, a link's) are assignments too.
        listed = {(a.principal_client, a.role) for a in access.assignments
                  if a.tenant == tenant.id}
        for client_id, held in tenant.roles.items():
            for held_role in held:
                if (client_id, held_role) not in listed:
                    items.append(_assignment(RoleAssignment(
                        held_assignment_id(tenant.id, client_id, held_role),
                        tenant.id, client_id, held_role, "2024-01-01T00:00:00Z", 0.0),
                        state, tenant))
        return json_response(200, {"value": items}, content_type=GRAPH_JSON)
    if req.method != "POST":
        return graph_error(req, 405, "Request_BadRequest", "Method not allowed.")
    if not caller.may(ASSIGN_SCOPES, GRAPH_ASSIGN_ROLES):
        return denied(req)
    try:
        body = req.json_body()
    except ValueError:
        return graph_error(req, 400, "BadRequest", "Invalid JSON in the request body.")
    if not isinstance(body, dict):
        return graph_error(req, 400, "BadRequest", "The body must be a JSON object.")
    principal = _find(state, tenant, str(body.get("principalId") or ""), by_app=False)
    name = role_name(str(body.get("appRoleId") or ""))
    if principal is None or str(body.get("resourceId") or "").lower() != sp_id(
            tenant.id, GRAPH_APP_ID):
        return graph_error(req, 400, "Request_BadRequest", "Invalid principalId or resourceId.")
    if name is None:
        return graph_error(req, 400, "Request_BadRequest", "Permission (appRoleId) does not "
                           "exist on the resource service principal.")
    held = tenant.roles.get(principal, [])
    if name in held or any(a.tenant == tenant.id and a.principal_client == principal
                           and a.role == name for a in access.assignments):
        return graph_error(req, 400, "Request_BadRequest",
                           "Permission being assigned already exists on the object")
    item = RoleAssignment(str(uuid.uuid4()), tenant.id, principal, name,
                          now_utc().strftime("%Y-%m-%dT%H:%M:%SZ"),
                          time.time() + access.propagation_seconds)
    access.assignments.append(item)
    return json_response(201, _assignment(item, state, tenant), content_type=GRAPH_JSON)


def _access_assignments(state: SimState, req: Request, caller: _Caller,
                        relationship_id: str) -> Response:
    if "DelegatedAdminRelationship.Read.All" not in caller.app_roles and (
            "DelegatedAdminRelationship.ReadWrite.All" not in caller.app_roles):
        return denied(req)
    tenant = state.tenant(caller.tenant_id)
    if tenant is None or tenant.gdap is None or tenant.gdap.relationships.get(
            relationship_id) is None:
        return _not_found(req, relationship_id)
    side = state.partner_access.partners.get(caller.tenant_id)
    items = access_assignment_items(side, relationship_id)
    return json_response(200, {"value": items}, content_type=GRAPH_JSON)
