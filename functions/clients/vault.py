"""Secrets kept only in Key Vault (``azure-keyvault-secrets``)."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.keyvault.secrets import KeyVaultSecret, SecretClient

from functions.core.errors import SecretStoreError
from functions.core.sensitive import SecretValue

log = logging.getLogger("tenantsync.secrets")
T = TypeVar("T")


_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")  # Key Vault secret names


@dataclass(frozen=True)
class StoredSecret:
    name: str
    version: str
    value: SecretValue
    expires_on: datetime | None
    content_type: str = ""  # e.g. application/x-pem-file for a certificate


class SecretStore:
    """Reads and writes tenant secrets in Key Vault. Each write is a new version.

    Reads are kept for ``max_age`` seconds (an hour by default, a token's lifetime):
    hundreds of customer tenants share one inventory-app secret, and one vault read per run
    of each would be hundreds of reads a minute; Key Vault's guidance is to cache secrets and
    read again when the copy fails. A secret saved through this store replaces its cached
    value at once; one saved by another instance is read as soon as the token endpoint
    refuses the old one (``fresh``), else within ``max_age``.
    """

    def __init__(self, client: SecretClient, *, max_age: float = 0.0) -> None:
        self._client = client
        self._max_age = max_age
        self._cache: dict[str, tuple[float, StoredSecret]] = {}
        self._reading: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        # A new client's first request meets the vault's auth challenge and signs the
        # instance in; threads that ask at once would each do both (one token request and
        # one 401 each), so the first operation goes alone and the others wait for it.
        self._first = threading.Lock()
        self._met = False

    def _call(self, action: str, name: str, operation: Callable[[], T], *,
              expected: tuple[type[AzureError], ...] = ()) -> T:
        """Run one vault operation. Transient failures (connection resets, 408, 429, 5xx)
        are retried with exponential back-off by azure-core's RetryPolicy, which every
        Azure SDK client runs (3 retries by default); what is left ends here.

        Raises:
            the ``expected`` errors, for the caller to decide.
            SecretStoreError: the vault refused, or stayed unreachable.
        """
        try:
            if self._met:
                return operation()
            with self._first:
                try:
                    return operation()
                finally:
                    self._met = True
        except expected:
            raise
        except AzureError as exc:
            raise self._error(action, name, exc) from None

    def _remember(self, secret: StoredSecret) -> StoredSecret:
        if self._max_age > 0:
            with self._lock:
                self._cache[secret.name] = (time.monotonic() + self._max_age, secret)
        return secret

    def _forget(self, name: str) -> None:
        with self._lock:
            self._cache.pop(name, None)

    def put(self, name: str, value: SecretValue, *, expires_on: datetime | None,
            content_type: str = "client-secret") -> StoredSecret:
        """Save a new version of a secret (``content_type`` says what it is: a client secret,
        a PEM certificate); the previous version stays in the vault's history.

        Raises:
            SecretStoreError: the vault refused or could not be reached.
        """
        if not _NAME.match(name):
            raise SecretStoreError(f"invalid Key Vault secret name {name!r}")
        try:
            secret = self._call("save", name,
                                lambda: self._set(name, value, expires_on, content_type),
                                expected=(ResourceExistsError,))
        except ResourceExistsError:
            # 409: the name is soft-deleted (its tenant was removed). Recover it, so that
            # its history stays, then save the new value as a new version.
            self._call("recover", name,
                       lambda: self._client.begin_recover_deleted_secret(name).wait())
            secret = self._call("save", name,
                                lambda: self._set(name, value, expires_on, content_type))
        return self._remember(StoredSecret(
            name, secret.properties.version or "", value, secret.properties.expires_on,
            secret.properties.content_type or "",
        ))

    def _set(self, name: str, value: SecretValue, expires_on: datetime | None,
             content_type: str) -> KeyVaultSecret:
        return self._client.set_secret(
            name, value.reveal(), expires_on=expires_on, content_type=content_type
        )

    def delete(self, name: str) -> None:
        """Soft-delete a secret (recoverable for the vault's retention period).

        A secret that does not exist is not an error.

        Raises:
            SecretStoreError: the vault refused or could not be reached.
        """
        self._forget(name)
        try:
            self._call("delete", name, lambda: self._client.begin_delete_secret(name).wait(),
                       expected=(ResourceNotFoundError,))
        except ResourceNotFoundError:
            return

    def get(self, name: str, *, fresh: bool = False) -> StoredSecret:
        """Read the latest version of a secret (``fresh``: from the vault, not the cache).

        Raises:
            SecretStoreError: code ``secret_missing`` if absent, else the vault failed.
        """
        with self._lock:
            reading = self._reading.setdefault(name, threading.Lock())
        asked = time.monotonic()
        # One read at a time per name: the runs that want it at once share its answer.
        with reading:
            with self._lock:
                cached = self._cache.get(name)
            if cached is not None and cached[0] > time.monotonic() and (
                    not fresh or cached[0] - self._max_age >= asked):
                return cached[1]
            return self._read(name)

    def _read(self, name: str) -> StoredSecret:
        try:
            secret = self._call("read", name, lambda: self._client.get_secret(name),
                                expected=(ResourceNotFoundError,))
        except ResourceNotFoundError:
            raise SecretStoreError(
                f"Key Vault has no secret {name!r}: save the tenant's client secret again "
                "(tenantsync tenant update --secret-env NAME)",
                code="secret_missing",
            ) from None
        return self._remember(StoredSecret(
            name, secret.properties.version or "", SecretValue(secret.value or ""),
            secret.properties.expires_on, secret.properties.content_type or "",
        ))

    def versions(self, name: str) -> list[str]:
        """Version ids of a secret (each save is one), for audits and tests of rotation."""
        return self._call("list versions of", name, lambda: [
            p.version or "" for p in self._client.list_properties_of_secret_versions(name)])

    def ping(self) -> None:
        """Check that the vault answers and lets us list secrets."""
        self._call("list", "*", lambda: next(
            iter(self._client.list_properties_of_secrets(max_page_size=1)), None))

    @staticmethod
    def _error(action: str, name: str, exc: AzureError) -> SecretStoreError:
        # The SDK's exception text may echo request details; keep only the type and status.
        status = getattr(exc, "status_code", None)
        detail = f"HTTP {status}" if status else type(exc).__name__
        # The SDK's own words go to the log (for whoever debugs), not into the error.
        log.warning("key vault %s of %r failed: %s: %s", action, name, type(exc).__name__,
                    str(exc)[:500])
        if status == 403:
            hint = ("the app's identity needs the 'Key Vault Secrets Officer' role on the "
                    "vault")
        elif status == 401 or isinstance(exc, ClientAuthenticationError):
            hint = "the app could not authenticate to Key Vault (check its identity settings)"
        else:
            hint = "check TENANTSYNC_KEY_VAULT_URL and that the vault is reachable"
        return SecretStoreError(f"Key Vault could not {action} secret {name!r} ({detail}): {hint}")
