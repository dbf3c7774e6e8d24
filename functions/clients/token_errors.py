"""Entra's token errors (AADSTS codes) turned into our codes and the fix a person can do,
for secrets, certificates and federated credentials alike."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from functions.core.errors import AuthenticationError

_FEDERATED_FIX = (
    "add a federated credential to app {client} (Certificates & secrets > Federated "
    "credentials, in the app's home tenant) with issuer {issuer}, subject {subject} (the "
    "managed identity's principal ID) and audience api://AzureADTokenExchange"
)

# AADSTS code -> (our error code, what to do). {tenant}, {client} and the credential's hints
# ({thumbprint} of a certificate; {issuer}, {subject} of a managed identity) are filled in.
TOKEN_ERRORS: dict[int, tuple[str, str]] = {
    7000215: (
        "invalid_secret",
        "The client secret is not valid for app {client}. Did you paste the secret ID instead "
        "of its value? Create a new client secret and save its Value.",
    ),
    7000222: (
        "secret_expired",
        "The client secret of app {client} has expired. Create a new client secret in the app "
        "registration (Certificates & secrets) and save its Value for tenant {tenant}.",
    ),
    7000218: (
        "secret_missing",
        "No client secret was sent for app {client}: save the secret's Value for tenant {tenant}.",
    ),
    700016: (
        "app_not_found",
        "App {client} was not found in tenant {tenant}: check the Application (client) ID, and "
        "that the app is registered in this tenant or consented to there; {consent}.",
    ),
    90002: (
        "tenant_not_found",
        "Tenant {tenant} was not found: check the Directory (tenant) ID on the tenant's "
        "Entra ID overview page.",
    ),
    7000112: (
        "app_disabled",
        "App {client} is disabled in tenant {tenant}: enable its enterprise application.",
    ),
    65001: (
        "consent_missing",
        "An administrator of tenant {tenant} has not consented to app {client}: have one grant "
        "admin consent on the app's API permissions page; or {consent}.",
    ),
    500011: (
        "resource_not_found",
        "The requested API is not available in tenant {tenant}: check the scope.",
    ),
    # Certificates (Azure SDK troubleshooting: 700027 "key was not found" / "invalid signature")
    700027: (
        "certificate_not_registered",
        "App {client} does not accept the certificate with SHA-256 thumbprint {thumbprint}: "
        "upload the certificate's public part (.cer or .pem) under the app registration's "
        "Certificates & secrets > Certificates, or save the key that belongs to it.",
    ),
    1000502: (
        "certificate_expired",
        "The certificate {thumbprint} of app {client} has expired: make a new one, upload its "
        "public part to the app registration and save it for tenant {tenant}.",
    ),
    700021: (
        "invalid_assertion",
        "The client assertion names another app than {client}: check the Application (client) "
        "ID saved for tenant {tenant}.",
    ),
    700023: (
        "invalid_assertion",
        "The client assertion of app {client} was made for another token endpoint: check "
        "TENANTSYNC_AUTHORITY_HOST.",
    ),
    700024: (
        "invalid_assertion",
        "The client assertion of app {client} is outside its valid time range: check the "
        "clock of the machine that runs tenantsync.",
    ),
    # Federated credentials (workload identity federation error references)
    700211: ("federation_mismatch",
             "No federated credential of app {client} has the managed identity's issuer: "
             + _FEDERATED_FIX + "."),
    700212: ("federation_mismatch",
             "No federated credential of app {client} has the audience api://AzureADTokenExchange: "
             + _FEDERATED_FIX + "."),
    700213: ("federation_mismatch",
             "No federated credential of app {client} has the managed identity as its subject: "
             + _FEDERATED_FIX + "."),
    70021: (
        "federation_pending",
        "No federated credential of app {client} matches the managed identity yet (issuer "
        "{issuer}, subject {subject}): a credential added in the last minutes is still being "
        "applied, so try again shortly; otherwise " + _FEDERATED_FIX + ".",
    ),
    700236: (
        "federation_wrong_tenant",
        "App {client} is registered in another tenant than the managed identity, and a "
        "federated credential works only on an app of the identity's own tenant: onboard "
        "tenant {tenant} through the deployment's multitenant app (a consent link), or give "
        "this app a secret or a certificate.",
    ),
}

_AADSTS = re.compile(r"AADSTS(\d+)")


def admin_consent_url(authority_host: str, tenant_id: str, client_id: str, scope: str) -> str:
    """Where an admin of ``tenant_id`` consents to the app's application permissions (the
    v2.0 admin consent endpoint; Entra also needs a ``redirect_uri`` registered on the app)."""
    query = urlencode({"client_id": client_id, "scope": scope})
    return f"{authority_host.rstrip('/')}/{tenant_id}/v2.0/adminconsent?{query}"


def consent_hint(authority_host: str, tenant_id: str, client_id: str, scope: str) -> str:
    """The fix of a missing consent, as a link an admin can open."""
    # The v2.0 endpoint requires redirect_uri, one of the app's own (learn.microsoft.com,
    # "Admin consent on the Microsoft identity platform"); which, only the app's owner knows.
    url = admin_consent_url(authority_host, tenant_id, client_id, scope)
    return f"an admin of the tenant consents at {url}&redirect_uri=<a redirect URI of the app>"


class _Hints(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return f"<{key}>"


def explain_token_error(
    result: Mapping[str, Any], tenant_id: str, client_id: str,
    hints: Mapping[str, str] | None = None,
) -> AuthenticationError:
    """Turn an MSAL error result into an AuthenticationError with an actionable message.

    ``hints`` fill the fix in: a certificate's ``thumbprint``, a managed identity's
    ``issuer`` and ``subject``.
    """
    codes = result.get("error_codes") or []
    description = str(result.get("error_description") or "")
    aadsts: int | None = int(codes[0]) if codes and str(codes[0]).isdigit() else None
    if aadsts is None:
        match = _AADSTS.search(description)
        aadsts = int(match.group(1)) if match else None
    if aadsts in TOKEN_ERRORS:
        code, text = TOKEN_ERRORS[aadsts]
        values = _Hints(hints or {})
        values.update(tenant=tenant_id, client=client_id)
        message = text.format_map(values)
        return AuthenticationError(f"{message} (AADSTS{aadsts})", code=code, aadsts=aadsts)
    # Unknown code: keep Entra's first line, which names the problem without secrets.
    first_line = description.splitlines()[0] if description else str(result.get("error"))
    return AuthenticationError(
        f"Token request for app {client_id} in tenant {tenant_id} failed: {first_line[:300]}",
        code="token_failed", aadsts=aadsts,
    )
