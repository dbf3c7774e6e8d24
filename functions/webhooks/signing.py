"""Standard Webhooks 1.0 signing: ``webhook-id``, ``webhook-timestamp`` and
``webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>``, where the
key is the base64-decoded part of the ``whsec_`` secret; several signatures are separated
by spaces (during a secret rotation both are sent)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from functions.core.sensitive import SecretValue

PREFIX = "whsec_"
KEY_BYTES = 32  # the specification asks for 24 to 64 random bytes


def new_secret() -> SecretValue:
    """A new signing secret: ``whsec_`` + base64 of 32 random bytes."""
    return SecretValue(PREFIX + base64.b64encode(os.urandom(KEY_BYTES)).decode())


def _key(secret: SecretValue) -> bytes:
    text = secret.reveal()
    return base64.b64decode(text.removeprefix(PREFIX))


def signature(secrets: list[SecretValue], message_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` header: one ``v1,`` signature per secret."""
    signed = f"{message_id}.{timestamp}.{body}".encode()
    return " ".join(
        "v1," + base64.b64encode(hmac.new(_key(s), signed, hashlib.sha256).digest()).decode()
        for s in secrets)
