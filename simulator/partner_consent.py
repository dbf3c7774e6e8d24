"""Partner Center's Control Panel Vendor API: POST/DELETE
/partnercenter/v1/customers/{customer}/applicationconsents[/{application}].

Checks, as the Partner Center docs and the GDAP guide describe them: an App+User token for
Partner Center issued to the app being consented, carrying MFA; the user in AdminAgents and
in a group of an active GDAP relationship with the customer holding Global, Application or
Cloud Application Administrator. It grants delegated scopes only (no app roles): the app's
service principal and a tenant-wide delegated grant in the customer tenant.
"""

from __future__ import annotations

import json
from typing import Any

from .partner_access import (
    APPLICATION_ADMIN,
    CLOUD_APPLICATION_ADMIN,
    GLOBAL_ADMIN,
    GRAPH_APP_ID,
    PartnerAccess,
)
from .state import SimState
from .tokens import PARTNER_CENTER, bearer_claims, is_expired
from .validate import is_guid
from .wire import Request, Response, json_response, partner_center_error

CONSENT_ROLES = frozenset({GLOBAL_ADMIN, APPLICATION_ADMIN, CLOUD_APPLICATION_ADMIN})
ALREADY_EXISTS = "Permission entry already exists."


def matches(parts: list[str]) -> bool:
    """True for v1/customers/{id}/applicationconsents[/{app}] (parts in lower case)."""
    return (len(parts) in (4, 5) and parts[:2] == ["v1", "customers"]
            and parts[3] == "applicationconsents")


def handle(state: SimState, req: Request, parts: list[str]) -> Response:
    customer = parts[2]
    claims = bearer_claims(state.signing_key, req.header("authorization"))
    if claims is None or is_expired(claims):
        return partner_center_error(401, 900420, "Invalid Token",
                                    {"WWW-Authenticate": "Bearer"})
    if claims.get("aud") != PARTNER_CENTER:
        return partner_center_error(401, 900420, "The audience in the token is invalid.")
    if claims.get("idtyp") != "user":
        return partner_center_error(403, 900421, "This operation needs an App+User token "
                                    "(app-only tokens are not accepted).")
    if "mfa" not in (claims.get("amr") or []):
        # Partner Center enforces MFA on App+User calls (partner-center-authentication).
        return partner_center_error(401, 900423, "Multi-factor authentication is required: "
                                    "the token has no MFA claim. Sign in again with MFA.")
    partner, user_id = str(claims.get("tid", "")), str(claims.get("oid", ""))
    with state.lock:
        access: PartnerAccess = state.partner_access
        user = access.user(partner, user_id)
        if user is None or not user.admin_agent:
            return partner_center_error(403, 1002, "Authorization Failed: the user is not in "
                                        "the partner's AdminAgents group.")
        if not is_guid(customer) or state.tenant(customer) is None:
            return partner_center_error(404, 600001, f"Customer '{customer}' was not found.")
        relationship = access.relationship_of(state.world, partner, customer)
        if relationship != "active":
            return partner_center_error(403, 1002, "Authorization Failed: no active GDAP "
                                        "relationship with this customer.")
        roles = access.roles_in(state.world, partner, user_id, customer)
        if not roles & CONSENT_ROLES:
            return partner_center_error(403, 1002, "Authorization Failed: the user's GDAP "
                                        "roles in this customer cannot consent to applications"
                                        " (Global, Application or Cloud Application "
                                        "Administrator needed).")
        if req.method == "DELETE" and len(parts) == 5:
            return _delete(state, access, customer, parts[4])
        if req.method == "POST" and len(parts) == 4:
            return _create(state, req, access, customer, str(claims.get("appid", "")))
    return partner_center_error(405, 405, f"The method {req.method} is not allowed.")


def _grants(req: Request) -> tuple[str, list[tuple[str, frozenset[str]]]] | Response:
    try:
        body = req.json_body()
    except ValueError:
        return partner_center_error(400, 400, "The request body is not valid JSON.")
    if not isinstance(body, dict) or not is_guid(body.get("applicationId")):
        return partner_center_error(400, 400, "applicationId is required (a GUID).")
    grants: list[tuple[str, frozenset[str]]] = []
    for item in body.get("applicationGrants") or []:
        if not isinstance(item, dict) or not is_guid(item.get("enterpriseApplicationId")):
            return partner_center_error(400, 400, "Each applicationGrant needs an "
                                        "enterpriseApplicationId (a GUID).")
        scopes = frozenset(s.strip() for s in str(item.get("scope") or "").split(",")
                           if s.strip())
        if not scopes:
            return partner_center_error(400, 400, "Each applicationGrant needs a scope.")
        grants.append((str(item["enterpriseApplicationId"]).lower(), scopes))
    if not grants:
        return partner_center_error(400, 400, "applicationGrants is required.")
    return str(body["applicationId"]).lower(), grants


def _create(state: SimState, req: Request, access: PartnerAccess, customer: str,
            token_app: str) -> Response:
    parsed = _grants(req)
    if isinstance(parsed, Response):
        return parsed
    application, grants = parsed
    if application != token_app:
        return partner_center_error(403, 1002, "The token must be issued to the application "
                                    "being consented (applicationId).")
    tenant = state.tenant(customer)
    assert tenant is not None
    wanted: set[str] = set()
    for resource, scopes in grants:
        if resource != GRAPH_APP_ID:
            return partner_center_error(400, 400, f"The customer tenant lacks a service "
                                        f"principal for the application {resource}.")
        wanted |= scopes
    key = (customer, application)
    held = access.delegated.get(key, frozenset())
    if wanted <= held:
        return partner_center_error(400, 400, ALREADY_EXISTS)
    access.delegated[key] = held | wanted
    access.add_principal(tenant, application)
    access.consent_requests += 1
    answer: dict[str, Any] = {
        "applicationId": application,
        "applicationGrants": [{"enterpriseApplicationId": r, "scope": ",".join(sorted(s))}
                              for r, s in grants],
    }
    return json_response(201, json.loads(json.dumps(answer)))


def _delete(state: SimState, access: PartnerAccess, customer: str, application: str) -> Response:
    removed = access.delegated.pop((customer, application.lower()), None)
    if removed is None:
        return partner_center_error(404, 600002, "No application consent for this "
                                    "application in this customer.")
    access.consent_requests += 1
    return json_response(201, {})
