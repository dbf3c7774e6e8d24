"""A secretless-onboarding world: an ISV tenant with a multitenant sync app (certificates, a
federated credential trusting the Functions host's managed identity), customer tenants whose
admins accept or refuse consent, and test certificates generated at run time (no key files)."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

HOME = "a1000000-0000-4000-8000-000000000001"  # the ISV's tenant: app, identity, vault
CUSTOMER = "c1000000-0000-4000-8000-000000000001"  # its admin accepts; signed in by default
REFUSER = "c2000000-0000-4000-8000-000000000002"  # its admin refuses
SYNC = "b1000000-0000-4000-8000-000000000001"  # multitenant, secretless
SINGLE = "b2000000-0000-4000-8000-000000000002"  # single-tenant, in HOME
CUSTOMER_APP = "b3000000-0000-4000-8000-000000000003"  # registered in CUSTOMER, trusts HOME's MI
IDENTITY = "e1000000-0000-4000-8000-000000000001"  # user-assigned identity: client id
PRINCIPAL = "f1000000-0000-4000-8000-000000000001"  # ... and its principal (object) id
OTHER_IDENTITY = "e2000000-0000-4000-8000-000000000002"  # not a vault principal
OTHER_PRINCIPAL = "f2000000-0000-4000-8000-000000000002"

SYNC_SECRET = "Sync~Compare.Secret-1"
REDIRECT = "https://portal.example/onboarding/callback"
ROLES = ["Organization.Read.All", "DeviceManagementManagedDevices.Read.All"]
EXCHANGE = "api://AzureADTokenExchange"
GRAPH_SCOPE = ["https://graph.microsoft.com/.default"]
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def issuer(tenant: str) -> str:
    return f"https://login.microsoftonline.com/{tenant}/v2.0"


@dataclass(frozen=True)
class GeneratedCert:
    """A key pair and self-signed certificate, in PEM, made for one test session."""

    key: rsa.RSAPrivateKey
    key_pem: str
    cert_pem: str
    sha1_hex: str
    sha256: bytes

    def with_key_pem(self) -> str:
        """Private key + certificate in one PEM, as Key Vault keeps a PEM certificate."""
        return self.key_pem + self.cert_pem


def make_cert(name: str, days: int = 365) -> GeneratedCert:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return GeneratedCert(
        key=key,
        key_pem=key_pem,
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        sha1_hex=hashlib.sha1(der).hexdigest(),  # noqa: S324 - x5t is SHA-1
        sha256=hashlib.sha256(der).digest(),
    )


GOOD = make_cert("tenantsync good")
EXPIRED = make_cert("tenantsync expired")  # registered with an expiry in the past
UNREGISTERED = make_cert("tenantsync stranger")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_assertion(
    cert: GeneratedCert, claims: dict[str, Any], header: dict[str, Any] | None = None
) -> str:
    """A client assertion built by hand (RS256 + x5t unless `header` says otherwise)."""
    head = header if header is not None else {"alg": "RS256", "typ": "JWT"}
    if header is None:
        head["x5t"] = b64url(bytes.fromhex(cert.sha1_hex))
    signing_input = f"{b64url(json.dumps(head).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = cert.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def assertion_claims(token_endpoint: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "aud": token_endpoint,
        "iss": SYNC,
        "sub": SYNC,
        "jti": str(uuid.uuid4()),
        "nbf": now,
        "iat": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def mi_credential(subject: str = PRINCIPAL, tenant: str = HOME) -> dict[str, Any]:
    return {"issuer": issuer(tenant), "subject": subject, "audiences": [EXCHANGE]}


def build_onboarding_fixture() -> dict[str, Any]:
    return {
        "applications": {
            SYNC: {
                "home_tenant": HOME,
                "display_name": "tenantsync",
                "multitenant": True,
                "secrets": [{"id": "d1000000-0000-4000-8000-000000000001", "value": SYNC_SECRET}],
                "certificates": [
                    {"id": "d2000000-0000-4000-8000-000000000001", "pem": GOOD.cert_pem},
                    {
                        "id": "d2000000-0000-4000-8000-000000000002",
                        "pem": EXPIRED.cert_pem,
                        "expires": "2020-01-01T00:00:00Z",
                    },
                ],
                "federated_credentials": [{"name": "functions-host", **mi_credential()}],
                "required_roles": ROLES,
                "redirect_uris": [REDIRECT],
            },
            SINGLE: {"home_tenant": HOME, "redirect_uris": [REDIRECT]},
            CUSTOMER_APP: {
                "home_tenant": CUSTOMER,
                "federated_credentials": [mi_credential()],
            },
        },
        "tenants": {
            HOME: {
                "display_name": "Northwind ISV",
                "service_principals": {SYNC: {"roles": ROLES}, SINGLE: {"roles": []}},
            },
            CUSTOMER: {
                "display_name": "Contoso",
                "service_principals": {CUSTOMER_APP: {"roles": ["Organization.Read.All"]}},
            },
            REFUSER: {"display_name": "Fabrikam", "admin_consent": "refuse"},
        },
        "managed_identities": {
            IDENTITY: {"principal_id": PRINCIPAL, "home_tenant": HOME},
            OTHER_IDENTITY: {"principal_id": OTHER_PRINCIPAL, "home_tenant": CUSTOMER},
        },
        "signed_in_admin_tenant": CUSTOMER,
        "key_vault": {"principals": [IDENTITY]},
    }
