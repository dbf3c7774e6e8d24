"""The credential an admin gives for an app (a secret, a certificate, or none: federated), made
ready for the connection test, then kept in Key Vault."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

from functions.clients.certificates import PEM_CONTENT_TYPE, CertificateKey, parse_certificate
from functions.clients.entra import ClientCredential, TokenProvider, certificate_of
from functions.clients.vault import SecretStore
from functions.core.errors import InputError, SecretStoreError
from functions.core.model import CREDENTIAL_TYPES, Credential, CredentialType
from functions.core.sensitive import SecretValue


@dataclass(frozen=True)
class CredentialInput:
    """An app's credential as an admin gives it: ``secret`` is the client secret's Value or
    the certificate's PEM (key and certificate), hidden; nothing for ``federated``.
    ``keep`` instead names a credential already saved, to be used as it is."""

    type: CredentialType
    secret: SecretValue | None = None
    expires_on: datetime | None = None  # a secret's expiry; a certificate carries its own
    keep: Credential | None = None

    @classmethod
    def of(cls, type_name: str, secret: SecretValue | None = None,
           expires_on: datetime | None = None, *, what: str = "the app") -> CredentialInput:
        """A credential of the named type, checked for what that type needs.

        Raises:
            InputError: ``invalid_credential_type``; ``secret_required`` (a secret type
            without its Value); ``certificate_required`` (a certificate type without its
            PEM); ``invalid_request`` (a secret or certificate given with ``federated``).
        """
        if type_name not in CREDENTIAL_TYPES:
            raise InputError(f"the credential type of {what} must be one of "
                             f"{', '.join(CREDENTIAL_TYPES)}", code="invalid_credential_type")
        chosen = CredentialType(type_name)
        if chosen == CredentialType.SECRET and not secret:
            raise InputError(f"a client secret (its Value) is required for {what}",
                             code="secret_required")
        if chosen == CredentialType.CERTIFICATE and not secret:
            raise InputError(f"a certificate (private key and certificate in one PEM) is "
                             f"required for {what}", code="certificate_required")
        if chosen == CredentialType.FEDERATED and secret:
            raise InputError(f"{what} signs in with the function app's managed identity "
                             "(federated): send no secret or certificate with it",
                             code="invalid_request")
        return cls(chosen, secret, expires_on if chosen == CredentialType.SECRET else None)

    @classmethod
    def kept(cls, credential: Credential) -> CredentialInput:
        return cls(credential.type, keep=credential)


def as_input(credential: SecretValue | CredentialInput,
             expires_on: datetime | None = None) -> CredentialInput:
    """A bare secret (how every connection was given before credential types) is a secret."""
    if isinstance(credential, CredentialInput):
        return credential
    return CredentialInput(CredentialType.SECRET, credential, expires_on)


@dataclass(frozen=True)
class PreparedCredential:
    """A credential ready to sign in with (``material``), before anything is saved."""

    given: CredentialInput
    material: ClientCredential
    expires_on: datetime | None


@dataclass
class Credentials:
    """Makes given credentials ready for a connection test, and keeps them in Key Vault."""

    secrets: SecretStore
    tokens: TokenProvider

    def prepare(self, given: CredentialInput, *, what: str = "the certificate"
                ) -> PreparedCredential:
        """Parse or read the credential, without saving it.

        Raises:
            InputError: a certificate that is not a usable key and certificate.
            SecretStoreError: a kept credential could not be read from Key Vault.
        """
        if given.keep is not None:
            material, expires = self.material_of(given.keep)
            return PreparedCredential(given, material, expires)
        if given.type == CredentialType.FEDERATED:
            return PreparedCredential(given, self.tokens.federation, None)
        assert given.secret is not None
        if given.type == CredentialType.CERTIFICATE:
            key = parse_certificate(given.secret.reveal(), what=what)
            return PreparedCredential(given, key, key.expires_on)
        return PreparedCredential(given, given.secret, given.expires_on)

    def material_of(self, credential: Credential) -> tuple[ClientCredential, datetime | None]:
        """What a saved credential signs in with, and when it expires.

        Raises:
            SecretStoreError: the vault failed or has no such secret.
            InputError: the vault's certificate is not a usable key and certificate.
        """
        if credential.type == CredentialType.FEDERATED:
            return self.tokens.federation, None
        stored = self.secrets.get(credential.key_vault_name, fresh=True)
        if credential.type == CredentialType.CERTIFICATE:
            key = certificate_of(stored)
            return key, key.expires_on
        return stored.value, stored.expires_on

    def save(self, prepared: PreparedCredential, name: str) -> Credential:
        """Keep a prepared credential: a secret as ``name``, a certificate as
        ``name-certificate`` (key and certificate in PEM, expiring with the certificate),
        a federated one nowhere. A credential the vault already holds as it is gets no new
        version (changing a connection's other fields must not pile versions up).

        Raises:
            SecretStoreError: the vault refused or could not be reached.
        """
        given = prepared.given
        if given.keep is not None:
            return given.keep
        if given.type == CredentialType.FEDERATED:
            return Credential(CredentialType.FEDERATED)
        if given.type == CredentialType.CERTIFICATE:
            assert isinstance(prepared.material, CertificateKey)
            name = f"{name}-certificate"
            self._put(name, prepared.material.bundle, prepared.expires_on, PEM_CONTENT_TYPE)
            return Credential(CredentialType.CERTIFICATE, name)
        assert given.secret is not None
        self._put(name, given.secret, prepared.expires_on, "client-secret")
        return Credential(CredentialType.SECRET, name)

    def _put(self, name: str, value: SecretValue, expires_on: datetime | None,
             content_type: str) -> None:
        try:
            current = self.secrets.get(name, fresh=True)
        except SecretStoreError as exc:
            if exc.code != "secret_missing":
                raise
        else:
            same = hmac.compare_digest(current.value.reveal(), value.reveal())
            if same and current.expires_on == expires_on:
                return
        self.secrets.put(name, value, expires_on=expires_on, content_type=content_type)

    def forget(self, credential: Credential, owner_prefix: str) -> None:
        """Soft-delete a saved credential if it is the owner's own (a deployment app's
        credential, shared by many tenants, stays).

        Raises:
            SecretStoreError: the vault refused or could not be reached.
        """
        name = credential.key_vault_name
        if name and name.startswith(owner_prefix):
            self.secrets.delete(name)
