"""Taking Graph's notifications: which to act on, which to refuse. Nothing in them is
trusted as data: an accepted notification only names a tenant whose directory to sync.

Basic notifications carry no signature; Microsoft's guidance is to compare `clientState`
with the value given at creation (change-notifications-with-resource-data, "Validating the
authenticity of notifications"), here in constant time against Key Vault's copy.
"""

from __future__ import annotations

import hmac
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from functions.clients.vault import SecretStore
from functions.core import telemetry
from functions.core.errors import ErrorCode, InputError, SecretStoreError
from functions.core.model import utcnow
from functions.core.validation import is_guid
from functions.notifications.store import SubscriptionTable

MAX_BODY = 64 * 1024  # the API's own limit: about 90 notifications in one POST
# Graph retries a delivery for up to 4 hours; a notification with an `id` is the same one
# for that long. Without an id only the content tells, and two real changes of one object
# look alike: refused as a replay only when close together (the first one's sync reads both).
REPLAY_WINDOW = timedelta(hours=4)
REPLAY_WINDOW_WITHOUT_ID = timedelta(seconds=60)
MAX_TOKEN_LENGTH = 1024  # a validation token longer than this is not Graph's


class Refusal(StrEnum):
    """Why a notification (or a whole POST) was refused: a telemetry dimension."""

    MALFORMED = "malformed"
    OVERSIZED = "oversized"
    UNKNOWN_SUBSCRIPTION = "unknown_subscription"  # never ours, or removed
    WRONG_CLIENT_STATE = "wrong_client_state"
    REPLAY = "replay"


@dataclass(frozen=True)
class Accepted:
    """One notification to act on: a change, or a lifecycle event."""

    tenant_id: str
    subscription_id: str
    lifecycle_event: str = ""  # empty for a change notification
    fingerprint: bytes = b""


@dataclass
class Received:
    accepted: list[Accepted] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)

    @property
    def tenants(self) -> list[str]:
        """Tenants whose directory changed, each once, in the order heard."""
        return list(dict.fromkeys(a.tenant_id for a in self.accepted if not a.lifecycle_event))


def refuse(reason: Refusal, count: int = 1, tenant_id: str = "") -> None:
    """Count refusals in telemetry (no content of the notification, which may be forged)."""
    telemetry.emit("tenantsync.notification_refused", reason=reason.value, count=count,
                   tenant_id=tenant_id)


def parse(body: bytes) -> list[dict[str, Any]]:
    """The notifications of a POST.

    Raises:
        InputError: ``body_too_large`` over :data:`MAX_BODY`; ``invalid_json`` for anything
        but ``{"value": [objects]}``.
    """
    if len(body) > MAX_BODY:
        refuse(Refusal.OVERSIZED)
        raise InputError(f"notification body is over {MAX_BODY // 1024} KiB",
                         code=ErrorCode.BODY_TOO_LARGE)
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        payload = None
    value = payload.get("value") if isinstance(payload, dict) else None
    if not isinstance(value, list) or not value or not all(isinstance(n, dict) for n in value):
        refuse(Refusal.MALFORMED)
        raise InputError('a notification body is {"value": [notifications]}',
                         code=ErrorCode.INVALID_JSON)
    return value


@dataclass
class NotificationReceiver:
    table: SubscriptionTable
    secrets: SecretStore
    clock: Callable[[], datetime] = utcnow

    def receive(self, body: bytes, *, lifecycle: bool = False) -> Received:
        """Check each notification of a POST (raises as :func:`parse` for the whole body):
        its subscription must be one of ours, its clientState the one in Key Vault, and it
        must not have been taken before. Refusals are counted, never acted on."""
        received = Received()
        for item in parse(body):
            try:
                reason, accepted = self._check(item, lifecycle)
            except Exception:
                for taken in received.accepted:  # Graph's retry must find them new
                    self.release(taken)
                raise
            if accepted is not None:
                received.accepted.append(accepted)
            else:
                received.refused[reason] += 1
                refuse(Refusal(reason), tenant_id=str(item.get("tenantId", ""))[:36]
                       if is_guid(item.get("tenantId")) else "")
        return received

    def _check(self, item: dict[str, Any], lifecycle: bool) -> tuple[str, Accepted | None]:
        sub_id, tenant_id = item.get("subscriptionId"), item.get("tenantId")
        state = item.get("clientState")
        event = item.get("lifecycleEvent") if lifecycle else None
        if (not is_guid(sub_id) or not is_guid(tenant_id) or not isinstance(state, str)
                or (lifecycle and not isinstance(event, str))):
            return Refusal.MALFORMED, None
        assert isinstance(sub_id, str)
        assert isinstance(tenant_id, str)
        sub_id, tenant_id = sub_id.lower(), tenant_id.lower()
        record = self.table.get(tenant_id, sub_id)
        if record is None:
            return Refusal.UNKNOWN_SUBSCRIPTION, None
        if not self._client_state_matches(record.secret_name, state):
            return Refusal.WRONG_CLIENT_STATE, None
        fingerprint = json.dumps(item, sort_keys=True, separators=(",", ":")).encode()
        window = REPLAY_WINDOW if isinstance(item.get("id"), str) else REPLAY_WINDOW_WITHOUT_ID
        if not self.table.first_sighting(sub_id, fingerprint, self.clock(), window):
            return Refusal.REPLAY, None
        return "", Accepted(tenant_id, sub_id, str(event or ""), fingerprint)

    def _client_state_matches(self, name: str, given: str) -> bool:
        # Read again from the vault once before refusing: another instance may have made the
        # subscription again (a new clientState) within the cache's lifetime.
        for fresh in (False, True):
            try:
                expected = self.secrets.get(name, fresh=fresh).value.reveal()
            except SecretStoreError as exc:
                if exc.code == ErrorCode.SECRET_MISSING:
                    return False
                raise  # the vault failing: Graph is answered 503 and tries again
            if hmac.compare_digest(expected.encode(), given.encode()):
                return True
        return False

    def release(self, accepted: Accepted) -> None:
        """Forget a notification that could not be acted on, so that Graph's retry is."""
        self.table.forget_sighting(accepted.subscription_id, accepted.fingerprint)
