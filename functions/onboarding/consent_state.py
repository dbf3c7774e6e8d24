"""The ``state`` of an admin-consent link: a CSRF token bound to one consent request, signed
(HMAC-SHA256 with a key kept in Key Vault, made on first use) and expiring; and the
callback's query, checked parameter by parameter before anything trusts it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from functions.clients.vault import SecretStore
from functions.core.errors import ErrorCode, InputError, SecretStoreError
from functions.core.sensitive import SecretValue

STATE_KEY_NAME = "consent-state-key"
_STATE = re.compile(r"^c1\.([0-9a-f]{32})\.([0-9]{10})\.([A-Za-z0-9_-]{43})$")
MAX_QUERY = 8192  # the callback's whole query string
# The parameters the v2.0 admin-consent endpoint sends back: on success admin_consent,
# tenant, scope, state; on an error error, error_description (and error_uri), state.
_PARAMETERS: dict[str, tuple[int, re.Pattern[str]]] = {
    "admin_consent": (5, re.compile(r"^(?i:true|false)$")),
    "tenant": (36, re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")),
    "scope": (1024, re.compile(r"^[\x20-\x7e]*$")),
    "state": (128, re.compile(r"^[A-Za-z0-9._-]*$")),
    "error": (64, re.compile(r"^[a-z_]+$")),
    "error_description": (4096, re.compile(r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")),
    "error_uri": (1024, re.compile(r"^https://[\x21-\x7e]+$")),
    "error_subcode": (64, re.compile(r"^[a-z_]+$")),  # "cancel" (MSAL's OAuth2 responses)
}


def callback_parameters(raw_query: str) -> dict[str, str]:
    """The callback's parameters, each known, once, and in its shape and size.

    Raises:
        InputError: ``invalid_request`` naming the parameter (never echoing its value).
    """
    if len(raw_query) > MAX_QUERY:
        raise InputError(f"the address is longer than {MAX_QUERY} characters: open the "
                         "consent link again", code=ErrorCode.INVALID_REQUEST)
    try:
        pairs = parse_qsl(raw_query, keep_blank_values=True, strict_parsing=False,
                          max_num_fields=len(_PARAMETERS) + 1)
    except ValueError:
        raise InputError("the address carries too many parameters: open the consent link "
                         "again", code=ErrorCode.INVALID_REQUEST) from None
    found: dict[str, str] = {}
    for name, value in pairs:
        if name not in _PARAMETERS:
            raise InputError(f"the address carries an unexpected parameter ({name[:40]!r}): "
                             "open the consent link again", code=ErrorCode.INVALID_REQUEST)
        if name in found:
            raise InputError(f"the address carries {name} twice: open the consent link again",
                             code=ErrorCode.INVALID_REQUEST)
        limit, shape = _PARAMETERS[name]
        if len(value) > limit or not shape.match(value):
            raise InputError(f"the address's {name} is malformed: open the consent link again",
                             code=ErrorCode.INVALID_REQUEST)
        found[name] = value
    return found


class StateSigner:
    """Signs and verifies consent states with the deployment's key in Key Vault."""

    def __init__(self, secrets: SecretStore) -> None:
        self._secrets = secrets

    def _key(self, *, fresh: bool = False, create: bool = True) -> bytes | None:
        try:
            stored = self._secrets.get(STATE_KEY_NAME, fresh=fresh)
        except SecretStoreError as exc:
            if exc.code != ErrorCode.SECRET_MISSING:
                raise
            if not create:
                return None  # no link was ever made here: no state can be ours
            value = base64.b64encode(os.urandom(32)).decode()
            self._secrets.put(STATE_KEY_NAME, SecretValue(value), expires_on=None,
                              content_type="hmac-sha256-key")
            # Two instances making the first key at once: both sign with the latest one.
            stored = self._secrets.get(STATE_KEY_NAME, fresh=True)
        return base64.b64decode(stored.value.reveal())

    def sign(self, consent_id: str, expires_at: datetime) -> str:
        """The state of a link to consent request ``consent_id``, valid until ``expires_at``.

        Raises:
            SecretStoreError: the vault failed.
        """
        body = f"c1.{consent_id}.{int(expires_at.timestamp()):010d}"
        key = self._key()
        assert key is not None
        return f"{body}.{_mac(key, body)}"

    def verify(self, state: str, now: datetime) -> str:
        """The consent request a state names, if this deployment signed it and it has not
        expired.

        Raises:
            InputError: ``invalid_consent_state`` (not a state of ours: made up, changed or
            cut short), ``consent_link_expired``.
            SecretStoreError: the vault failed.
        """
        match = _STATE.match(state)
        if match is None or not self._signed(state):
            raise InputError(
                "This page was not opened from a consent link of this service (its state is "
                "missing, changed or not ours): ask your provider for a new link.",
                code=ErrorCode.INVALID_CONSENT_STATE)
        if datetime.fromtimestamp(int(match.group(2)), UTC) <= now:
            raise InputError("This consent link has expired: ask your provider for a new one.",
                             code=ErrorCode.CONSENT_LINK_EXPIRED)
        return match.group(1)

    def _signed(self, state: str) -> bool:
        body, _, mac = state.rpartition(".")
        key = self._key(create=False)
        if key is None:
            return False
        if hmac.compare_digest(_mac(key, body), mac):
            return True
        # The key may have been replaced since this instance read it.
        fresh = self._key(fresh=True, create=False)
        return fresh is not None and hmac.compare_digest(_mac(fresh, body), mac)


def _mac(key: bytes, body: str) -> str:
    digest = hmac.new(key, body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")

