"""Certificates an app signs in with: PEM and PKCS#12, and what is wrong with a bad one."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from functions.clients.certificates import parse_certificate, parse_pkcs12
from functions.core.errors import InputError
from tests.simulator.onboarding import make_cert

CERT = make_cert("unit")


def test_a_pem_bundle_gives_key_certificate_thumbprint_and_expiry() -> None:
    key = parse_certificate(CERT.cert_pem + CERT.key_pem)  # any order
    assert key.thumbprint == CERT.sha256.hex().upper()
    assert key.certificate == CERT.cert_pem
    assert "PRIVATE KEY" in key.private_key.reveal()
    assert "PRIVATE" not in repr(key)  # the key hides itself
    assert key.bundle.reveal().count("-----BEGIN") == 2


def test_a_password_less_pkcs12_reads_the_same() -> None:
    from cryptography import x509

    pfx = pkcs12.serialize_key_and_certificates(
        b"x", CERT.key, x509.load_pem_x509_certificate(CERT.cert_pem.encode()), None,
        serialization.NoEncryption())
    key = parse_pkcs12(base64.b64encode(pfx).decode())
    assert key.thumbprint == CERT.sha256.hex().upper()
    with pytest.raises(InputError) as caught:
        parse_pkcs12("bm90IGEgcGZ4")
    assert caught.value.code == "invalid_certificate"


def test_an_encrypted_key_is_refused_with_the_fix() -> None:
    encrypted = CERT.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw")).decode()
    with pytest.raises(InputError) as caught:
        parse_certificate(encrypted + CERT.cert_pem)
    assert caught.value.code == "invalid_certificate"
    assert "without a password" in caught.value.message


def test_an_oversized_text_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        parse_certificate("x" * 40_000)
    assert caught.value.code == "invalid_certificate"
