"""An app's credential as a request body gives it: a type, and a secret or a certificate."""

from __future__ import annotations

from datetime import datetime

from pydantic import SecretStr

from functions.api.models import utc
from functions.clients.credentials import CredentialInput
from functions.core.errors import InputError
from functions.core.model import utcnow
from functions.core.sensitive import SecretValue


def credential_input(
    type_name: str | None, secret: SecretStr | None, certificate: SecretStr | None,
    expires_on: datetime | None, *, fields: tuple[str, str, str, str], what: str,
) -> CredentialInput | None:
    """The credential sent (``None``: none), its type given or read from what was sent.

    ``fields`` name the body's type, secret, certificate and expiry fields, for messages.

    Raises:
        InputError: a secret with a certificate type or the other way round, and what
        :meth:`CredentialInput.of` raises (``secret_required``, ``certificate_required``);
        ``invalid_time``: an expiry in the past (as the command line refuses it).
    """
    type_field, secret_field, certificate_field, expiry_field = fields
    expires = utc(expires_on)
    if expires is not None and expires <= utcnow():
        raise InputError(f"{expiry_field} is in the past: give the date the secret expires "
                         "(its app's Certificates & secrets page shows it), or leave it out",
                         code="invalid_time")
    if type_name is None:
        if secret is not None and certificate is not None:
            raise InputError(f"send {secret_field} or {certificate_field}, not both",
                             code="invalid_request")
        type_name = ("certificate" if certificate is not None
                else "secret" if secret is not None else None)
        if type_name is None:
            return None
    if type_name == "secret" and certificate is not None:
        raise InputError(f"{certificate_field} is for {type_field} certificate",
                         code="invalid_request")
    if type_name == "certificate" and secret is not None:
        raise InputError(f"{secret_field} is for {type_field} secret", code="invalid_request")
    value = secret if type_name == "secret" else certificate if type_name == "certificate" else (
        secret or certificate)
    return CredentialInput.of(type_name, SecretValue(value.get_secret_value()) if value else None,
                              expires, what=what)
