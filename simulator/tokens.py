"""Access tokens: compact JWTs signed with HMAC-SHA256 and a key random per simulator."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import time
from typing import Any

GRAPH = "https://graph.microsoft.com"
VAULT = "https://vault.azure.net"
PARTNER_CENTER = "https://api.partnercenter.microsoft.com"
# The audience of a managed identity's token that serves as a federated credential (Entra ID
# global service; the workload identity docs list one per cloud).
TOKEN_EXCHANGE = "api://AzureADTokenExchange"

# Other names Entra accepts for the same resources (application ids).
RESOURCE_ALIASES = {
    "00000003-0000-0000-c000-000000000000": GRAPH,
    "cfa8b339-82a2-471a-a3c9-0fc0be7a4093": VAULT,
    "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd": PARTNER_CENTER,
}


def entra_issuer(tenant_id: str) -> str:
    """The v2.0 issuer a federated credential names for Entra tokens (workload id docs):
    the real host, so that the same credential works against the simulator and Entra."""
    return f"https://login.microsoftonline.com/{tenant_id}/v2.0"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, claims: dict[str, Any]) -> str:
    """Return a JWT carrying `claims`."""
    header = b64url(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
    payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = hmac.new(key, signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


def verify(key: bytes, token: str) -> dict[str, Any] | None:
    """Return the claims of a token this key signed, or None if it is malformed or forged.

    Expiry is not checked here: callers decide what an expired token means.
    """
    claims = _verified(key, token)
    return None if claims is None else dict(claims)


@functools.lru_cache(maxsize=1024)
def _verified(key: bytes, token: str) -> dict[str, Any] | None:
    # The same token comes with every request of a run (and every request of a batch):
    # its signature is checked once. (Callers get a copy, so the cached claims stay as
    # they were.)
    parts = token.split(".")
    if len(parts) != 3:
        return None
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii", "replace")
    expected = hmac.new(key, signing_input, hashlib.sha256).digest()
    try:
        signature = b64url_decode(parts[2])
        claims = json.loads(b64url_decode(parts[1]))
    except (binascii.Error, ValueError):
        return None
    if not hmac.compare_digest(expected, signature) or not isinstance(claims, dict):
        return None
    return claims


def bearer_claims(key: bytes, authorization: str | None) -> dict[str, Any] | None:
    """Claims of the Bearer token in an Authorization header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return verify(key, token.strip())


def is_expired(claims: dict[str, Any]) -> bool:
    exp = claims.get("exp")
    return not isinstance(exp, (int, float)) or exp <= time.time()
