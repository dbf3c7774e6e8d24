"""A partner's admin agent signs in once (authorization code with PKCE, MFA as Partner
Center requires); the refresh token it yields lives in Key Vault only and is renewed on
each use. Its loss (revoked, 90 days unused, MFA required again) is the partner's sign-in
health, whose message names the fix: sign in again.

Nothing but the partner-side consent needs it: syncs keep using app-only tokens.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from functions.clients.credentials import Credentials
from functions.clients.delegated import SIGN_IN_AGAIN, Delegated, DelegatedTokens
from functions.clients.vault import SecretStore
from functions.core.config import Settings
from functions.core.errors import AuthenticationError, ErrorCode, InputError, SecretStoreError
from functions.core.model import PartnerConnection, utcnow
from functions.core.sensitive import SecretValue
from functions.core.validation import guid
from functions.storage.partner_access import PartnerAccess, PartnerAccessTable, SignInHealth
from functions.storage.partners import PartnerTable

log = logging.getLogger("tenantsync.partners")

# Where Entra returns the partner's admin agent (a redirect URI registered on the partner
# app, beside the consent callback).
SIGN_IN_CALLBACK_PATH = "/api/partners/sign-in/callback"
SIGN_IN_MINUTES = 15  # a started sign-in must be finished within this
_STATE = re.compile(r"^s1\.([0-9a-f-]{36})\.([0-9a-f]{32})$")
# The callback's parameters (authorization-code response, RFC 6749 4.1.2 and Entra's).
_PARAMETERS = frozenset({"code", "state", "session_state", "client_info", "error",
                         "error_description", "error_uri", "error_subcode"})
_LOST = frozenset({ErrorCode.PARTNER_SIGN_IN_EXPIRED, ErrorCode.PARTNER_MFA_REQUIRED})


def refresh_token_name(partner_tenant_id: str) -> str:
    return f"partner-{partner_tenant_id}-refresh-token"


def flow_name(partner_tenant_id: str) -> str:
    return f"partner-{partner_tenant_id}-sign-in-flow"


@dataclass(frozen=True)
class SignInStart:
    partner_tenant_id: str
    url: str  # where the admin agent signs in
    expires_at: datetime


@dataclass
class _Run:
    """What a run of delegated tokens reads once."""

    partner: PartnerConnection
    material: Any
    refresh_token: SecretValue
    newest: SecretValue | None = None


@dataclass
class PartnerSignIn:
    settings: Settings
    partners: PartnerTable
    access: PartnerAccessTable
    secrets: SecretStore
    credentials: Credentials
    delegated: DelegatedTokens
    clock: Callable[[], datetime] = utcnow
    _runs: dict[str, _Run] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _partner(self, partner_tenant_id: str) -> tuple[PartnerConnection, Any]:
        partner = self.partners.get(guid(partner_tenant_id, "partner tenant ID"))
        material, _ = self.credentials.material_of(partner.partner_credential)
        return partner, material

    def start(self, partner_tenant_id: str) -> SignInStart:
        """Start a sign-in of the partner's admin agent: the URL to open.

        Raises:
            NotFoundError: ``unknown_partner``. ConfigurationError: no public address.
            SecretStoreError / StorageError: the vault or the tables failed.
        """
        partner, material = self._partner(partner_tenant_id)
        pid = partner.partner_tenant_id
        redirect = self.settings.require_public_url() + SIGN_IN_CALLBACK_PATH
        state = f"s1.{pid}.{os.urandom(16).hex()}"
        flow = self.delegated.begin(pid, partner.partner_client_id, material, redirect, state)
        expires = self.clock() + timedelta(minutes=SIGN_IN_MINUTES)
        # The flow holds the PKCE verifier: Key Vault, like every secret.
        self.secrets.put(flow_name(pid), SecretValue(json.dumps(flow)), expires_on=expires,
                         content_type="msal-auth-code-flow")
        record = self.access.find(pid)
        record.pending_state = state
        self.access.save(record)
        return SignInStart(pid, str(flow["auth_uri"]), expires)

    def complete(self, raw_query: str) -> PartnerAccess:
        """Finish a sign-in from Entra's redirect: keep the refresh token in Key Vault.

        Raises:
            InputError: ``invalid_request`` / ``partner_sign_in_failed`` (no such sign-in,
            an error from Entra, a refused code). SecretStoreError / StorageError.
        """
        params = _parameters(raw_query)
        match = _STATE.match(params.get("state", ""))
        if match is None:
            raise InputError("This page was not opened from a partner sign-in of this "
                             "service: start the sign-in again.",
                             code=ErrorCode.PARTNER_SIGN_IN_FAILED)
        pid = match.group(1)
        record = self.access.find(pid)
        if not record.pending_state or record.pending_state != params["state"]:
            raise InputError("This sign-in is not the one started last (or it was finished "
                             "already): start the sign-in again.",
                             code=ErrorCode.PARTNER_SIGN_IN_FAILED)
        if "error" in params:
            raise InputError(_refusal(params["error"], params.get("error_description", "")),
                             code=ErrorCode.PARTNER_SIGN_IN_FAILED)
        try:
            flow = json.loads(self.secrets.get(flow_name(pid), fresh=True).value.reveal())
        except SecretStoreError:
            raise InputError("This sign-in has expired: start it again.",
                             code=ErrorCode.PARTNER_SIGN_IN_FAILED) from None
        partner, material = self._partner(pid)
        signed = self.delegated.finish(pid, partner.partner_client_id, material, flow, params)
        if not signed.refresh_token.reveal():
            raise InputError("Entra gave no refresh token: the partner app must be allowed "
                             "offline_access; start the sign-in again.",
                             code=ErrorCode.PARTNER_SIGN_IN_FAILED)
        self._keep(pid, signed.refresh_token)
        self.secrets.delete(flow_name(pid))
        record.health, record.pending_state = SignInHealth.SIGNED_IN, ""
        record.user_id, record.user_name = signed.user_id, signed.user_name
        record.signed_in_at = record.last_used_at = self.clock()
        record.last_error_code = record.last_error = ""
        if not signed.mfa:
            record.last_error = ("The sign-in carries no MFA claim: Partner Center will refuse "
                                 "consent; sign in again with multi-factor authentication.")
        self.access.save(record)
        log.info("partner %s signed in", pid, extra={"partner_tenant_id": pid})
        return record

    def _keep(self, pid: str, refresh_token: SecretValue) -> None:
        # Refresh tokens live 90 days from their last use (Entra's refresh-token docs).
        self.secrets.put(refresh_token_name(pid), refresh_token,
                         expires_on=self.clock() + timedelta(days=90),
                         content_type="refresh-token")

    def status(self, partner_tenant_id: str) -> PartnerAccess:
        return self.access.find(guid(partner_tenant_id, "partner tenant ID"))

    def token(self, partner_tenant_id: str, tenant_id: str, scope: str) -> SecretValue:
        """A delegated token of the signed-in admin agent for ``scope`` at ``tenant_id``'s
        authority. Within a run (:meth:`begin` .. :meth:`used`) the newest refresh token is
        held in memory and saved once at its end; outside one, at once.

        Raises:
            AuthenticationError: ``partner_not_signed_in``, ``partner_sign_in_expired``,
            ``partner_mfa_required`` (the sign-in's health turns to sign_in_required), or
            what the tenant refused (``partner_app_not_consented``, ``partner_no_access``).
        """
        held = self._runs.get(partner_tenant_id)
        run = held or self._load(partner_tenant_id)
        try:
            got: Delegated = self.delegated.redeem(
                tenant_id, run.partner.partner_client_id, run.material, run.refresh_token,
                scope, run.partner.partner_tenant_id)
        except AuthenticationError as exc:
            if exc.code in _LOST:
                self._lost(run.partner.partner_tenant_id, exc)
            raise
        if got.refresh_token is not None:
            with self._lock:
                # Each use returns a new refresh token; the old one stays valid (Entra's
                # refresh-token docs), so keeping the newest of concurrent uses is enough.
                run.newest = got.refresh_token
        if held is None and run.newest is not None:
            self._keep(run.partner.partner_tenant_id, run.newest)
        return got.access_token

    def begin(self, partner_tenant_id: str) -> None:
        """Start a run of many tokens: the partner, its app's credential and the refresh
        token are read once.

        Raises:
            AuthenticationError: ``partner_not_signed_in``. SecretStoreError.
        """
        self._runs[partner_tenant_id] = self._load(partner_tenant_id)

    def _load(self, partner_tenant_id: str) -> _Run:
        partner, material = self._partner(partner_tenant_id)
        pid = partner.partner_tenant_id
        try:
            stored = self.secrets.get(refresh_token_name(pid), fresh=True).value
        except SecretStoreError as exc:
            if exc.code != ErrorCode.SECRET_MISSING:
                raise
            raise AuthenticationError(
                f"Partner {pid} has not signed in: " + SIGN_IN_AGAIN.format(partner=pid),
                code=ErrorCode.PARTNER_NOT_SIGNED_IN) from None
        return _Run(partner, material, stored)

    def _lost(self, pid: str, exc: AuthenticationError) -> None:
        record = self.access.find(pid)
        record.health = SignInHealth.SIGN_IN_REQUIRED
        record.last_error_code, record.last_error = exc.code, exc.message
        self.access.save(record)

    def used(self, partner_tenant_id: str) -> None:
        """End a run: keep the newest refresh token, record the sign-in's last use."""
        run = self._runs.pop(partner_tenant_id, None)
        if run is not None and run.newest is not None:
            self._keep(partner_tenant_id, run.newest)
        record = self.access.find(partner_tenant_id)
        if record.health == SignInHealth.SIGNED_IN:
            record.last_used_at = self.clock()
            self.access.save(record)


def _parameters(raw_query: str) -> dict[str, str]:
    if len(raw_query) > 8192:
        raise InputError("the address is too long: start the sign-in again",
                         code=ErrorCode.INVALID_REQUEST)
    found: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True, max_num_fields=12):
        if name not in _PARAMETERS or name in found or len(value) > 4096:
            raise InputError(f"the address carries an unexpected parameter ({name[:40]!r}): "
                             "start the sign-in again", code=ErrorCode.INVALID_REQUEST)
        found[name] = value
    return found


def _refusal(error: str, description: str) -> str:
    # Only Entra's code is quoted: the description itself is never shown.
    found = re.search(r"AADSTS[0-9]{1,9}", description)
    cited = f" ({error}{', ' + found.group(0) if found else ''})"
    if error in ("access_denied", "consent_required"):
        return ("The sign-in was cancelled or its permissions declined" + cited + ": start "
                "it again and accept, as a member of the partner's AdminAgents group.")
    if error == "interaction_required":
        return "Entra needs more from the user (MFA)" + cited + ": start the sign-in again."
    return "Entra refused the sign-in" + cited + ": start it again."
