"""Entra ID (login.microsoftonline.com): OpenID discovery and the client-credentials token."""

from __future__ import annotations

import base64
import hmac
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from . import assertions
from .model import Application, Tenant
from .state import SimState
from .tokens import GRAPH, PARTNER_CENTER, RESOURCE_ALIASES, VAULT, sign
from .wire import Request, Response, entra_error, json_response, now_utc

_TENANT_NOT_FOUND = (
    "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
    "signing into the correct cloud. Check with your subscription administrator, this may "
    "happen if there are no active subscriptions for the tenant."
)
_APP_NOT_FOUND = (
    "Application with identifier '{client_id}' was not found in the directory '{directory}'. "
    "This can happen if the application has not been installed by the administrator of the "
    "tenant or consented to by any user in the tenant. You may have sent your authentication "
    "request to the wrong tenant."
)
_SECRET_MISSING = (
    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."
)
_SECRET_INVALID = (
    "Invalid client secret provided. Ensure the secret being sent in the request is the client "
    "secret value, not the client secret ID, for a secret added to app '{client_id}'."
)
_SECRET_EXPIRED = (
    "The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal "
    "to create new keys for your app: https://aka.ms/NewClientSecret, or consider using "
    "certificate credentials for added security: https://aka.ms/certCreds."
)
_SCOPE_NOT_DEFAULT = (
    "The provided value for scope {scope} is not valid. Client credential flows must have a "
    "scope value with /.default suffixed to the resource identifier (application ID URI)."
)
_SCOPE_NOT_ONE = (
    "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not "
    "valid. Client credential flows accept exactly one <resource>/.default scope."
)
_RESOURCE_NOT_FOUND = (
    "The resource principal named {resource} was not found in the tenant named {directory}. "
    "This can happen if the application has not been installed by the administrator of the "
    "tenant or consented to by any user in the tenant. You might have sent your authentication "
    "request to the wrong tenant."
)


def discovery(state: SimState, req: Request, tenant_id: str) -> Response:
    """GET /{tenant}/v2.0/.well-known/openid-configuration."""
    with state.lock:
        tenant = state.tenant(tenant_id)
    if tenant is None:
        return entra_error(
            req, 400, "invalid_tenant", 90002, _TENANT_NOT_FOUND.format(tenant=tenant_id)
        )
    base = f"{req.base_url}/{tenant.id}"
    config = {
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "jwks_uri": f"{req.base_url}/{tenant.id}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{base}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
        "claims_supported": [
            "sub",
            "iss",
            "cloud_instance_name",
            "cloud_instance_host_name",
            "cloud_graph_host_name",
            "msgraph_host",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "acr",
            "nonce",
            "preferred_username",
            "name",
            "tid",
            "ver",
            "at_hash",
            "c_hash",
            "email",
        ],
        "kerberos_endpoint": f"{base}/kerberos",
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }
    return json_response(200, config)


def _form(req: Request) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True):
        fields.setdefault(name, value)
    # client_secret_basic: credentials in the Authorization header (form-encoded, then base64)
    auth = req.header("authorization") or ""
    if auth.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(auth[6:].strip()).decode("utf-8")
        except ValueError:
            decoded = ""
        user, sep, password = decoded.partition(":")
        if sep:
            fields.setdefault("client_id", unquote_plus(user))
            fields.setdefault("client_secret", unquote_plus(password))
    return fields


def _matching_secret(app: Application, presented: str) -> int | None:
    """Index of the secret whose value equals `presented` (constant-time per comparison)."""
    found: int | None = None
    given = presented.encode("utf-8")
    for index, secret in enumerate(app.secrets):
        if hmac.compare_digest(secret.value.encode("utf-8"), given) and found is None:
            found = index
    return found


def _resource(scope: str) -> tuple[str | None, int | None]:
    """(resource, None) for one valid `<resource>/.default` scope, else (None, AADSTS code)."""
    scopes = scope.split()
    if len(scopes) != 1:
        return None, 70011
    if not scopes[0].lower().endswith("/.default"):
        return None, 1002012
    resource = scopes[0][: -len("/.default")].rstrip("/")
    return RESOURCE_ALIASES.get(resource.lower(), resource), None


def _missing(req: Request, name: str) -> Response:
    message = f"The request body must contain the following parameter: '{name}'."
    return entra_error(req, 400, "invalid_request", 900144, message)


def token(state: SimState, req: Request, tenant_id: str) -> Response:
    """POST /{tenant}/oauth2/v2.0/token (client credentials). Checks in Entra's order."""
    with state.lock:
        tenant = state.tenant(tenant_id)
        if tenant is None:
            message = _TENANT_NOT_FOUND.format(tenant=tenant_id)
            return entra_error(req, 400, "invalid_request", 90002, message)
        fields = _form(req)
        grant = fields.get("grant_type", "")
        if not grant:
            return _missing(req, "grant_type")
        if grant != "client_credentials":
            message = f"The app requested an unsupported grant type '{grant}' (simulated: only "
            message += "client_credentials)."
            return entra_error(req, 400, "unsupported_grant_type", 70003, message)
        client_id = fields.get("client_id", "")
        if not client_id:
            return _missing(req, "client_id")
        app = state.world.applications.get(client_id.lower())
        not_found = _APP_NOT_FOUND.format(client_id=client_id, directory=tenant.display_name)
        if app is None:
            return entra_error(req, 400, "unauthorized_client", 700016, not_found)
        denied = _authenticate_client(state, req, tenant, app, fields)
        if denied is not None:
            return denied
        # Outside its home tenant an app needs to be multitenant and installed (consented).
        foreign = tenant.id != app.home_tenant and not app.multitenant
        if app.client_id not in tenant.roles or foreign:
            return entra_error(req, 400, "unauthorized_client", 700016, not_found)
        return _issue(state, req, tenant, app, fields.get("scope", ""))


def _authenticate_client(
    state: SimState, req: Request, tenant: Tenant, app: Application, fields: dict[str, str]
) -> Response | None:
    """None if the request proves the app's identity (secret or client assertion)."""
    assertion_type = fields.get("client_assertion_type", "")
    assertion = fields.get("client_assertion", "")
    if assertion_type or assertion:
        if fields.get("client_secret"):
            message = "Send either 'client_secret' or 'client_assertion', not both."
            return entra_error(req, 400, "invalid_request", 9002313, message)
        if assertion_type != assertions.JWT_BEARER:
            message = f"The client_assertion_type must be '{assertions.JWT_BEARER}'."
            return entra_error(req, 400, "invalid_request", 9002313, message)
        if not assertion:
            return entra_error(req, 401, "invalid_client", 7000218, _SECRET_MISSING)
        # Certificate assertions name the token endpoint as `aud` (certificate-credentials
        # docs); the tenant's issuer is accepted too.
        base = f"{req.base_url}/{tenant.id}"
        audiences = (f"{base}/oauth2/v2.0/token", f"{base}/v2.0")
        rejected = assertions.check(assertion, app, audiences, state.signing_key)
        if rejected is None:
            return None
        return entra_error(req, rejected.status, rejected.error, rejected.code, rejected.message)
    presented = fields.get("client_secret", "")
    if not presented:
        return entra_error(req, 401, "invalid_client", 7000218, _SECRET_MISSING)
    index = _matching_secret(app, presented)
    if index is None:
        message = _SECRET_INVALID.format(client_id=app.client_id)
        return entra_error(req, 401, "invalid_client", 7000215, message)
    expires = app.secrets[index].expires
    if expires is not None and expires <= now_utc():
        message = _SECRET_EXPIRED.format(client_id=app.client_id)
        return entra_error(req, 401, "invalid_client", 7000222, message)
    return None


def _issue(state: SimState, req: Request, tenant: Tenant, app: Application, scope: str) -> Response:
    if not scope:
        return _missing(req, "scope")
    resource, problem = _resource(scope)
    if problem == 70011:
        message = _SCOPE_NOT_ONE.format(scope=scope)
        return entra_error(req, 400, "invalid_scope", 70011, message)
    if problem is not None or resource is None:
        message = _SCOPE_NOT_DEFAULT.format(scope=scope)
        return entra_error(req, 400, "invalid_scope", 1002012, message)
    allowed = {GRAPH, PARTNER_CENTER}
    if app.client_id in state.world.vault_principals:
        allowed.add(VAULT)
    if resource not in allowed:
        message = _RESOURCE_NOT_FOUND.format(resource=resource, directory=tenant.display_name)
        return entra_error(req, 400, "invalid_resource", 500011, message)
    now = int(time.time())
    lifetime = state.world.token_lifetime
    sp_id = str(uuid.uuid5(uuid.UUID(tenant.id), app.client_id))
    claims: dict[str, Any] = {
        "aud": resource,
        "iss": f"https://sts.windows.net/{tenant.id}/",
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "app_displayname": app.display_name,
        "appid": app.client_id,
        "appidacr": "1",
        "idp": f"https://sts.windows.net/{tenant.id}/",
        "idtyp": "app",
        "oid": sp_id,
        "sub": sp_id,
        "tid": tenant.id,
        "uti": uuid.uuid4().hex[:22],
        "ver": "1.0",
    }
    roles = tenant.roles.get(app.client_id, [])
    if resource == GRAPH and roles:
        claims["roles"] = list(roles)
    state.count_token()
    payload = {
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": sign(state.signing_key, claims),
    }
    return json_response(
        200, payload, {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}
    )
