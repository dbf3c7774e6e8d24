"""Reading what a person typed: secrets (never as arguments) and dates."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import UTC, datetime

from functions.clients.credentials import CredentialInput
from functions.core.errors import InputError
from functions.core.sensitive import SecretValue


def secret(args: argparse.Namespace) -> SecretValue:
    """Read the client secret without it ever being a command-line argument."""
    if args.secret_env:
        value = os.environ.get(args.secret_env, "")
        if not value:
            raise InputError(f"environment variable {args.secret_env} is empty or not set",
                             code="secret_required")
    elif args.secret_stdin:
        value = sys.stdin.readline().strip()
    elif sys.stdin.isatty():
        value = getpass.getpass("Client secret (its Value): ").strip()
    else:
        value = ""
    if not value:
        raise InputError(
            "a client secret is required: pass --secret-stdin (and pipe it) or --secret-env NAME",
            code="secret_required",
        )
    return SecretValue(value)


def date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"--secret-expires must be a date like 2027-05-31, got {value!r}",
                         code="invalid_date") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def secret_from(env_name: str | None, what: str) -> SecretValue:
    value = os.environ.get(env_name or "", "")
    if not env_name or not value:
        raise InputError(f"the {what} secret is required: pass it in an environment variable "
                         f"named by --{what}-secret-env", code="secret_required")
    return SecretValue(value)


def certificate_file(path: str | None, what: str) -> SecretValue:
    """A PEM file holding a private key and its certificate (read, never echoed)."""
    if not path:
        raise InputError(f"the {what} certificate is required: pass --{what}-certificate-file "
                         "PATH (a PEM with the private key and the certificate)"
                         if what != "app" else "a certificate is required: pass "
                         "--certificate-file PATH (a PEM with the private key and the "
                         "certificate)", code="certificate_required")
    try:
        with open(path, encoding="ascii") as pem:
            return SecretValue(pem.read(64 * 1024))
    except (OSError, UnicodeDecodeError):
        raise InputError(f"could not read the PEM file {path!r}", code="invalid_certificate"
                         ) from None


def credential(args: argparse.Namespace) -> CredentialInput:
    """The app's credential from ``--credential`` (secret by default), the secret options
    and ``--certificate-file``."""
    kind = getattr(args, "credential", None) or "secret"
    if kind == "certificate":
        return CredentialInput.of(kind, certificate_file(args.certificate_file, "app"))
    if kind == "secret":
        return CredentialInput.of(kind, secret(args), date(args.secret_expires))
    return CredentialInput.of(kind)


def app_credential(args: argparse.Namespace, what: str) -> CredentialInput:
    """A partner connection's app credential: ``--{what}-credential`` and its secret
    (``--{what}-secret-env``) or certificate (``--{what}-certificate-file``)."""
    kind = getattr(args, f"{what}_credential", None) or "secret"
    if kind == "certificate":
        return CredentialInput.of(kind, certificate_file(
            getattr(args, f"{what}_certificate_file", None), what), what=f"the {what} app")
    if kind == "secret":
        return CredentialInput.of(kind, secret_from(getattr(args, f"{what}_secret_env"), what),
                                  date(getattr(args, f"{what}_secret_expires")),
                                  what=f"the {what} app")
    return CredentialInput.of(kind, what=f"the {what} app")
