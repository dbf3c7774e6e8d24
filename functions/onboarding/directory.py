"""Onboarding tenants: check the connection first, then keep the credential and the tenant."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from functions.clients.credentials import CredentialInput, Credentials, as_input
from functions.core.config import DEFAULT_GRAPH_SCOPE
from functions.core.errors import ConflictError, InputError
from functions.core.model import Credential, DirectoryConnection, Health, TenantRecord, utcnow
from functions.core.sensitive import SecretValue
from functions.core.validation import guid
from functions.core.validation import scope as check_scope
from functions.onboarding.checks import ConnectionCheck, ConnectionTest
from functions.onboarding.names import directory_secret_name
from functions.storage.health import TenantHealth
from functions.storage.tenants import TenantTable

log = logging.getLogger("tenantsync.onboarding")


@dataclass
class Onboarding:
    tenants: TenantTable
    health: TenantHealth  # every change of a side's health goes through it
    credentials: Credentials
    test: ConnectionTest

    def check_directory(
        self, tenant_id: str, client_id: str, secret: SecretValue, group_id: str, scope: str
    ) -> ConnectionCheck:
        """Get a token, check its permissions and read the level-0 group, as the seed
        console's popup does (with a client secret).

        Raises:
            AuthenticationError / TenantError: with the fix in the message.
        """
        return self.test.directory(tenant_id, client_id, secret, group_id, scope)

    def add_directory_tenant(
        self,
        tenant_id: str,
        client_id: str,
        credential: SecretValue | CredentialInput,
        group_id: str,
        *,
        scope: str = DEFAULT_GRAPH_SCOPE,
        secret_expires_on: datetime | None = None,
        new: bool = False,
    ) -> TenantRecord:
        """Onboard (or re-onboard) a tenant's directory connection, signing in with a client
        secret, a certificate or the managed identity (``credential``; a bare secret is a
        secret expiring on ``secret_expires_on``); ``new``: only a tenant not onboarded yet.

        Nothing is stored unless the connection test passes (a token, every permission the
        sync needs, the level-0 group).

        Raises:
            InputError: malformed input (a certificate that is not one, ...).
            ConflictError: ``tenant_exists`` (``new``): change an onboarded tenant with
            :meth:`update_directory_tenant`.
            AuthenticationError / TenantError: the connection test failed.
            SecretStoreError / StorageError: the vault or the tables failed.
        """
        tenant_id = guid(tenant_id, "tenant ID")
        if new and self.tenants.find(tenant_id) is not None:
            raise ConflictError(
                f"tenant {tenant_id} is already onboarded: change it with PATCH "
                f"/api/tenants/{tenant_id} (tenantsync tenant update --tenant-id {tenant_id})",
                code="tenant_exists",
            )
        client_id = guid(client_id, "client ID")
        group_id = guid(group_id, "group ID")
        scope = check_scope(scope)
        given = as_input(credential, secret_expires_on)
        if given.keep is None:
            given = CredentialInput.of(given.type, given.secret, given.expires_on,
                                       what=f"app {client_id}")
        prepared = self.credentials.prepare(given)
        check = self.test.directory(tenant_id, client_id, prepared.material, group_id, scope)
        for note in check.notes:
            log.warning(note, extra={"tenant_id": tenant_id})
        saved = self.credentials.save(prepared, directory_secret_name(tenant_id))
        return self.store_directory(tenant_id, client_id, group_id, scope, saved,
                                    prepared.expires_on, check.group_name)

    def store_directory(
        self, tenant_id: str, client_id: str, group_id: str, scope: str,
        credential: Credential, expires_on: datetime | None, display_name: str,
    ) -> TenantRecord:
        """Store a tested directory connection (``group_id`` empty: awaiting its group).

        Raises:
            StorageError: the tables failed.
        """
        existing = self.tenants.find(tenant_id)
        tenant = existing or TenantRecord(tenant_id=tenant_id, created_at=utcnow())
        tenant.directory = DirectoryConnection(tenant_id, client_id, group_id, scope,
                                               credential.key_vault_name, credential.type)
        if display_name or not tenant.display_name:
            tenant.display_name = display_name
        tenant.secret_expires_on = expires_on
        tenant.enabled = True
        self.health.replace(tenant)
        return tenant

    def set_directory_secret(
        self, tenant_id: str, secret: SecretValue, *, secret_expires_on: datetime | None = None
    ) -> TenantRecord:
        """Save a new secret as a new Key Vault version after checking it works.

        The next token request uses it; runs in flight finish with the old one.
        """
        return self.update_directory_tenant(
            tenant_id, credential=CredentialInput.of("secret", secret, secret_expires_on))

    def update_directory_tenant(
        self,
        tenant_id: str,
        *,
        client_id: str | None = None,
        group_id: str | None = None,
        scope: str | None = None,
        secret: SecretValue | None = None,
        secret_expires_on: datetime | None = None,
        enabled: bool | None = None,
        credential: CredentialInput | None = None,
    ) -> TenantRecord:
        """Change an onboarded tenant; ``None`` leaves a field as it is.

        A change to the connection (app, group, scope, secret or credential) is tested
        first, with the new credential or else the saved one, and nothing is stored if the
        test fails. A new secret or certificate is a new Key Vault version, used from the
        next token request.

        Raises:
            NotFoundError: ``unknown_tenant``.
            InputError: malformed input, or no directory connection to change.
            AuthenticationError / TenantError: the connection test failed.
            SecretStoreError / StorageError: the vault or the tables failed.
        """
        tenant = self.tenants.get(guid(tenant_id, "tenant ID"))
        if secret is not None:
            credential = CredentialInput.of("secret", secret, secret_expires_on)
        if any(v is not None for v in (client_id, group_id, scope, credential)):
            conn = tenant.directory
            if conn is None:
                raise InputError(
                    f"tenant {tenant.tenant_id} has no directory connection to change",
                    code="not_configured",
                )
            new_client = guid(client_id, "client ID") if client_id is not None else \
                conn.client_id
            new_group = guid(group_id, "group ID") if group_id is not None else conn.group_id
            new_scope = check_scope(scope) if scope is not None else conn.scope
            prepared = self.credentials.prepare(credential or CredentialInput.kept(
                conn.credential))
            check = self.test.directory(conn.tenant_id, new_client, prepared.material,
                                        new_group, new_scope)
            saved = self.credentials.save(prepared, directory_secret_name(tenant.tenant_id))
            tenant.directory = DirectoryConnection(conn.tenant_id, new_client, new_group,
                                                   new_scope, saved.key_vault_name, saved.type)
            if new_group and tenant.directory_state.health == Health.AWAITING_GROUP:
                # Its group is chosen: no longer waiting; its first sync says how it goes.
                tenant.directory_state.health = Health.UNKNOWN
                tenant.directory_state.health_since = utcnow()
            if credential is not None:
                tenant.secret_expires_on = prepared.expires_on
            if check.group_name:
                tenant.display_name = check.group_name
        if enabled is not None:
            tenant.enabled = enabled
        self.health.replace(tenant)
        return tenant

    def remove_tenant(self, tenant_id: str) -> TenantRecord:
        """Remove a tenant's configuration: its own secret or certificate (soft-deleted in
        Key Vault; a deployment app's credential stays) and its row.

        Synced data and runs stay. The credential goes first, so that a failure leaves a
        tenant that can be removed again rather than an orphaned secret.

        Raises:
            NotFoundError: ``unknown_tenant``.
            SecretStoreError / StorageError: the vault or the tables failed.
        """
        tenant = self.tenants.get(guid(tenant_id, "tenant ID"))
        if tenant.directory is not None:
            self.credentials.forget(tenant.directory.credential,
                                    directory_secret_name(tenant.tenant_id))
        self.tenants.delete(tenant.tenant_id)
        return tenant

    def set_enabled(self, tenant_id: str, enabled: bool) -> TenantRecord:
        tenant = self.tenants.get(guid(tenant_id, "tenant ID"))
        tenant.enabled = enabled
        self.health.replace(tenant)
        return tenant
