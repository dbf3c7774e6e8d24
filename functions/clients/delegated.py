"""A partner user's delegated tokens through MSAL: the authorization-code flow (a server's
flow, PKCE) that yields a refresh token once, and that refresh token redeemed at any
customer's authority later ("AAD refresh tokens are tenant-independent"; the CSP Graph
guide: the customer tenant is the authority while the agent signs in with the partner's
account). The refresh token is a :class:`SecretValue` from the moment MSAL hands it over.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import warnings
from dataclasses import dataclass
from typing import Any

import msal
import requests

from functions.clients.entra import ClientCredential, _msal_credential
from functions.core.errors import AuthenticationError, ErrorCode
from functions.core.sensitive import SecretValue

log = logging.getLogger("tenantsync.delegated")

# Partner Center's delegated permission (the GDAP guide: the app needs user_impersonation
# of resource fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd).
PARTNER_CENTER_USER = "https://api.partnercenter.microsoft.com/user_impersonation"
PARTNER_CENTER_DEFAULT = "https://api.partnercenter.microsoft.com/.default"
GRAPH_DEFAULT = "https://graph.microsoft.com/.default"

SIGN_IN_AGAIN = ("sign in again as the partner's admin agent (tenantsync partner sign-in "
                 "--partner-tenant-id {partner}; POST /api/partners/{partner}/sign-in)")
# AADSTS codes -> (our code, what happened). 50173: grant revoked (a password change);
# 700082: unused for 90 days; 70008: code or token expired; 50076/50079: MFA needed again;
# 65001: the partner app is not consented in that customer; 50020: no GDAP access there.
_REFUSALS: dict[int, tuple[ErrorCode, str]] = {
    50173: (ErrorCode.PARTNER_SIGN_IN_EXPIRED, "the partner's sign-in was revoked (a "
            "password change or an administrator's revocation)"),
    700082: (ErrorCode.PARTNER_SIGN_IN_EXPIRED, "the partner's sign-in expired after 90 days "
             "without use"),
    70008: (ErrorCode.PARTNER_SIGN_IN_EXPIRED, "the partner's sign-in has expired"),
    9002313: (ErrorCode.PARTNER_SIGN_IN_EXPIRED, "the stored partner sign-in is not valid"),
    50034: (ErrorCode.PARTNER_SIGN_IN_EXPIRED, "the signed-in partner user no longer exists"),
    50076: (ErrorCode.PARTNER_MFA_REQUIRED, "multi-factor authentication is required again"),
    50079: (ErrorCode.PARTNER_MFA_REQUIRED, "multi-factor authentication is required again"),
    65001: (ErrorCode.PARTNER_APP_NOT_CONSENTED, "the partner app has no delegated consent in "
            "this customer yet"),
    50020: (ErrorCode.PARTNER_NO_ACCESS, "the partner user has no GDAP access to this "
            "customer (no active relationship, or not in a group it assigns)"),
}


@dataclass(frozen=True)
class SignedIn:
    """What one interactive sign-in yields."""

    user_id: str  # the partner user's object id
    user_name: str  # preferred_username, for people to recognise (not a secret)
    refresh_token: SecretValue
    access_token: SecretValue
    mfa: bool


@dataclass(frozen=True)
class Delegated:
    """A delegated access token and the refresh token that came with it (None: none did)."""

    access_token: SecretValue
    refresh_token: SecretValue | None


class DelegatedTokens:
    """MSAL confidential clients for a partner's app, one per authority, built per use (no
    token cache kept: the refresh token lives in Key Vault only)."""

    def __init__(self, authority_host: str, session: requests.Session, *,
                 instance_discovery: bool = True) -> None:
        self._authority_host = authority_host.rstrip("/")
        self._session = session
        self._instance_discovery = instance_discovery

    def _app(self, tenant_id: str, client_id: str,
             credential: ClientCredential) -> msal.ConfidentialClientApplication:
        try:
            return msal.ConfidentialClientApplication(
                client_id, client_credential=_msal_credential(credential),
                authority=f"{self._authority_host}/{tenant_id}", http_client=self._session,
                instance_discovery=self._instance_discovery)
        except ValueError:
            raise AuthenticationError(f"Tenant {tenant_id} was not found or its authority "
                                      "could not be reached", code=ErrorCode.TENANT_NOT_FOUND
                                      ) from None

    def begin(self, partner_tenant_id: str, client_id: str, credential: ClientCredential,
              redirect_uri: str, state: str) -> dict[str, Any]:
        """A new authorization-code flow (with PKCE): its ``auth_uri`` is where the partner
        user signs in; the whole dict is needed to finish it (it holds the PKCE verifier)."""
        app = self._app(partner_tenant_id, client_id, credential)
        with warnings.catch_warnings():
            # MSAL recommends form_post; the code comes back in the query to a GET page (as
            # the admin-consent callback), used once and bound to this flow's PKCE verifier.
            warnings.simplefilter("ignore", UserWarning)
            return dict(app.initiate_auth_code_flow(
                [PARTNER_CENTER_USER], redirect_uri=redirect_uri, state=state))

    def finish(self, partner_tenant_id: str, client_id: str, credential: ClientCredential,
               flow: dict[str, Any], params: dict[str, str]) -> SignedIn:
        """Redeem the code Entra sent back.

        Raises:
            AuthenticationError: the sign-in failed or was refused (the code says why).
        """
        app = self._app(partner_tenant_id, client_id, credential)
        try:
            result = app.acquire_token_by_auth_code_flow(flow, params)
        except ValueError:  # MSAL: state mismatch, or a nonce that does not match
            raise AuthenticationError("The sign-in answer does not belong to the sign-in "
                                      "that was started: start it again.",
                                      code=ErrorCode.PARTNER_SIGN_IN_FAILED) from None
        tokens = _tokens(result, partner_tenant_id, "the sign-in")
        claims = result.get("id_token_claims") or {}
        return SignedIn(user_id=str(claims.get("oid") or ""),
                        user_name=str(claims.get("preferred_username") or ""),
                        refresh_token=tokens.refresh_token or SecretValue(""),
                        access_token=tokens.access_token, mfa=_has_mfa(result))

    def redeem(self, tenant_id: str, client_id: str, credential: ClientCredential,
               refresh_token: SecretValue, scope: str, partner_tenant_id: str) -> Delegated:
        """A delegated token for ``scope`` at ``tenant_id``'s authority.

        Raises:
            AuthenticationError: ``partner_sign_in_expired``, ``partner_mfa_required``,
            ``partner_app_not_consented``, ``partner_no_access`` or ``token_failed``.
        """
        app = self._app(tenant_id, client_id, credential)
        try:
            result = app.acquire_token_by_refresh_token(refresh_token.reveal(), [scope])
        except (requests.RequestException, msal.exceptions.MsalServiceError):
            raise AuthenticationError(f"The token endpoint of tenant {tenant_id} could not be "
                                      "reached; try again shortly",
                                      code=ErrorCode.AUTHORITY_UNREACHABLE) from None
        return _tokens(result, partner_tenant_id, f"tenant {tenant_id}")


def _has_mfa(result: dict[str, Any]) -> bool:
    """Whether the access token's ``amr`` says MFA (read unverified, as ``token_roles``)."""
    parts = str(result.get("access_token") or "").split(".")
    if len(parts) != 3:
        return False
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeError, binascii.Error):
        return False
    amr = claims.get("amr") if isinstance(claims, dict) else None
    return isinstance(amr, list) and "mfa" in amr


def _tokens(result: dict[str, Any], partner: str, where: str) -> Delegated:
    if "access_token" in result:
        refresh = result.get("refresh_token")
        return Delegated(SecretValue(str(result["access_token"])),
                         SecretValue(str(refresh)) if refresh else None)
    codes = [int(c) for c in result.get("error_codes") or [] if str(c).isdigit()]
    for code in codes:
        if code in _REFUSALS:
            ours, what = _REFUSALS[code]
            fix = SIGN_IN_AGAIN.format(partner=partner)
            tail = f": {fix}" if ours in (ErrorCode.PARTNER_SIGN_IN_EXPIRED,
                                         ErrorCode.PARTNER_MFA_REQUIRED) else ""
            return _raise(f"At {where}, {what}{tail} (AADSTS{code})", ours, code)
    first = str(result.get("error_description") or result.get("error") or "").splitlines()
    return _raise(f"At {where}, the delegated token request failed: "
                  f"{(first[0] if first else 'no answer')[:200]}", ErrorCode.TOKEN_FAILED,
                  codes[0] if codes else None)


def _raise(message: str, code: ErrorCode, aadsts: int | None) -> Delegated:
    raise AuthenticationError(message, code=code, aadsts=aadsts)
