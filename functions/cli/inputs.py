"""Reading what a person typed: secrets (never as arguments) and dates."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import UTC, datetime

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
                         "named by --{what}-secret-env", code="secret_required")
    return SecretValue(value)
