"""Certificates an app signs in with: a private key and its X.509 certificate, read from the
PEM (or PKCS#12) an admin uploads or Key Vault keeps.

No message quotes the PEM: a private key pasted by mistake never reaches an error or a log.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from functions.core.errors import InputError
from functions.core.sensitive import SecretValue

PEM_CONTENT_TYPE = "application/x-pem-file"  # Key Vault's content type of a PEM certificate
PKCS12_CONTENT_TYPE = "application/x-pkcs12"
_KEY_MARKERS = ("-----BEGIN PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY-----",
                "-----BEGIN ENCRYPTED PRIVATE KEY-----", "-----BEGIN EC PRIVATE KEY-----")
_CERT_MARKER = "-----BEGIN CERTIFICATE-----"
_MAX_PEM = 32 * 1024  # a key and a certificate chain are a few KiB


@dataclass(frozen=True)
class CertificateKey:
    """A certificate credential: the private key (hidden), the public certificate in PEM,
    its SHA-256 thumbprint (hex, as Entra shows it) and when it expires."""

    private_key: SecretValue
    certificate: str
    thumbprint: str
    expires_on: datetime

    @property
    def bundle(self) -> SecretValue:
        """Key and certificate in one PEM, as Key Vault keeps a PEM certificate."""
        return SecretValue(self.private_key.reveal() + self.certificate)


def parse_certificate(pem: str, *, what: str = "the certificate") -> CertificateKey:
    """Read a PEM bundle holding an unencrypted RSA private key and its certificate.

    Raises:
        InputError: ``invalid_certificate`` (not PEM, not X.509, encrypted or not RSA),
        ``certificate_required`` (a private key without its certificate),
        ``private_key_required`` (a certificate without its key),
        ``certificate_key_mismatch`` (the key is not the certificate's).
    """
    if not isinstance(pem, str) or len(pem) > _MAX_PEM:
        raise InputError(f"{what} must be a PEM text of at most {_MAX_PEM // 1024} KiB",
                         code="invalid_certificate")
    has_key = any(marker in pem for marker in _KEY_MARKERS)
    has_cert = _CERT_MARKER in pem
    if has_key and not has_cert:
        raise InputError(
            f"{what} holds a private key but not its certificate: send the key and the "
            "certificate (-----BEGIN CERTIFICATE-----) together in one PEM",
            code="certificate_required",
        )
    if not has_cert:
        raise InputError(
            f"{what} is not a PEM certificate: send the private key and the certificate "
            "(-----BEGIN PRIVATE KEY----- and -----BEGIN CERTIFICATE-----) in one PEM",
            code="invalid_certificate",
        )
    if not has_key:
        raise InputError(
            f"{what} has no private key: the app signs with the key, so send the private "
            "key (-----BEGIN PRIVATE KEY-----) with the certificate",
            code="private_key_required",
        )
    if "-----BEGIN ENCRYPTED PRIVATE KEY-----" in pem:
        raise InputError(f"{what}'s private key is encrypted: export it without a password "
                         "(Key Vault protects it)", code="invalid_certificate")
    try:
        certificate = x509.load_pem_x509_certificate(_block(pem, "CERTIFICATE").encode())
        key = serialization.load_pem_private_key(_key_block(pem).encode(), password=None)
    except (ValueError, TypeError, UnicodeEncodeError):
        raise InputError(f"{what} could not be read: its PEM blocks are damaged",
                         code="invalid_certificate") from None
    return _credential(key, certificate, what)


def parse_pkcs12(data_base64: str, *, what: str = "the certificate") -> CertificateKey:
    """Read a password-less PKCS#12 (PFX) given in base64, as Key Vault keeps a certificate
    whose content type is ``application/x-pkcs12``.

    Raises:
        InputError: as :func:`parse_certificate`.
    """
    try:
        key, certificate, _ = pkcs12.load_key_and_certificates(
            base64.b64decode(data_base64, validate=True), None)
    except (ValueError, TypeError, binascii.Error):
        raise InputError(f"{what} is not a password-less PKCS#12 (PFX) file",
                         code="invalid_certificate") from None
    if certificate is None:
        raise InputError(f"{what} holds no certificate", code="certificate_required")
    if key is None:
        raise InputError(f"{what} holds no private key", code="private_key_required")
    return _credential(key, certificate, what)


def _credential(key: object, certificate: x509.Certificate, what: str) -> CertificateKey:
    if not isinstance(key, rsa.RSAPrivateKey):
        # Entra's certificate credentials are RSA keys (RS256 / PS256 assertions).
        raise InputError(f"{what} must have an RSA key", code="invalid_certificate")
    public = certificate.public_key()
    if not isinstance(public, rsa.RSAPublicKey) or (
            public.public_numbers() != key.public_key().public_numbers()):
        raise InputError(f"{what}'s private key does not belong to its certificate: send the "
                         "key the certificate was made for", code="certificate_key_mismatch")
    der = certificate.public_bytes(serialization.Encoding.DER)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return CertificateKey(
        private_key=SecretValue(key_pem),
        certificate=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        thumbprint=hashlib.sha256(der).hexdigest().upper(),
        expires_on=certificate.not_valid_after_utc.astimezone(UTC),
    )


def _block(pem: str, label: str) -> str:
    start = pem.index(f"-----BEGIN {label}-----")
    end_marker = f"-----END {label}-----"
    end = pem.index(end_marker, start) + len(end_marker)
    return pem[start:end]


def _key_block(pem: str) -> str:
    for label in ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"):
        if f"-----BEGIN {label}-----" in pem:
            return _block(pem, label)
    raise ValueError("no private key block")
