"""Fixture parsing for secretless credentials: certificates, federated identity credentials,
managed identities, and what admin consent needs (redirect URIs, requested permissions).

No message quotes a PEM block: a private key pasted by mistake never reaches an error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .model import AppCertificate, FederatedCredential, ManagedIdentity
from .validate import as_list, fail, guid, mapping, number, parse_time, text

_CERT_KEYS = ("id", "pem", "expires")
_FIC_KEYS = ("name", "issuer", "subject", "audiences")
_MI_KEYS = ("principal_id", "home_tenant")
MAX_FEDERATED_CREDENTIALS = 20  # "A maximum of 20 federated identity credentials" per app
CONSENT_DECISIONS = ("accept", "refuse", "cancel")


def parse_certificates(raw: object, path: str) -> list[AppCertificate]:
    """An application's certificate credentials: public certificates in PEM, RSA keys only."""
    result: list[AppCertificate] = []
    seen: set[str] = set()
    for index, item in enumerate(as_list(raw, path)):
        where = f"{path}[{index}]"
        entry = mapping(item, where, _CERT_KEYS)
        if "id" not in entry:
            fail(where, "missing 'id'")
        cert_id = guid(entry["id"], f"{where}.id")
        if cert_id in seen:
            fail(f"{where}.id", f"duplicate certificate id '{cert_id}'")
        seen.add(cert_id)
        pem = entry.get("pem")
        if not isinstance(pem, str) or not pem:
            fail(f"{where}.pem", "must be a PEM certificate")
        if "PRIVATE KEY" in pem:
            fail(f"{where}.pem", "holds a private key: register the public certificate only")
        try:
            cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            fail(f"{where}.pem", "is not a PEM X.509 certificate")
        public_key = cert.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            fail(f"{where}.pem", "Entra certificate credentials are RSA keys")
        der = cert.public_bytes(serialization.Encoding.DER)
        sha1 = hashlib.sha1(der).digest()  # noqa: S324 - x5t is SHA-1 by definition (RFC 7515)
        if any(other.sha1 == sha1 for other in result):
            fail(where, "the same certificate is registered twice")
        expires_raw = entry.get("expires")
        # Without an explicit end date, Entra takes the keyCredential's end from the cert.
        expires = (
            cert.not_valid_after_utc
            if expires_raw is None
            else parse_time(expires_raw, f"{where}.expires").astimezone(UTC)
        )
        result.append(
            AppCertificate(
                id=cert_id,
                public_key=public_key,
                sha1=sha1,
                sha256=hashlib.sha256(der).digest(),
                expires=expires,
            )
        )
    return result


def parse_federated_credentials(
    raw: object, path: str, visible_at: float = 0.0, previous: Sequence[FederatedCredential] = ()
) -> list[FederatedCredential]:
    """Federated identity credentials. A record that `previous` did not hold becomes visible
    at `visible_at` (the propagation delay); the others keep their time."""
    items = as_list(raw, path)
    if len(items) > MAX_FEDERATED_CREDENTIALS:
        fail(path, f"at most {MAX_FEDERATED_CREDENTIALS} federated credentials per application")
    result: list[FederatedCredential] = []
    for index, item in enumerate(items):
        where = f"{path}[{index}]"
        entry = mapping(item, where, _FIC_KEYS)
        for key in ("issuer", "subject", "audiences"):
            if key not in entry:
                fail(where, f"missing '{key}'")
        issuer = text(entry["issuer"], f"{where}.issuer")
        subject = text(entry["subject"], f"{where}.subject")
        audiences = as_list(entry["audiences"], f"{where}.audiences")
        # Graph: "This field can only accept a single value".
        if len(audiences) != 1:
            fail(f"{where}.audiences", "must hold exactly one audience")
        audience = text(audiences[0], f"{where}.audiences[0]")
        name = text(entry.get("name", f"credential-{index}"), f"{where}.name")
        # Graph refuses two credentials with the same issuer and subject on one app.
        if any(c.issuer == issuer and c.subject == subject for c in result):
            fail(where, "another credential has the same issuer and subject")
        known = next(
            (
                c
                for c in previous
                if (c.issuer, c.subject, c.audience) == (issuer, subject, audience)
            ),
            None,
        )
        when = known.visible_at if known is not None else visible_at
        result.append(FederatedCredential(issuer, subject, audience, name, when))
    return result


def parse_redirect_uris(raw: object, path: str) -> list[str]:
    result: list[str] = []
    for index, item in enumerate(as_list(raw, path)):
        where = f"{path}[{index}]"
        uri = text(item, where)
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            fail(where, "must be an absolute http(s) URL without a fragment")
        result.append(uri)
    return result


def parse_managed_identities(
    raw: object, path: str, tenants: dict[str, Any], taken: set[str]
) -> dict[str, ManagedIdentity]:
    """User-assigned identities by client id; their home tenant must be a fixture tenant."""
    result: dict[str, ManagedIdentity] = {}
    principals: set[str] = set()
    for key, item in mapping(raw, path).items():
        where = f"{path}.{key}"
        client_id = guid(key, where)
        if client_id in taken or client_id in result:
            fail(where, "client id already used by an application or another identity")
        entry = mapping(item, where, _MI_KEYS)
        for name in _MI_KEYS:
            if name not in entry:
                fail(where, f"missing '{name}'")
        principal_id = guid(entry["principal_id"], f"{where}.principal_id")
        if principal_id in principals:
            fail(f"{where}.principal_id", "another identity has the same principal id")
        principals.add(principal_id)
        tenant = guid(entry["home_tenant"], f"{where}.home_tenant")
        if tenant not in tenants:
            fail(f"{where}.home_tenant", f"unknown tenant '{entry['home_tenant']}'")
        result[client_id] = ManagedIdentity(client_id, principal_id, tenant)
    return result


def parse_consent_decision(raw: object, path: str) -> str:
    if raw not in CONSENT_DECISIONS:
        fail(path, f"must be one of: {', '.join(CONSENT_DECISIONS)}")
    assert isinstance(raw, str)
    return raw


def parse_signed_in_admin(raw: object, path: str, tenants: dict[str, Any]) -> str | None:
    if raw is None:
        return None
    tenant = guid(raw, path)
    if tenant not in tenants:
        fail(path, f"unknown tenant '{raw}'")
    return tenant


def parse_delay(raw: object, path: str) -> float:
    return number(raw, path, 0, 3600)
