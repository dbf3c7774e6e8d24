"""The managed identity endpoint of the Functions host: App Service protocol, 2019-08-01.

`GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=...&client_id=...` with the header
`X-IDENTITY-HEADER: {IDENTITY_HEADER}`. azure-identity's ManagedIdentityCredential (through
MSAL's ManagedIdentityClient) picks this protocol when both variables are set.
"""

from __future__ import annotations

import hmac
import re
import time
import uuid
from typing import Any

from .model import ManagedIdentity
from .state import SimState
from .tokens import (
    GRAPH,
    PARTNER_CENTER,
    RESOURCE_ALIASES,
    TOKEN_EXCHANGE,
    VAULT,
    entra_issuer,
    sign,
)
from .wire import Request, Response, json_response

PATH = "/msi/token"
API_VERSION = "2019-08-01"
_SELECTORS = ("client_id", "principal_id", "object_id", "mi_res_id")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def error(status: int, message: str) -> Response:
    """An error of the token service. MSAL reads `statusCode` and `message` from it."""
    payload = {"statusCode": status, "message": message, "correlationId": str(uuid.uuid4())}
    return json_response(status, payload)


def _identity(state: SimState, req: Request) -> ManagedIdentity | Response:
    chosen = [name for name in _SELECTORS if req.query.get(name)]
    if len(chosen) > 1:  # each selector "cannot be used on a request that includes" another
        return error(400, f"Use one of {', '.join(_SELECTORS)}, not {' and '.join(chosen)}.")
    if not chosen:  # all left out means the system-assigned identity, which is not simulated
        return error(400, "No system-assigned identity: name a user-assigned one (client_id).")
    if chosen[0] == "mi_res_id":
        return error(400, "mi_res_id is not simulated: use client_id or principal_id.")
    wanted = req.query[chosen[0]].lower()
    for identity in state.world.managed_identities.values():
        key = identity.client_id if chosen[0] == "client_id" else identity.principal_id
        if key == wanted:
            return identity
    return error(
        400,
        "No User Assigned or Delegated Managed Identity found for specified "
        "ClientId/ResourceId/PrincipalId.",
    )


def _resource(raw: str) -> str:
    trimmed = raw.rstrip("/")
    if trimmed.lower().endswith("/.default"):  # a scope instead of a resource
        trimmed = trimmed[: -len("/.default")]
    return RESOURCE_ALIASES.get(trimmed.lower(), trimmed)


def handle(state: SimState, req: Request) -> Response:
    """GET /msi/token on the identity port."""
    if req.path.rstrip("/").lower() != PATH:
        return error(404, f"No endpoint at '{req.path}'.")
    if req.method != "GET":
        return error(405, "Only GET is supported.")
    presented = req.header("x-identity-header") or ""
    # The header carries IDENTITY_HEADER to mitigate server-side request forgery (App Service).
    if not hmac.compare_digest(presented.encode(), state.identity_header.encode()):
        return error(401, "The X-IDENTITY-HEADER header is missing or wrong.")
    version = req.query.get("api-version", "")
    if not _DATE.match(version) or version < API_VERSION:  # "Please use 2019-08-01 or later"
        return error(400, f"api-version must be {API_VERSION} or later, not '{version}'.")
    raw_resource = req.query.get("resource", "")
    if not raw_resource:
        return error(400, "The 'resource' query parameter is required.")
    with state.lock:
        found = _identity(state, req)
        if isinstance(found, Response):
            return found
        resource = _resource(raw_resource)
        allowed = {TOKEN_EXCHANGE, GRAPH, PARTNER_CENTER}
        if found.client_id in state.world.vault_principals:
            allowed.add(VAULT)
        if resource not in allowed:
            tenant = state.world.tenants[found.home_tenant]
            return error(
                400,
                f"AADSTS500011: The resource principal named {resource} was not found in the "
                f"tenant named {tenant.display_name}.",
            )
        lifetime = state.world.token_lifetime
        key = state.signing_key
    now = int(time.time())
    token = sign(key, _claims(found, resource, now, lifetime))
    state.count_token()
    body = {
        "access_token": token,
        "expires_on": str(now + lifetime),  # Unix seconds, as a string, like the sample
        "not_before": str(now),
        "resource": raw_resource,  # "matches the resource query string parameter"
        "token_type": "Bearer",
        "client_id": found.client_id,
    }
    return json_response(200, body)


def _claims(identity: ManagedIdentity, resource: str, now: int, lifetime: int) -> dict[str, Any]:
    tid = identity.home_tenant
    common: dict[str, Any] = {
        "aud": resource,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "idtyp": "app",
        "oid": identity.principal_id,
        "sub": identity.principal_id,  # a federated credential's subject is this principal id
        "tid": tid,
        "uti": uuid.uuid4().hex[:22],
    }
    if resource == TOKEN_EXCHANGE:
        # A v2.0 token: its issuer is what a federated credential names for Entra tokens.
        return {**common, "iss": entra_issuer(tid), "azp": identity.client_id, "ver": "2.0"}
    sts = f"https://sts.windows.net/{tid}/"
    return {**common, "iss": sts, "idp": sts, "appid": identity.client_id, "ver": "1.0"}
