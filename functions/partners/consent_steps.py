"""The writes of a partner-side consent in one customer's tenant, each idempotent:

1. Partner Center ``applicationconsents``: the partner app gets the delegated Graph scopes
   the second step needs (Partner Center grants delegated scopes only; the GDAP guide).
2. With the partner's delegated token at the customer's authority: the inventory app's
   service principal if missing, and an app role assignment for each Graph application
   permission the device sync needs that it lacks (nothing more).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from functions.clients.graph import GraphClient
from functions.core.config import Settings
from functions.core.errors import GraphError, GraphThrottledError
from functions.core.permissions import DEVICE_NEEDS
from functions.core.sensitive import SecretValue

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
# What step 2 needs of Graph, delegated: create a service principal (Application.ReadWrite.All)
# and assign app roles (AppRoleAssignment.ReadWrite.All), per the Graph API pages.
DELEGATED_SCOPES = ("Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All")
# Partner Center answers a repeated consent with this (CIPP treats it as success).
_ALREADY = "already exists"


class PartnerCenterRefusal(Exception):
    """Partner Center refused the consent: ``reason`` is one of the consent outcomes."""

    def __init__(self, reason: str, status: int, description: str) -> None:
        super().__init__(description)
        self.reason, self.status, self.description = reason, status, description


@dataclass
class StepResult:
    """What the Graph step found and did in the customer's tenant."""

    principal_id: str = ""
    principal_created: bool = False
    assigned: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    writes: int = 0
    assignments: dict[str, str] = field(default_factory=dict)  # permission -> id, made now


def consent_partner_app(session: requests.Session, settings: Settings, token: SecretValue,
                        customer: str, partner_app: str) -> bool:
    """POST applicationconsents for the partner app; True if it wrote, False if the consent
    existed already. 429 and 503 are retried honouring Retry-After within one retry budget
    (the one Graph request path, with Partner Center as its host).

    Raises:
        PartnerCenterRefusal: ``partner_center_refused`` (MFA, throttled once the budget is
        spent, down), ``not_admin_agent``, ``no_consent_role``, ``relationship_not_active``.
    """
    center = GraphClient.configured(settings, token.reveal, session,
                                    base_url=settings.partner_center_url)
    body = {"applicationId": partner_app, "applicationGrants": [
        {"enterpriseApplicationId": GRAPH_APP_ID, "scope": ",".join(DELEGATED_SCOPES)}]}
    try:
        center.post(f"/v1/customers/{customer}/applicationconsents", body)
    except GraphThrottledError as exc:
        raise PartnerCenterRefusal("partner_center_refused", 429, exc.message) from None
    except GraphError as exc:
        description = exc.message.split(": ", 1)[-1][:300]
        text = description.lower()
        if exc.status == 400 and _ALREADY in text:
            return False
        if exc.status == 403 and "adminagents" in text:
            raise PartnerCenterRefusal("not_admin_agent", 403, description) from None
        if exc.status == 403 and "relationship" in text and "no active" in text:
            raise PartnerCenterRefusal("relationship_not_active", 403, description) from None
        if exc.status == 403:
            raise PartnerCenterRefusal("no_consent_role", 403, description) from None
        if exc.status == 0:
            description = "Partner Center could not be reached"
        raise PartnerCenterRefusal("partner_center_refused", exc.status, description) from None
    return True


def grant_app_roles(settings: Settings, session: requests.Session, token: Callable[[], str],
                    inventory_app: str, result: StepResult) -> StepResult:
    """Create the inventory app's service principal if missing and assign it exactly the
    Graph application permissions the device sync needs that it lacks; ``result`` says
    what was done, also when a later step fails (so that it is audited, and removable).

    Raises:
        GraphError: a read or write failed (403: the role that may do it is missing).
    """
    graph = GraphClient.configured(settings, token, session)
    # Created first, looked up only if it exists (409): a customer that lacks consent
    # mostly lacks the principal too, so this saves a request there.
    try:
        principal = str(graph.post("/servicePrincipals", {"appId": inventory_app})["id"])
        result.principal_id, result.principal_created = principal, True
        result.writes += 1
    except GraphError as exc:
        if exc.status != 409:  # Request_MultipleObjectsWithSameKeyValue: it exists
            raise
        found = graph.get("/servicePrincipals", {"$filter": f"appId eq '{inventory_app}'",
                                                 "$select": "id,appId"})
        principal = str((found.get("value") or [{}])[0].get("id") or "")
        result.principal_id = principal
    resource = graph.get(f"/servicePrincipals(appId='{GRAPH_APP_ID}')",
                         {"$select": "id,appRoles"})
    role_ids = {str(r.get("value")): str(r.get("id")) for r in resource.get("appRoles") or []}
    held: set[str] = set()
    if not result.principal_created:  # a new principal has no assignments to look up
        held = _assigned(graph, str(resource["id"]), principal)
    for need in DEVICE_NEEDS:
        role = role_ids.get(need)
        if role is None:
            raise GraphError(f"Microsoft Graph in this tenant lists no app role {need}",
                             status=404, code="permission_missing")
        if role in held:
            result.already.append(need)
            continue
        try:
            made = graph.post(f"/servicePrincipals/{resource['id']}/appRoleAssignedTo",
                              {"principalId": principal, "resourceId": resource["id"],
                               "appRoleId": role})
        except GraphError as exc:
            if exc.status == 400 and _ALREADY in exc.message.lower():
                result.already.append(need)
                continue
            raise
        result.assigned.append(need)
        result.assignments[need] = str(made.get("id") or "")
        result.writes += 1
    return result


def _assigned(graph: GraphClient, resource: str, principal: str) -> set[str]:
    held: set[str] = set()
    url: str | None = f"/servicePrincipals/{resource}/appRoleAssignedTo"
    while url:
        page: dict[str, Any] = graph.get(url)
        held.update(str(a.get("appRoleId")) for a in page.get("value") or []
                    if str(a.get("principalId")) == principal)
        url = page.get("@odata.nextLink")
    return held
