"""Reading what a person typed: flag values checked with the API's own types, secrets
(never as arguments) and expiry dates.

Nothing typed into a secret-bearing flag (``--*secret-env``, ``--*secret-stdin``'s input,
``--*secret-expires``) is ever repeated in a message: it may be the secret itself.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from functions.api.errors import validation_code
from functions.api.models import Timestamp, utc
from functions.core.errors import InputError
from functions.core.model import utcnow
from functions.core.sensitive import SecretValue

M = TypeVar("M", bound=BaseModel)

# A POSIX environment variable name; a secret's Value (with ~ . -) never is one.
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def checked(kind: Any, value: Any, flag: str) -> Any:
    """``value`` parsed as the API parses the same parameter (a GUID lower-cased...).

    Raises:
        InputError: with the API's code (``invalid_guid``...) and the flag's name.
    """
    try:
        return TypeAdapter(kind).validate_python(value)
    except ValidationError as exc:
        errors = [dict(e) for e in exc.errors()]
        raise InputError(f"{flag} {errors[0]['msg']}", code=validation_code(errors)) from None


def body(model: type[M], fields: Mapping[str, tuple[str, Any]]) -> M:
    """The API's input ``model`` from flags: ``fields`` maps each API field to its flag and
    value; a value of ``None`` is left out (unchanged, in an update).

    Raises:
        InputError: with the API's code, naming the flag (never its value).
    """
    given = {name: value for name, (_, value) in fields.items() if value is not None}
    try:
        return model.model_validate(given)
    except ValidationError as exc:
        details = exc.errors()
        loc = details[0]["loc"]
        field = str(loc[0]) if loc else ""
        flag = fields[field][0] if field in fields else "the input"
        raise InputError(f"{flag}: {details[0]['msg']}",
                         code=validation_code([dict(e) for e in details])) from None


def add_secret_options(p: argparse.ArgumentParser, prefix: str = "", app: str = "") -> None:
    """``--{prefix}secret-env NAME``, ``--{prefix}secret-stdin`` and
    ``--{prefix}secret-expires DATE``."""
    of = f" of the {app} app" if app else ""
    g = p.add_mutually_exclusive_group()
    g.add_argument(f"--{prefix}secret-env", metavar="NAME",
                   help=f"read the client secret{of} (its Value) from environment variable NAME")
    g.add_argument(f"--{prefix}secret-stdin", action="store_true",
                   help=f"read the client secret{of} from stdin (asked for, unechoed, on a "
                        "terminal)")
    p.add_argument(f"--{prefix}secret-expires", metavar="DATE",
                   help=f"when the secret{of} expires (e.g. 2027-05-31), for expiry warnings")


def secret(args: argparse.Namespace, prefix: str = "", *, required: bool,
           what: str = "client secret") -> SecretValue | None:
    """The secret the ``--{prefix}secret-*`` flags point at; on a terminal, asked for when
    required and not given; ``None`` when not required and not given.

    Raises:
        InputError: ``secret_required``; messages name flags, never what was typed.
    """
    dest = prefix.replace("-", "_")
    flag = f"--{prefix}secret"
    env_name = getattr(args, f"{dest}secret_env", None)
    from_stdin = getattr(args, f"{dest}secret_stdin", False)
    if env_name is not None:
        if not _ENV_NAME.match(env_name):
            raise InputError(
                f"{flag}-env takes the NAME of an environment variable that holds the {what} "
                f"(letters, digits and _), not the {what} itself: export MY_SECRET=... first, "
                f"then pass {flag}-env MY_SECRET",
                code="secret_required",
            )
        value = os.environ.get(env_name, "").strip()
        if not value:
            raise InputError(f"the environment variable named by {flag}-env is not set or "
                             f"empty: export it with the {what}'s Value first",
                             code="secret_required")
        return SecretValue(value)
    if from_stdin or (required and sys.stdin.isatty()):
        value = _read_stdin(f"{what[0].upper()}{what[1:]} (its Value): ")
        if not value:
            raise InputError(f"{flag}-stdin read nothing: pipe the {what}'s Value in",
                             code="secret_required")
        return SecretValue(value)
    if required:
        raise InputError(f"the {what} is required: pass {flag}-env NAME or {flag}-stdin "
                         "(or run on a terminal to be asked for it)", code="secret_required")
    return None


def _read_stdin(prompt: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(prompt).strip()
    return sys.stdin.readline().strip()


def expiry(args: argparse.Namespace, prefix: str = "") -> datetime | None:
    """The ``--{prefix}secret-expires`` date (UTC when no zone is given), if any.

    Raises:
        InputError: ``invalid_time`` when it is not a date, or is in the past (the value
        is never repeated: a secret may have been typed there by mistake).
    """
    value = getattr(args, f"{prefix.replace('-', '_')}secret_expires", None)
    flag = f"--{prefix}secret-expires"
    if value is None:
        return None
    try:
        when = utc(TypeAdapter(Timestamp).validate_python(value.strip()))
    except ValidationError:
        raise InputError(f"{flag} must be a date like 2027-05-31 (or an ISO 8601 time); what "
                         "was given is not one", code="invalid_time") from None
    assert when is not None
    if when <= utcnow():
        raise InputError(f"{flag} is in the past: give the date the secret expires (its app's "
                         "Certificates & secrets page shows it), or leave the flag out",
                         code="invalid_time")
    return when


def one_stdin_secret(args: argparse.Namespace, *prefixes: str) -> None:
    """Refuse two secrets from one piped stdin (a terminal asks for each in turn)."""
    piped = [p for p in prefixes if getattr(args, f"{p.replace('-', '_')}secret_stdin", False)]
    if len(piped) > 1 and not sys.stdin.isatty():
        raise InputError(f"only one secret can be piped to stdin: pass the other with "
                         f"--{piped[1]}secret-env NAME", code="secret_required")
