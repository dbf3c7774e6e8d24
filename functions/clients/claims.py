"""What an app-only access token says about the app: the application permissions granted
to it in the token's tenant (its ``roles`` claim)."""

from __future__ import annotations

import base64
import binascii
import json


def token_roles(token: str) -> frozenset[str]:
    """The ``roles`` of a JWT access token; empty for a token without any, or one that is not
    a JWT.

    The payload is read without checking the signature: the token is our own, just issued by
    Entra over TLS, and only decides which reads to try (Graph checks every request anyway).
    An app-only token lists the app's application permissions in that tenant in ``roles``.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return frozenset()
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        return frozenset()
    roles = claims.get("roles") if isinstance(claims, dict) else None
    if not isinstance(roles, list):
        return frozenset()
    return frozenset(role for role in roles if isinstance(role, str))
