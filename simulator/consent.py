"""Admin consent, v2.0: GET /{tenant|organizations|common}/v2.0/adminconsent.

There is no sign-in page: the fixture says which tenant's admin is signed in (for
`organizations` and `common`) and whether each tenant's admin accepts or refuses. The answer
is an immediate 302 to the app's redirect URI, which a headless browser follows. Requests that
cannot be trusted with a redirect (unknown app, redirect URI not registered) get an error page.
"""

from __future__ import annotations

import html
import uuid
from urllib.parse import urlencode

from .model import Application, Tenant
from .state import SimState
from .tokens import GRAPH, RESOURCE_ALIASES
from .wire import Request, Response, now_utc

_GENERIC = ("organizations", "common")
_OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})


def _trace(req: Request) -> str:
    correlation = req.header("client-request-id") or str(uuid.uuid4())
    stamp = now_utc().strftime("%Y-%m-%d %H:%M:%SZ")
    return f"Trace ID: {req.request_id}\r\nCorrelation ID: {correlation}\r\nTimestamp: {stamp}"


def error_page(req: Request, status: int, code: int, message: str) -> Response:
    """Entra's own error page: shown to the admin, never sent to the app's redirect URI."""
    shown = html.escape(f"AADSTS{code}: {message}")
    trace = html.escape(_trace(req)).replace("\r\n", "<br>")
    body = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Sign in to your account'
        "</title></head><body><h1>Sorry, but we're having trouble signing you in.</h1>"
        f'<p id="error-code">AADSTS{code}</p><p id="error-message">{shown}</p>'
        f'<p id="trace">{trace}</p></body></html>'
    )
    headers = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
    return Response(status, body.encode("utf-8"), headers)


def _redirect(uri: str, params: list[tuple[str, str]]) -> Response:
    separator = "&" if "?" in uri else "?"
    location = f"{uri}{separator}{urlencode(params)}"
    return Response(302, b"", {"Location": location, "Cache-Control": "no-store"})


def _with_state(params: list[tuple[str, str]], state_value: str | None) -> list[tuple[str, str]]:
    return [*params, ("state", state_value)] if state_value is not None else params


def _scope_problem(scope: str) -> tuple[str, int, str] | None:
    """(error, AADSTS code, message) if `scope` does not ask for Graph's application
    permissions (`https://graph.microsoft.com/.default`, OIDC scopes allowed beside it)."""
    if not scope.strip():
        message = "The request body must contain the following parameter: 'scope'."
        return "invalid_request", 900144, message
    graph = False
    for item in scope.split():
        if item.lower() in _OIDC_SCOPES:
            continue
        resource = item[: -len("/.default")] if item.lower().endswith("/.default") else None
        # "In order to request app permissions, you must use the /.default value."
        if resource is None or RESOURCE_ALIASES.get(resource.lower(), resource) != GRAPH:
            message = (
                f"The provided value for the input parameter 'scope' is not valid. The scope "
                f"{item} is not valid (simulated: only https://graph.microsoft.com/.default)."
            )
            return "invalid_scope", 70011, message
        graph = True
    if not graph:
        return (
            "invalid_scope",
            70011,
            "The scope must include https://graph.microsoft.com/.default.",
        )
    return None


def _consenting_tenant(state: SimState, req: Request, path_tenant: str) -> Tenant | Response:
    if path_tenant.lower() in _GENERIC:
        signed_in = state.world.signed_in_admin_tenant
        if signed_in is None:
            message = (
                "Session information is not sufficient for single-sign-on: no admin is signed "
                "in (simulated: set signed_in_admin_tenant)."
            )
            return error_page(req, 400, 50058, message)
        return state.world.tenants[signed_in]
    tenant = state.tenant(path_tenant)
    if tenant is None:
        return error_page(req, 400, 90002, f"Tenant '{path_tenant}' not found.")
    return tenant


def _app(state: SimState, req: Request, tenant: Tenant) -> Application | Response:
    client_id = req.query.get("client_id", "")
    if not client_id:
        message = "The request body must contain the following parameter: 'client_id'."
        return error_page(req, 400, 900144, message)
    app = state.world.applications.get(client_id.lower())
    redirect_uri = req.query.get("redirect_uri", "")
    if app is not None and not redirect_uri:
        return error_page(req, 400, 900971, "No reply address provided.")
    # Outside its home tenant an app must be multitenant (700016, as at the token endpoint).
    if app is None or (tenant.id != app.home_tenant and not app.multitenant):
        message = (
            f"Application with identifier '{client_id}' was not found in the directory "
            f"'{tenant.display_name}'. This can happen if the application has not been "
            "installed by the administrator of the tenant or consented to by any user in the "
            "tenant. You may have sent your authentication request to the wrong tenant."
        )
        return error_page(req, 400, 700016, message)
    # "It must exactly match one of the redirect URIs that you registered."
    if redirect_uri not in app.redirect_uris:
        message = (
            f"The redirect URI '{redirect_uri}' specified in the request does not match the "
            f"redirect URIs configured for the application '{app.client_id}'. Make sure the "
            "redirect URI sent in the request matches one added to your application in the "
            "Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more "
            "about how to fix this."
        )
        return error_page(req, 400, 50011, message)
    return app


def handle(state: SimState, req: Request, path_tenant: str) -> Response:
    """The admin signs in, sees the app's permissions and accepts or refuses, at once."""
    if req.method != "GET":
        message = f"The endpoint only accepts GET requests. Received a {req.method} request."
        return error_page(req, 400, 900561, message)
    state_value = req.query.get("state")
    scope = req.query.get("scope", "")
    with state.lock:
        tenant = _consenting_tenant(state, req, path_tenant)
        if isinstance(tenant, Response):
            return tenant
        app = _app(state, req, tenant)
        if isinstance(app, Response):
            return app
        redirect_uri = req.query["redirect_uri"]
        problem = _scope_problem(scope)
        if problem is not None:
            error, code, message = problem
            params = [("error", error), ("error_description", f"AADSTS{code}: {message}")]
            return _redirect(redirect_uri, _with_state(params, state_value))
        if tenant.admin_consent == "cancel":
            # A cancel, as observed (azure-docs #114009): access_denied, AADSTS65004, an
            # error_uri, admin_consent and state, and no `tenant`.
            params = [
                ("error", "access_denied"),
                ("error_description", "AADSTS65004: User declined to consent to access the "
                 "app.\r\n" + _trace(req)),
                ("error_uri", "https://login.microsoftonline.com/error?code=65004"),
                ("admin_consent", "True"),
            ]
            return _redirect(redirect_uri, _with_state(params, state_value))
        if tenant.admin_consent == "refuse":
            # The v2.0 admin consent docs' error response: admin_consent, error,
            # error_description (AADSTS65004) and state.
            description = (
                "AADSTS65004: The resource owner or authorization server denied the request.\r\n"
                + _trace(req)
            )
            params = [
                ("admin_consent", "True"),
                ("error", "consent_required"),
                ("error_description", description),
            ]
            return _redirect(redirect_uri, _with_state(params, state_value))
        state.grant_admin_consent(tenant, app)
    # The documented success: admin_consent=True, tenant (a GUID), scope and state.
    params = [("admin_consent", "True"), ("tenant", tenant.id), ("scope", scope)]
    return _redirect(redirect_uri, _with_state(params, state_value))
