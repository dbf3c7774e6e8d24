"""Client assertions at the token endpoint (private_key_jwt): certificate-signed JWTs and
federated tokens (a managed identity's token for api://AzureADTokenExchange).

`check` answers None when the assertion proves the app's identity, or the Rejection that
Entra documents. Messages name thumbprints, issuers and subjects, never the assertion.
"""

from __future__ import annotations

import binascii
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from .model import AppCertificate, Application, FederatedCredential
from .tokens import b64url_decode, entra_issuer, verify

# RFC 7521 4.2 / 7523 2.2: the value of client_assertion_type for a JWT client assertion.
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_DOCS = (
    "Review the documentation at "
    "https://learn.microsoft.com/entra/identity-platform/certificate-credentials ."
)
_FIC_DOCS = (
    "Please check your federated identity credential Subject, Audience and Issuer against the "
    "presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
)


@dataclass(frozen=True)
class Rejection:
    """An Entra token-endpoint error: HTTP status, `error`, AADSTS code and description."""

    status: int
    error: str
    code: int
    message: str


def _client(code: int, message: str) -> Rejection:
    return Rejection(401, "invalid_client", code, message)


@dataclass(frozen=True)
class _Jwt:
    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def _parse(assertion: str) -> _Jwt | None:
    parts = assertion.split(".")
    if len(parts) != 3:
        return None
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (binascii.Error, ValueError):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    return _Jwt(header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def check(
    assertion: str,
    app: Application,
    audiences: tuple[str, ...],
    key: bytes,
    now: float | None = None,
) -> Rejection | None:
    """Verify a client assertion for `app`. `audiences` are the accepted `aud` values of a
    certificate assertion (the token endpoint of the request's tenant, and its issuer);
    `key` verifies federated tokens, which only the simulator's managed identities issue."""
    when = time.time() if now is None else now
    jwt = _parse(assertion)
    if jwt is None:
        return _client(50027, "Invalid JWT token. The token is not in JWS compact format.")
    # A thumbprint header, or the app as issuer, marks the app's own signed assertion;
    # anything else is a token of another issuer, checked against federated credentials.
    if "x5t" in jwt.header or "x5t#S256" in jwt.header or jwt.claims.get("iss") == app.client_id:
        return _certificate(jwt, app, audiences, when)
    problem = _federated(jwt, app, when)
    return problem if problem is not None else _federated_token(assertion, jwt, key, app, when)


def _thumbprint(jwt: _Jwt) -> tuple[str, bytes] | None:
    """(header name, digest): x5t#S256 (SHA-256, what the docs ask for) wins over x5t."""
    for name in ("x5t#S256", "x5t"):
        value = jwt.header.get(name)
        if isinstance(value, str) and value:
            try:
                return name, b64url_decode(value)
            except (binascii.Error, ValueError):
                return None
    return None


def _find(app: Application, name: str, digest: bytes) -> AppCertificate | None:
    for cert in app.certificates:
        if digest == (cert.sha256 if name == "x5t#S256" else cert.sha1):
            return cert
    return None


def _signature_ok(cert: AppCertificate, jwt: _Jwt) -> bool:
    alg = jwt.header.get("alg")
    if alg == "RS256":  # RFC 7518 3.3: RSASSA-PKCS1-v1_5 with SHA-256
        pad: padding.AsymmetricPadding = padding.PKCS1v15()
    elif alg == "PS256":  # RFC 7518 3.5: RSASSA-PSS, MGF1 SHA-256, salt as long as the hash
        pad = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    else:
        return False
    try:
        cert.public_key.verify(jwt.signature, jwt.signing_input, pad, hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def _certificate(
    jwt: _Jwt, app: Application, audiences: tuple[str, ...], now: float
) -> Rejection | None:
    found = _thumbprint(jwt)
    if found is None:
        message = "Invalid JWT token. No certificate thumbprint specified in token header."
        return _client(50027, message)
    name, digest = found
    shown = digest.hex().upper()
    cert = _find(app, name, digest)
    if cert is None:
        return _client(
            700027,
            "The certificate with identifier used to sign the client assertion is not "
            f"registered on application. [Reason - The key was not found., Thumbprint of key "
            f"used by client: '{shown}', Please visit the Azure Portal, Graph Explorer or "
            f"directly use MS Graph to see configured keys for app Id '{app.client_id}'.] " + _DOCS,
        )
    if cert.expires.timestamp() <= now:
        # Microsoft.Identity.Web's CertificateIsOutsideValidityWindow (its issue #2834).
        return _client(1000502, "The provided certificate is not within its validity window.")
    if jwt.header.get("alg") not in ("RS256", "PS256"):
        alg = jwt.header.get("alg")
        return _client(50027, f"Invalid JWT token. Unsupported algorithm '{alg}'.")
    if not _signature_ok(cert, jwt):
        return _client(
            700027,
            "Client assertion contains an invalid signature. [Reason - The provided signature "
            f"value did not match the expected signature value., Thumbprint of key used by "
            f"client: '{shown}'] " + _DOCS,
        )
    claims = jwt.claims
    if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
        message = "Client assertion application identifier doesn't match 'client_id' parameter. "
        return _client(700021, message + _DOCS)
    if claims.get("aud") not in audiences:
        message = "Client assertion audience claim does not match Realm issuer. "
        return _client(700023, message + _DOCS)
    late = _time_range(claims, now)
    if late is not None:
        return late
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        return _client(50027, "Invalid JWT token. The token has no 'jti' claim.")
    return None


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _time_range(claims: dict[str, Any], now: float) -> Rejection | None:
    exp, nbf = claims.get("exp"), claims.get("nbf", 0)
    numbers = (int, float)
    if (
        isinstance(exp, bool)
        or not isinstance(exp, numbers)
        or not isinstance(nbf, numbers)
        or now >= exp
        or now < nbf
    ):
        shown_exp = _stamp(exp) if isinstance(exp, numbers) else "(none)"
        shown_nbf = _stamp(nbf) if isinstance(nbf, numbers) else "(invalid)"
        return _client(
            700024,
            f"Client assertion is not within its valid time range. Current time: {_stamp(now)}, "
            f"assertion valid from {shown_nbf}, expiry time of assertion {shown_exp}. " + _DOCS,
        )
    return None


def _audiences(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    return [item for item in aud if isinstance(item, str)] if isinstance(aud, list) else []


def _no_record(code: int, what: str, value: object) -> Rejection:
    message = f"No matching federated identity record found for presented assertion {what} "
    return _client(code, f"{message}'{value}'. {_FIC_DOCS}")


def _mismatch(jwt: _Jwt, records: list[FederatedCredential]) -> Rejection | None:
    """The first of issuer, subject, audience that no record matches (700211/700213/700212)."""
    iss, sub = jwt.claims.get("iss"), jwt.claims.get("sub")
    by_issuer = [c for c in records if c.issuer == iss]  # matching is case-sensitive
    if not by_issuer:
        return _no_record(700211, "issuer", iss)
    by_subject = [c for c in by_issuer if c.subject == sub]
    if not by_subject:
        return _no_record(700213, "subject", sub)
    audiences = _audiences(jwt.claims)
    if not any(c.audience in audiences for c in by_subject):
        return _no_record(700212, "audience", audiences[0] if audiences else "")
    return None


def _federated(jwt: _Jwt, app: Application, now: float) -> Rejection | None:
    visible = [c for c in app.federated_credentials if c.visible_at <= now]
    problem = _mismatch(jwt, visible)
    if problem is not None:
        if _mismatch(jwt, app.federated_credentials) is not None:
            return problem
        # The record exists but has not propagated yet: Entra answers 70021 until it has.
        claims = jwt.claims
        return Rejection(
            400,
            "invalid_request",
            70021,
            "No matching federated identity record found for presented assertion. Assertion "
            f"Issuer: '{claims.get('iss')}'. Assertion Subject: '{claims.get('sub')}'. "
            f"Assertion Audience: '{','.join(_audiences(claims))}'. "
            "https://learn.microsoft.com/entra/workload-id/workload-identity-federation",
        )
    return None


def _federated_token(
    assertion: str, jwt: _Jwt, key: bytes, app: Application, now: float
) -> Rejection | None:
    """Signature, tenant and lifetime of a federated token whose records matched."""
    verified = verify(key, assertion)
    tid = jwt.claims.get("tid")
    iss = jwt.claims.get("iss")
    if verified is None or not isinstance(tid, str) or iss != entra_issuer(tid):
        # 50027 lists "External ID token from issuer failed signature verification": the
        # simulator verifies only its own tokens (HS256 with its key).
        message = f"Invalid JWT token. External ID token from issuer '{iss}' failed signature "
        return _client(50027, message + "verification.")
    if tid != app.home_tenant:
        # The identity and the app registration must be in the same tenant (workload id docs).
        return _client(
            700236,
            f"Entra ID tokens issued by issuer '{iss}' may not be used for federated identity "
            "credential flows for applications or managed identities registered in this tenant.",
        )
    return _time_range(verified, now)
