"""Reading what a person typed: flag values checked with the API's own types, secrets
(never as arguments), certificate files (read, never printed) and expiry dates.

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
from functions.api.models import Guid, Timestamp, utc
from functions.api.models.inputs import MAX_CERTIFICATE
from functions.clients.certificates import parse_certificate
from functions.core.errors import InputError
from functions.core.model import CREDENTIAL_TYPES, utcnow
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


def partner_id_of(args: argparse.Namespace) -> str:
    """``--partner-tenant-id`` as the API takes it (a GUID, lower-cased).

    Raises:
        InputError: ``invalid_guid``, naming the flag.
    """
    return str(checked(Guid, args.partner_tenant_id, "--partner-tenant-id"))


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


# --- app credentials: a secret, a certificate file, or nothing (federated) -----------------

CERTIFICATE_HELP = ("a PEM file holding the app's unencrypted private key and its certificate "
                    "(read, never printed; kept in Key Vault)")


def add_credential_options(p: argparse.ArgumentParser, prefix: str = "", app: str = "") -> None:
    """``--{prefix}credential TYPE``, ``--{prefix}certificate-file PATH`` and the secret
    options (:func:`add_secret_options`)."""
    of = f" the {app} app" if app else " the app"
    p.add_argument(f"--{prefix}credential", choices=CREDENTIAL_TYPES, metavar="TYPE",
                   help=f"how{of} signs in: secret (the default), certificate (with "
                        f"--{prefix}certificate-file) or federated (the function app's managed "
                        "identity: nothing to give, nothing expires)")
    p.add_argument(f"--{prefix}certificate-file", metavar="PATH", help=CERTIFICATE_HELP)
    add_secret_options(p, prefix, app)


def credential_fields(args: argparse.Namespace, fields: tuple[str, str, str], *,
                      prefix: str = "", creating: bool, what: str = "client secret",
                      ) -> dict[str, tuple[str, Any]]:
    """The API body's credential fields (``fields``: its type, secret and certificate
    fields) from ``--{prefix}credential``, the secret flags and ``--{prefix}certificate-file``.

    Without ``--{prefix}credential`` the type is the one the other flags give (a certificate
    file: certificate), else a secret when ``creating``, else unchanged.

    Raises:
        InputError: flags of another type than the one chosen (``invalid_request``), a
        missing secret (``secret_required``) or certificate (``certificate_required``), a
        file that is not a PEM key and certificate; messages name flags, never contents.
    """
    dest = prefix.replace("-", "_")
    type_field, secret_field, certificate_field = fields
    chosen = getattr(args, f"{dest}credential", None)
    path = getattr(args, f"{dest}certificate_file", None)
    secret_flags = (getattr(args, f"{dest}secret_env", None) is not None
                    or getattr(args, f"{dest}secret_stdin", False))
    expires = getattr(args, f"{dest}secret_expires", None) is not None
    flag = f"--{prefix}credential"
    kind = chosen or ("certificate" if path is not None else
                      "secret" if creating or secret_flags or expires else None)
    if kind != "secret" and (secret_flags or expires):
        why = ("a certificate carries its own expiry" if kind == "certificate" else
               "the managed identity needs no secret and never expires")
        raise InputError(f"--{prefix}secret-env, --{prefix}secret-stdin and "
                         f"--{prefix}secret-expires are for {flag} secret, not {kind}: leave "
                         f"them out ({why})", code="invalid_request")
    if kind != "certificate" and path is not None:
        raise InputError(f"--{prefix}certificate-file is for {flag} certificate, not {kind}: "
                         "leave one of them out", code="invalid_request")
    value = None
    if kind == "secret":
        value = secret(args, prefix, required=creating or chosen is not None, what=what)
    certificate = None
    if kind == "certificate":
        if path is None:
            raise InputError(f"{flag} certificate needs --{prefix}certificate-file PATH: a PEM "
                             "with the unencrypted private key and its certificate",
                             code="certificate_required")
        certificate = certificate_file(path, f"--{prefix}certificate-file")
    given = creating or chosen is not None or value is not None or certificate is not None
    return {type_field: (flag, kind if given else None),
            secret_field: (f"the {what}", value.reveal() if value is not None else None),
            certificate_field: (f"--{prefix}certificate-file", certificate)}


def certificate_file(path: str, flag: str) -> str:
    """The PEM text of ``path``, checked to hold a usable key and certificate.

    Raises:
        InputError: ``invalid_certificate`` / ``certificate_required`` /
        ``private_key_required``, naming ``flag`` (never the file's content).
    """
    try:
        with open(path, "rb") as pem:
            data = pem.read(MAX_CERTIFICATE + 1)
    except OSError as exc:
        raise InputError(f"{flag}: the file cannot be read ({exc.strerror or 'error'}): give "
                         "the path of a PEM with the private key and its certificate",
                         code="invalid_certificate") from None
    if len(data) > MAX_CERTIFICATE:
        raise InputError(f"{flag}: the file is larger than {MAX_CERTIFICATE // 1024} KiB; a "
                         "PEM of one key and its certificate is a few KiB",
                         code="invalid_certificate")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise InputError(f"{flag}: the file is not PEM text (a PFX or DER file?): export the "
                         "private key and the certificate as PEM, without a password",
                         code="invalid_certificate") from None
    # The API checks it again; here its errors name the flag.
    parse_certificate(text, what=f"the file given to {flag}")
    return text
