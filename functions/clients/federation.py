"""The function app's managed identity as a federated credential: the client assertion MSAL
sends instead of a secret is the identity's token for ``api://AzureADTokenExchange``."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError

from functions.core.errors import AuthenticationError, ErrorCode

log = logging.getLogger("tenantsync.federation")

# Workload identity federation: the managed identity's token for this audience is the
# assertion (Entra: "api://AzureADTokenExchange" in public Azure).
EXCHANGE_SCOPE = "api://AzureADTokenExchange/.default"
REFRESH_MARGIN_SECONDS = 300.0


def _managed_identity(client_id: str) -> TokenCredential:
    from azure.identity import ManagedIdentityCredential

    # azure-identity reads IDENTITY_ENDPOINT / IDENTITY_HEADER (set by the Functions host)
    # when the credential is built, so it is built on first use, not at import.
    return ManagedIdentityCredential(client_id=client_id)


class ManagedIdentityAssertion:
    """Returns the managed identity's exchange token, cached until five minutes before it
    expires (MSAL calls it on every token request it has to send)."""

    def __init__(self, client_id: str | None,
                 credential: Callable[[str], TokenCredential] = _managed_identity) -> None:
        self.client_id = client_id
        self._make = credential
        self._credential: TokenCredential | None = None
        self._token: tuple[float, str] | None = None
        self._lock = threading.Lock()

    @property
    def fingerprint(self) -> str:
        return f"federated:{self.client_id}"

    def __call__(self) -> str:
        """The assertion.

        Raises:
            AuthenticationError: ``managed_identity_unavailable``, with the fix.
        """
        with self._lock:
            if self._token is not None and self._token[0] - REFRESH_MARGIN_SECONDS > time.time():
                return self._token[1]
            if not self.client_id:
                raise AuthenticationError(
                    "No managed identity is configured for federated credentials: set "
                    "TENANTSYNC_MANAGED_IDENTITY_CLIENT_ID to the client ID of the function "
                    "app's user-assigned identity", code=ErrorCode.MANAGED_IDENTITY_UNAVAILABLE)
            try:
                if self._credential is None:
                    self._credential = self._make(self.client_id)
                token = self._credential.get_token(EXCHANGE_SCOPE)
            except AzureError as exc:
                # azure-identity turns every answer of the identity endpoint into
                # CredentialUnavailableError; its text names the endpoint's reason, no token.
                log.warning("managed identity %s gave no token: %s: %s", self.client_id,
                            type(exc).__name__, str(exc)[:300])
                raise AuthenticationError(
                    f"The function app's managed identity {self.client_id} could not get a "
                    "token: check that TENANTSYNC_MANAGED_IDENTITY_CLIENT_ID is the client ID "
                    "of a user-assigned identity assigned to the function app (locally: "
                    "IDENTITY_ENDPOINT and IDENTITY_HEADER)",
                    code=ErrorCode.MANAGED_IDENTITY_UNAVAILABLE) from None
            self._token = (float(token.expires_on), token.token)
            return token.token

    def hints(self) -> dict[str, str]:
        """The issuer and subject a federated credential must name to trust this identity,
        from its last token (decoded without a signature check: our own token, used here
        only to word the fix)."""
        with self._lock:
            token = self._token[1] if self._token else ""
        claims = _payload(token)
        hints = {"identity": self.client_id or ""}
        if claims.get("iss"):
            hints["issuer"] = str(claims["iss"])
        if claims.get("sub"):
            hints["subject"] = str(claims["sub"])
        return hints


def _payload(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}
