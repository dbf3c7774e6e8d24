"""App-only tokens from Entra ID through MSAL, with token errors turned into fixes people can do."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import msal
import msal.exceptions
import requests

from functions.clients.retry import RetryPolicy
from functions.clients.vault import SecretStore, StoredSecret
from functions.core.errors import AuthenticationError
from functions.core.sensitive import SecretValue

log = logging.getLogger("tenantsync.tokens")

# AADSTS code -> (our error code, what to do). {tenant} and {client} are filled in.
_TOKEN_ERRORS: dict[int, tuple[str, str]] = {
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
        "that the app is registered in this tenant or an admin has consented to it there.",
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
        "An administrator of tenant {tenant} has not consented to app {client}: grant admin "
        "consent on the app's API permissions page.",
    ),
    500011: (
        "resource_not_found",
        "The requested API is not available in tenant {tenant}: check the scope.",
    ),
}

_AADSTS = re.compile(r"AADSTS(\d+)")


def explain_token_error(
    result: dict[str, Any], tenant_id: str, client_id: str
) -> AuthenticationError:
    """Turn an MSAL error result into an AuthenticationError with an actionable message."""
    codes = result.get("error_codes") or []
    description = str(result.get("error_description") or "")
    aadsts: int | None = int(codes[0]) if codes else None
    if aadsts is None:
        match = _AADSTS.search(description)
        aadsts = int(match.group(1)) if match else None
    if aadsts in _TOKEN_ERRORS:
        code, text = _TOKEN_ERRORS[aadsts]
        message = text.format(tenant=tenant_id, client=client_id)
        return AuthenticationError(f"{message} (AADSTS{aadsts})", code=code, aadsts=aadsts)
    # Unknown code: keep Entra's first line, which names the problem without secrets.
    first_line = description.splitlines()[0] if description else str(result.get("error"))
    return AuthenticationError(
        f"Token request for app {client_id} in tenant {tenant_id} failed: {first_line[:300]}",
        code="token_failed", aadsts=aadsts,
    )


class TokenProvider:
    """One MSAL confidential client per (tenant authority, app, secret), reused across runs.

    Reuse lets MSAL's own cache serve tokens until they near expiry. The secret's hash is
    part of the key, so a secret saved anew takes effect at the next token request.
    """

    def __init__(
        self,
        authority_host: str,
        session: requests.Session,
        *,
        instance_discovery: bool = True,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._authority_host = authority_host.rstrip("/")
        self._session = session
        self._instance_discovery = instance_discovery
        self._apps: dict[tuple[str, str, str], msal.ConfidentialClientApplication] = {}
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Drop every cached app and token: the next request of each goes to Entra."""
        with self._lock:
            self._apps.clear()

    def _app(
        self, tenant_id: str, client_id: str, secret: SecretValue
    ) -> msal.ConfidentialClientApplication:
        fingerprint = hashlib.sha256(secret.reveal().encode()).hexdigest()
        key = (tenant_id, client_id, fingerprint)
        with self._lock:
            app = self._apps.get(key)
        if app is not None:
            return app
        # Built outside the lock: MSAL reads the tenant's OpenID configuration while it
        # builds the app (a round trip), and other tenants' tokens must not wait for it.
        app = msal.ConfidentialClientApplication(
            client_id,
            client_credential=secret.reveal(),
            authority=f"{self._authority_host}/{tenant_id}",
            http_client=self._session,
            # MSAL calls the public discovery endpoint for unknown hosts unless told
            # not to; sovereign or local hosts set TENANTSYNC_INSTANCE_DISCOVERY=false.
            instance_discovery=self._instance_discovery,
        )
        with self._lock:
            # Drop apps of an older secret of the same tenant and client.
            for old in [k for k in self._apps if k[:2] == key[:2] and k != key]:
                del self._apps[old]
            return self._apps.setdefault(key, app)  # a racing builder's app wins, if first

    def token(self, tenant_id: str, client_id: str, secret: SecretValue, scope: str) -> str:
        """Return an access token for ``scope`` in ``tenant_id``.

        A token endpoint that is busy or down (HTTP 429 or 5xx, AADSTS90055 throttling,
        90033 a transient error, a dropped connection) is asked again with back-off.

        Raises:
            AuthenticationError: with a stable code and the fix, e.g. ``invalid_secret``;
            ``authority_throttled`` / ``authority_unreachable`` when it stayed busy or down.
        """
        attempt = 0
        while True:
            try:
                return self._token_once(tenant_id, client_id, secret, scope)
            except _Transient as transient:
                if not self._retry.may_retry(attempt):
                    raise AuthenticationError(
                        f"The token endpoint for tenant {tenant_id} {transient.what} after "
                        f"{attempt + 1} attempts; the next run will try again",
                        code=transient.code,
                    ) from None
                self._sleep(self._retry.wait(attempt))
                attempt += 1

    def _token_once(self, tenant_id: str, client_id: str, secret: SecretValue,
                    scope: str) -> str:
        try:
            app = self._app(tenant_id, client_id, secret)
            result = app.acquire_token_for_client(scopes=[scope])
        except ValueError as exc:
            # MSAL raises ValueError ("Unable to get authority configuration") when the
            # tenant's OpenID discovery document answers 4xx, which is how Entra refuses an
            # unknown tenant (AADSTS90002) before any token request.
            text = str(exc)
            if any(m in text for m in ("90002", "authority configuration", "OIDC Discovery")):
                raise explain_token_error(
                    {"error_codes": [90002]}, tenant_id, client_id
                ) from None
            raise AuthenticationError(
                f"Could not reach the authority for tenant {tenant_id}: check "
                "TENANTSYNC_AUTHORITY_HOST and the tenant ID",
                code="authority_unreachable",
            ) from None
        except (requests.RequestException, msal.exceptions.MsalServiceError) as exc:
            # MSAL raises MsalServiceError for a 5xx answer (raise_for_status of its
            # throttled HTTP client), requests' exceptions for a connection that failed.
            log.warning("token request for tenant %s failed: %s: %s", tenant_id,
                        type(exc).__name__, str(exc)[:300])
            raise _Transient("authority_unreachable", "could not be reached") from None
        if "access_token" in result:
            return str(result["access_token"])
        if _is_transient(result):
            # The description names the AADSTS code only (no secret); kept for whoever debugs.
            log.warning("token endpoint busy for tenant %s: %s", tenant_id,
                        str(result.get("error_description", ""))[:200])
            raise _Transient("authority_throttled", "kept answering that it is busy")
        raise explain_token_error(result, tenant_id, client_id)


# AADSTS90055 TenantThrottlingError (too many requests), 90033 a transient error: Entra
# asks for the same request again later (the OAuth error "temporarily_unavailable").
_TRANSIENT_AADSTS = frozenset({90055, 90033})


def _is_transient(result: dict[str, Any]) -> bool:
    codes = {int(c) for c in result.get("error_codes") or [] if str(c).isdigit()}
    return (result.get("error") == "temporarily_unavailable"
            or bool(codes & _TRANSIENT_AADSTS))


class _Transient(Exception):
    def __init__(self, code: str, what: str) -> None:
        super().__init__(code)
        self.code, self.what = code, what


class VaultCredential:
    """Tokens for one app in one tenant, with the app's secret kept in Key Vault.

    The secret comes from the store, which may answer from its short cache. If the token
    endpoint refuses it as invalid or expired, the secret is read again from the vault and,
    when another instance has saved a newer version meanwhile, the request is retried once
    with it: a rotated secret takes effect at the next token request, with no downtime.
    """

    def __init__(
        self, tokens: TokenProvider, secrets: SecretStore, tenant_id: str, client_id: str,
        secret_name: str, scope: str,
    ) -> None:
        self._tokens, self._secrets = tokens, secrets
        self.tenant_id, self.client_id, self.scope = tenant_id, client_id, scope
        self._name = secret_name
        self.secret: StoredSecret = secrets.get(secret_name)
        self._token: tuple[float, str] | None = None

    def __call__(self) -> str:
        # One run asks for its token before every request; MSAL's cache would answer, but
        # each answer is a cache search, so a token is reused here for a minute (MSAL
        # renews tokens five minutes before they expire, so it stays valid meanwhile).
        now = time.monotonic()
        if self._token is not None and self._token[0] > now:
            return self._token[1]
        token = self._fetch()
        self._token = (now + 60.0, token)
        return token

    def _fetch(self) -> str:
        try:
            return self._tokens.token(self.tenant_id, self.client_id, self.secret.value,
                                      self.scope)
        except AuthenticationError as exc:
            if exc.code not in ("invalid_secret", "secret_expired"):
                raise
            fresh = self._secrets.get(self._name, fresh=True)
            if fresh.version == self.secret.version:
                raise
            self.secret = fresh
            return self._tokens.token(self.tenant_id, self.client_id, fresh.value, self.scope)
