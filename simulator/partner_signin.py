"""A partner user's delegated sign-in: GET /{tenant}/oauth2/v2.0/authorize (the
authorization-code flow, PKCE) and the token endpoint's `authorization_code` and
`refresh_token` grants.

There is no sign-in page: the fixture's `partner_access` says which partner user is signed
in. A refresh token is bound to the user and the client, not to a tenant, and is redeemed
at any customer authority where the client has a delegated grant and the user holds GDAP
access ("AAD RTs are tenant-independent"; the CSP Graph guide). Each redemption returns a
new refresh token; the old one stays valid until revoked or expired.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from .consent import error_page
from .entra import _authenticate_client, _form, _missing
from .model import Application, Tenant
from .partner_access import AuthCode, PartnerAccess, PartnerUser
from .state import SimState
from .tokens import GRAPH, PARTNER_CENTER, RESOURCE_ALIASES, b64url, sign
from .wire import Request, Response, entra_error, json_response

DELEGATED_GRANTS = ("authorization_code", "refresh_token")
_OIDC = frozenset({"openid", "profile", "email", "offline_access"})
CODE_LIFETIME = 600.0  # authorization codes live about 10 minutes
PC_SCOPES = "user_impersonation"
HOME_GRAPH_SCOPES = "User.Read"


def is_delegated_grant(req: Request) -> bool:
    """True for the token requests this module answers (a user's, not an app's)."""
    return _form(req).get("grant_type", "") in DELEGATED_GRANTS


def _access(state: SimState) -> PartnerAccess:
    access: PartnerAccess = state.partner_access
    return access


def authorize(state: SimState, req: Request, path_tenant: str) -> Response:
    """The signed-in partner user agrees at once: a 302 to the redirect URI with a code."""
    if req.method != "GET":
        return error_page(req, 400, 900561, "The endpoint only accepts GET requests.")
    query = req.query
    with state.lock:
        access = _access(state)
        partner = path_tenant.lower()
        if partner in ("organizations", "common"):
            partner = next((p for p, s in access.partners.items() if s.signed_in_user), "")
        tenant = state.tenant(partner) if partner else None
        side = access.partners.get(partner) if partner else None
        if tenant is None or side is None or side.signed_in_user is None:
            return error_page(req, 400, 50058, "No partner user is signed in (simulated: set "
                              "partner_access.partners.<tenant>.signed_in_user).")
        app = state.world.applications.get(query.get("client_id", "").lower())
        redirect_uri = query.get("redirect_uri", "")
        if app is None:
            return error_page(req, 400, 700016, f"Application with identifier "
                              f"'{query.get('client_id', '')}' was not found.")
        if redirect_uri not in app.redirect_uris:
            return error_page(req, 400, 50011, f"The redirect URI '{redirect_uri}' specified "
                              "in the request does not match the redirect URIs configured for "
                              f"the application '{app.client_id}'.")
        if query.get("response_type") != "code":
            return _redirect(redirect_uri, [("error", "unsupported_response_type"),
                                            ("state", query.get("state", ""))])
        code = secrets.token_urlsafe(32)
        challenge = query.get("code_challenge")
        access.codes[code] = _auth_code(partner, side.signed_in_user, app, redirect_uri,
                                        query, challenge)
    params = [("code", code), ("state", query.get("state", "")),
              ("session_state", secrets.token_hex(8))]
    return _redirect(redirect_uri, params)


def _auth_code(partner: str, user: str, app: Application, redirect_uri: str,
               query: dict[str, str], challenge: str | None) -> AuthCode:
    return AuthCode(partner=partner, user=user, client_id=app.client_id,
                    redirect_uri=redirect_uri, scope=query.get("scope", ""),
                    challenge=challenge, nonce=query.get("nonce"), issued=time.time())


def _redirect(uri: str, params: list[tuple[str, str]]) -> Response:
    separator = "&" if "?" in uri else "?"
    return Response(302, b"", {"Location": f"{uri}{separator}{urlencode(params)}",
                               "Cache-Control": "no-store"})


def _grant_error(req: Request, code: int, message: str, error: str = "invalid_grant") -> Response:
    return entra_error(req, 400, error, code, message)


def token(state: SimState, req: Request, tenant_id: str) -> Response:
    """POST /{tenant}/oauth2/v2.0/token with grant_type authorization_code or refresh_token."""
    fields = _form(req)
    with state.lock:
        tenant = state.tenant(tenant_id)
        if tenant is None:
            return entra_error(req, 400, "invalid_request", 90002,
                               f"Tenant '{tenant_id}' not found.")
        client_id = fields.get("client_id", "").lower()
        if not client_id:
            return _missing(req, "client_id")
        app = state.world.applications.get(client_id)
        if app is None:
            return entra_error(req, 400, "unauthorized_client", 700016,
                               f"Application with identifier '{client_id}' was not found in "
                               f"the directory '{tenant.display_name}'.")
        denied = _authenticate_client(state, req, tenant, app, fields)
        if denied is not None:
            return denied
        access = _access(state)
        if fields["grant_type"] == "authorization_code":
            redeemed = _redeem_code(req, access, fields, app)
        else:
            redeemed = _redeem_refresh_token(req, access, fields, app)
        if isinstance(redeemed, Response):
            return redeemed
        partner, user, nonce = redeemed
        return _issue(state, req, tenant, app, partner, user, fields.get("scope", ""), nonce)


def _redeem_code(req: Request, access: PartnerAccess, fields: dict[str, str],
                 app: Application) -> tuple[str, PartnerUser, str | None] | Response:
    code = access.codes.pop(fields.get("code", ""), None)
    if code is None or code.client_id != app.client_id or time.time() - code.issued > CODE_LIFETIME:
        return _grant_error(req, 70008, "The provided authorization code or refresh token has "
                            "expired due to inactivity. Send a new interactive authorization "
                            "request for this user and resource.")
    if fields.get("redirect_uri") != code.redirect_uri:
        return _grant_error(req, 50148, "The redirect_uri does not match the one of the "
                            "authorization request.")
    if code.challenge is not None:
        verifier = fields.get("code_verifier", "")
        computed = b64url(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
        if computed != code.challenge and verifier != code.challenge:
            return _grant_error(req, 501481, "The Code_Verifier does not match the "
                                "code_challenge supplied in the authorization request.")
    user = access.user(code.partner, code.user)
    if user is None:
        return _grant_error(req, 50034, "The user account does not exist in the directory.")
    return code.partner, user, code.nonce


def _redeem_refresh_token(req: Request, access: PartnerAccess, fields: dict[str, str],
                          app: Application) -> tuple[str, PartnerUser, None] | Response:
    grant = access.refresh_tokens.get(fields.get("refresh_token", ""))
    if grant is None or grant.client_id != app.client_id:
        return _grant_error(req, 9002313, "Invalid request. Request is malformed or invalid: "
                            "the refresh token is not valid.")
    if grant.state == "revoked":
        return _grant_error(req, 50173, "The provided grant has expired due to it being "
                            "revoked, a fresh auth token is needed. The user might have "
                            "changed or reset their password.")
    if grant.state == "expired":
        return _grant_error(req, 700082, "The refresh token has expired due to inactivity. "
                            "The token was issued on a date and was inactive for 90.00:00:00.")
    user = access.user(grant.partner, grant.user)
    if user is None:
        return _grant_error(req, 50034, "The user account does not exist in the directory.")
    if user.mfa_required_again:
        return _grant_error(req, 50076, "Due to a configuration change made by your "
                            "administrator, or because you moved to a new location, you must "
                            "use multi-factor authentication to access the resource.",
                            error="interaction_required")
    return grant.partner, user, None


def _resource(scope: str) -> tuple[str | None, list[str]]:
    """The resource a delegated request names (None: an unsupported one) and its scopes."""
    resource: str | None = None
    named: list[str] = []
    for item in scope.split():
        if item.lower() in _OIDC:
            continue
        base, _, name = item.rpartition("/")
        base = RESOURCE_ALIASES.get(base.lower(), base.rstrip("/"))
        if base not in (GRAPH, PARTNER_CENTER) or (resource and resource != base):
            return None, []
        resource = base
        if name and name != ".default":
            named.append(name)
    return resource or GRAPH, named


def _issue(state: SimState, req: Request, tenant: Tenant, app: Application, partner: str,
           user: PartnerUser, scope: str, nonce: str | None) -> Response:
    access = _access(state)
    resource, _ = _resource(scope)
    if resource is None:
        return entra_error(req, 400, "invalid_scope", 70011,
                           f"The provided value for the input parameter 'scope' is not valid. "
                           f"The scope {scope} is not valid (simulated: Graph or Partner "
                           "Center, one resource).")
    if tenant.id == partner:
        granted = PC_SCOPES if resource == PARTNER_CENTER else HOME_GRAPH_SCOPES
    else:
        relationship = access.relationship_of(state.world, partner, tenant.id)
        if relationship != "active" or not access.roles_in(state.world, partner, user.id,
                                                           tenant.id):
            return _grant_error(req, 50020, f"User account '{user.upn}' from identity provider "
                                f"'https://sts.windows.net/{partner}/' does not exist in tenant "
                                f"'{tenant.display_name}' and cannot access the application "
                                f"'{app.client_id}' in that tenant.")
        scopes = access.delegated.get((tenant.id, app.client_id))
        if resource != GRAPH or not scopes:
            return _grant_error(req, 65001, f"The user or administrator has not consented to "
                                f"use the application with ID '{app.client_id}' named "
                                f"'{app.display_name}'. Send an interactive authorization "
                                "request for this user and resource.",
                                error="invalid_grant")
        granted = " ".join(sorted(scopes))
    now = int(time.time())
    lifetime = state.world.token_lifetime
    claims: dict[str, Any] = {
        "aud": resource, "iss": f"https://sts.windows.net/{tenant.id}/", "iat": now,
        "nbf": now, "exp": now + lifetime, "appid": app.client_id, "appidacr": "1",
        "idp": f"https://sts.windows.net/{partner}/", "idtyp": "user", "oid": user.id,
        "sub": user.id, "tid": tenant.id, "scp": granted, "upn": user.upn,
        "amr": ["pwd", "mfa"] if user.mfa else ["pwd"], "ver": "1.0",
    }
    state.count_token()
    payload: dict[str, Any] = {
        "token_type": "Bearer", "scope": granted, "expires_in": lifetime,
        "ext_expires_in": lifetime, "access_token": sign(state.signing_key, claims),
        "refresh_token": access.new_refresh_token(partner, user.id, app.client_id),
        "client_info": _client_info(user.id, partner),
        "id_token": _id_token(state, req, tenant, app, user, partner, nonce, now),
    }
    return json_response(200, payload, {"Cache-Control": "no-store, no-cache"})


def _client_info(user_id: str, home: str) -> str:
    raw = json.dumps({"uid": user_id, "utid": home}).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _id_token(state: SimState, req: Request, tenant: Tenant, app: Application,
              user: PartnerUser, partner: str, nonce: str | None, now: int) -> str:
    claims: dict[str, Any] = {
        "aud": app.client_id, "iss": f"{req.base_url}/{tenant.id}/v2.0", "iat": now,
        "nbf": now, "exp": now + 3600, "oid": user.id, "sub": user.id, "tid": tenant.id,
        "preferred_username": user.upn, "name": user.upn, "ver": "2.0",
        "idp": f"https://sts.windows.net/{partner}/",
    }
    if nonce:
        claims["nonce"] = nonce
    return sign(state.signing_key, claims)
