"""App-only tokens from Entra ID through MSAL, signing in with a secret, a certificate or the
function app's managed identity (federated), with token errors turned into fixes people
can do."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msal
import msal.exceptions
import requests

from functions.clients.certificates import (
    PKCS12_CONTENT_TYPE,
    CertificateKey,
    parse_certificate,
    parse_pkcs12,
)
from functions.clients.federation import ManagedIdentityAssertion
from functions.clients.retry import RetryPolicy
from functions.clients.token_errors import consent_hint, explain_token_error
from functions.clients.vault import SecretStore, StoredSecret
from functions.core.errors import AuthenticationError, InputError
from functions.core.model import Credential, CredentialType
from functions.core.sensitive import SecretValue

# What MSAL signs in with: a client secret, a certificate, or the managed identity's
# assertion (a federated credential).
ClientCredential = SecretValue | CertificateKey | ManagedIdentityAssertion

__all__ = ["ClientCredential", "TokenProvider", "VaultCredential", "explain_token_error"]

log = logging.getLogger("tenantsync.tokens")

class TokenProvider:
    """One MSAL confidential client per (tenant authority, app, credential), reused across
    runs.

    Reuse lets MSAL's own cache serve tokens until they near expiry. The credential's
    fingerprint (a secret's hash, a certificate's thumbprint, the managed identity) is part
    of the key, so a secret or certificate saved anew takes effect at the next token request.
    ``federation`` is the function app's managed identity, for federated credentials.
    """

    def __init__(
        self,
        authority_host: str,
        session: requests.Session,
        *,
        instance_discovery: bool = True,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        federation: ManagedIdentityAssertion | None = None,
    ) -> None:
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._authority_host = authority_host.rstrip("/")
        # One copy of each tenant's OpenID configuration per process, whichever app asks.
        self._http = DiscoveryCache(session)
        self._instance_discovery = instance_discovery
        self.federation = federation or ManagedIdentityAssertion(None)
        self._apps: dict[tuple[str, str, str], msal.ConfidentialClientApplication] = {}
        self._lock = threading.Lock()
        # One sign-in at a time per app key: a run's parallel readers all ask for the first
        # token at once, and only the first should reach Entra (the others read MSAL's cache).
        self._signing_in: dict[tuple[str, str, str], threading.Lock] = {}

    def forget(self) -> None:
        """Drop every cached app and token: the next request of each goes to Entra."""
        with self._lock:
            self._apps.clear()

    def forget_app(self, tenant_id: str, client_id: str) -> None:
        """Drop one app's cached tokens in one tenant: after a consent its next token must
        come from Entra (a cached one lacks the roles granted since)."""
        with self._lock:
            for key in [k for k in self._apps if k[:2] == (tenant_id, client_id)]:
                del self._apps[key]

    def _app(
        self, tenant_id: str, client_id: str, credential: ClientCredential
    ) -> msal.ConfidentialClientApplication:
        key = (tenant_id, client_id, _fingerprint(credential))
        with self._lock:
            app = self._apps.get(key)
        if app is not None:
            return app
        # Built outside the lock: MSAL reads the tenant's OpenID configuration while it
        # builds the app (a round trip), and other tenants' tokens must not wait for it.
        app = msal.ConfidentialClientApplication(
            client_id,
            client_credential=_msal_credential(credential),
            authority=f"{self._authority_host}/{tenant_id}",
            http_client=self._http,
            # MSAL calls the public discovery endpoint for unknown hosts unless told
            # not to; sovereign or local hosts set TENANTSYNC_INSTANCE_DISCOVERY=false.
            instance_discovery=self._instance_discovery,
        )
        with self._lock:
            # Drop apps of an older credential of the same tenant and client.
            for old in [k for k in self._apps if k[:2] == key[:2] and k != key]:
                del self._apps[old]
            return self._apps.setdefault(key, app)  # a racing builder's app wins, if first

    def _drop(self, tenant_id: str, client_id: str, credential: ClientCredential) -> None:
        # MSAL answers an identical refused (400) request from its cache for 60 s: after a
        # refusal the next attempt (an admin's fix, a federated credential that has
        # propagated) must reach Entra, so it gets a new app.
        with self._lock:
            self._apps.pop((tenant_id, client_id, _fingerprint(credential)), None)

    def token(self, tenant_id: str, client_id: str, credential: ClientCredential,
              scope: str) -> str:
        """Return an access token for ``scope`` in ``tenant_id``, signing in as app
        ``client_id`` with a secret, a certificate or the managed identity.

        A token endpoint that is busy or down (HTTP 429 or 5xx, AADSTS90055 throttling,
        90033 a transient error, a dropped connection) is asked again with back-off.

        Raises:
            AuthenticationError: with a stable code and the fix, e.g. ``invalid_secret``,
            ``certificate_not_registered``, ``federation_mismatch``;
            ``authority_throttled`` / ``authority_unreachable`` when it stayed busy or down.
        """
        key = (tenant_id, client_id, _fingerprint(credential))
        with self._lock:
            signing_in = self._signing_in.setdefault(key, threading.Lock())
        attempt = 0
        while True:
            try:
                with signing_in:
                    return self._token_once(tenant_id, client_id, credential, scope)
            except _Transient as transient:
                if not self._retry.may_retry(attempt):
                    raise AuthenticationError(
                        f"The token endpoint for tenant {tenant_id} {transient.what} after "
                        f"{attempt + 1} attempts; the next run will try again",
                        code=transient.code,
                    ) from None
                self._sleep(self._retry.wait(attempt))
                attempt += 1

    def _token_once(self, tenant_id: str, client_id: str, credential: ClientCredential,
                    scope: str) -> str:
        try:
            app = self._app(tenant_id, client_id, credential)
            result = app.acquire_token_for_client(scopes=[scope])
        except ValueError as exc:
            # MSAL raises ValueError ("Unable to get authority configuration") when the
            # tenant's OpenID discovery document answers 4xx, which is how Entra refuses an
            # unknown tenant (AADSTS90002) before any token request.
            self._drop(tenant_id, client_id, credential)
            text = str(exc)
            if any(m in text for m in ("90002", "authority configuration", "OIDC Discovery")):
                raise explain_token_error(
                    {"error_codes": [90002]}, tenant_id, client_id) from None
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
        self._drop(tenant_id, client_id, credential)
        hints = {**_hints(credential),
                 "consent": consent_hint(self._authority_host, tenant_id, client_id, scope)}
        raise explain_token_error(result, tenant_id, client_id, hints)


class DiscoveryCache:
    """The HTTP client MSAL is given: GETs that succeed (a tenant's OpenID configuration,
    instance discovery) are kept for a day and shared by every app of the process; token
    POSTs always go out. MSAL keeps such GETs for a day too, but per app, and an app is
    built anew for each credential version and after each refusal."""

    def __init__(self, session: requests.Session, max_age: float = 86_400.0) -> None:
        self.session = session
        self._max_age = max_age
        self._kept: dict[str, tuple[float, requests.Response]] = {}
        self._lock = threading.Lock()

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        key = f"{url}?{sorted((kwargs.get('params') or {}).items())}"
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and kept[0] > time.monotonic():
            return kept[1]
        response = self.session.get(url, **kwargs)
        if 200 <= response.status_code < 300:
            with self._lock:
                self._kept[key] = (time.monotonic() + self._max_age, response)
        return response

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        return self.session.post(url, **kwargs)

    def close(self) -> None:
        """MSAL may close its client; the session is the process's and stays open."""


def _fingerprint(credential: ClientCredential) -> str:
    if isinstance(credential, SecretValue):
        return hashlib.sha256(credential.reveal().encode()).hexdigest()
    if isinstance(credential, CertificateKey):
        return "certificate:" + credential.thumbprint
    return credential.fingerprint


def _msal_credential(credential: ClientCredential) -> Any:
    if isinstance(credential, SecretValue):
        return credential.reveal()
    if isinstance(credential, CertificateKey):
        # With the certificate and no thumbprint MSAL computes the SHA-256 thumbprint and
        # signs PS256 with x5t#S256, the form Entra's certificate-credential docs ask for.
        return {"private_key": credential.private_key.reveal(),
                "public_certificate": credential.certificate}
    # MSAL calls it for each token request it sends; it answers from its own cache.
    return {"client_assertion": credential}


def _hints(credential: ClientCredential) -> dict[str, str]:
    if isinstance(credential, CertificateKey):
        return {"thumbprint": credential.thumbprint}
    if isinstance(credential, ManagedIdentityAssertion):
        return credential.hints()
    return {}


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


# Refusals after which a credential is read again from Key Vault: another instance may have
# saved a new version meanwhile (rotation without downtime).
_REREAD = {
    CredentialType.SECRET: frozenset({"invalid_secret", "secret_expired"}),
    CredentialType.CERTIFICATE: frozenset({"certificate_not_registered",
                                           "certificate_expired", "invalid_assertion"}),
}


def certificate_of(stored: StoredSecret) -> CertificateKey:
    """The certificate a Key Vault secret holds: PEM (key and certificate), or a Key Vault
    certificate's PKCS#12 (by its content type).

    Raises:
        InputError: ``invalid_certificate`` and the like, naming the Key Vault secret.
    """
    what = f"Key Vault secret {stored.name!r}"
    if stored.content_type == PKCS12_CONTENT_TYPE:
        return parse_pkcs12(stored.value.reveal(), what=what)
    return parse_certificate(stored.value.reveal(), what=what)


class VaultCredential:
    """Tokens for one app in one tenant, with the app's credential: a secret or a
    certificate kept in Key Vault, or the function app's managed identity (federated).

    A secret or certificate comes from the store, which may answer from its short cache. If
    the token endpoint refuses it, it is read again from the vault and, when another
    instance has saved a newer version meanwhile, the request is retried once with it: a
    rotated credential takes effect at the next token request, with no downtime.
    ``expires_on`` is when the credential expires (``None``: never, as a federated one).
    """

    def __init__(
        self, tokens: TokenProvider, secrets: SecretStore, tenant_id: str, client_id: str,
        credential: Credential | str, scope: str,
    ) -> None:
        self._tokens, self._secrets = tokens, secrets
        self.tenant_id, self.client_id, self.scope = tenant_id, client_id, scope
        # A bare name is a secret's (how every connection was kept before credential types).
        self.credential = (credential if isinstance(credential, Credential)
                           else Credential(CredentialType.SECRET, credential))
        self._material: ClientCredential
        self._version = ""
        self.expires_on: datetime | None = None
        self._load(fresh=False)
        self._token: tuple[float, str] | None = None

    def _load(self, *, fresh: bool) -> None:
        """Read the credential (Key Vault for a secret or certificate).

        Raises:
            SecretStoreError: the vault failed or has no such secret.
            InputError: the vault's certificate is not a usable key and certificate.
        """
        kind = self.credential.type
        if kind == CredentialType.FEDERATED:
            self._material, self.expires_on = self._tokens.federation, None
            return
        stored = self._secrets.get(self.credential.key_vault_name, fresh=fresh)
        self._version = stored.version
        if kind == CredentialType.SECRET:
            self._material, self.expires_on = stored.value, stored.expires_on
            return
        certificate = certificate_of(stored)
        self._material, self.expires_on = certificate, certificate.expires_on

    @property
    def material(self) -> ClientCredential:
        """What MSAL signs in with (a secret, a certificate key, the identity's assertion)."""
        return self._material

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
            return self._tokens.token(self.tenant_id, self.client_id, self._material,
                                      self.scope)
        except AuthenticationError as exc:
            if exc.code not in _REREAD.get(self.credential.type, frozenset()):
                raise
            before = self._version
            try:
                self._load(fresh=True)
            except InputError:
                raise exc from None
            if self._version == before:
                raise
            return self._tokens.token(self.tenant_id, self.client_id, self._material,
                                      self.scope)

