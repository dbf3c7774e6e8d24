"""Where Graph delivers change notifications and lifecycle events: the validation
handshake, then each notification checked and turned into a sync trigger, within Graph's
3 seconds (the work is queued, never done here).

The API routes (uvicorn locally) and the anonymous Azure functions both answer with
:func:`answer_notification`, so the two can never differ.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from urllib.parse import parse_qs

from functions.core.codes import outcome
from functions.core.errors import ErrorCode, InputError, StorageError, TenantSyncError
from functions.notifications import MAX_TOKEN_LENGTH
from functions.services import Services

log = logging.getLogger("tenantsync.notifications")

# The validation answer is the token as plain text and nothing else: never markup, never
# sniffed as such, never cached (change-notifications-delivery-notificationurl-validation).
PLAIN = {"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff",
         "Cache-Control": "no-store", "Content-Security-Policy": "default-src 'none'; sandbox"}
JSON = {"Content-Type": "application/json", "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff"}

Answer = tuple[int, dict[str, str], bytes]


def _error(code: str, message: str) -> Answer:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return outcome(code).status, JSON, body


def answer_notification(services: Callable[[], Services], query: str, body: bytes, *,
                        lifecycle: bool) -> Answer:
    """Status, headers and body for one POST from Graph (``lifecycle``: the lifecycle URL)."""
    params = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(params) - {"validationToken", "code"})
    if unknown:
        return _error(ErrorCode.UNKNOWN_PARAMETER, f"unknown query parameter {unknown[0]!r}")
    tokens = params.get("validationToken")
    if tokens is not None:
        if len(tokens) != 1 or not 0 < len(tokens[0]) <= MAX_TOKEN_LENGTH:
            return _error(ErrorCode.INVALID_REQUEST, "validationToken must be given once, "
                          f"at most {MAX_TOKEN_LENGTH} characters")
        return 200, PLAIN, tokens[0].encode("utf-8")  # parse_qs has URL-decoded it
    s = services()
    if not s.settings.notification_url:
        return _error(ErrorCode.NOT_CONFIGURED, "change notifications are off: set "
                      "TENANTSYNC_NOTIFICATION_URL to turn them on")
    try:
        received = s.notification_receiver.receive(body, lifecycle=lifecycle)
    except InputError as exc:
        return _error(exc.code, exc.message)
    except TenantSyncError as exc:  # storage or Key Vault: Graph delivers it again
        log.warning("notifications not taken: %s", exc.message)
        return _error(ErrorCode.STORAGE_UNAVAILABLE if isinstance(exc, StorageError)
                      else ErrorCode.KEY_VAULT_ERROR, "try again later")
    try:
        for item in received.accepted:
            if item.lifecycle_event:
                s.notified.lifecycle(item.tenant_id, item.subscription_id,
                                     item.lifecycle_event)
        for tenant_id in received.tenants:
            s.notified.trigger(tenant_id)
    except StorageError as exc:
        for item in received.accepted:
            s.notification_receiver.release(item)
        log.warning("notifications not acted on: %s", exc.message)
        return _error(ErrorCode.STORAGE_UNAVAILABLE, "try again later")
    refused = sum(received.refused.values())
    if not received.accepted:
        return _error(ErrorCode.NOTIFICATION_REFUSED,
                      f"{refused} notification(s) refused: not this deployment's")
    summary = {"accepted": len(received.accepted), "refused": refused}
    return 202, JSON, json.dumps(summary).encode()
