"""Onboarding tenants: check the connection first, then store the secret and the tenant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import requests

from functions.clients.entra import TokenProvider
from functions.clients.graph import GraphClient
from functions.clients.vault import SecretStore
from functions.core.config import DEFAULT_GRAPH_SCOPE, Settings
from functions.core.errors import ConflictError, InputError
from functions.core.model import DirectoryConnection, TenantRecord, utcnow
from functions.core.sensitive import SecretValue
from functions.core.validation import guid
from functions.core.validation import scope as check_scope
from functions.directory.reader import GroupTreeReader
from functions.onboarding.names import directory_secret_name
from functions.storage.tenants import TenantTable


@dataclass(frozen=True)
class ConnectionCheck:
    group_name: str


@dataclass
class Onboarding:
    settings: Settings
    tenants: TenantTable
    secrets: SecretStore
    tokens: TokenProvider
    session: requests.Session

    def check_directory(
        self, tenant_id: str, client_id: str, secret: SecretValue, group_id: str, scope: str
    ) -> ConnectionCheck:
        """Get a token and read the level-0 group, as the seed console's popup does.

        Raises:
            AuthenticationError / TenantError: with the fix in the message.
        """
        graph = GraphClient.configured(
            self.settings, lambda: self.tokens.token(tenant_id, client_id, secret, scope),
            self.session, max_retries=2,
        )
        root = GroupTreeReader(graph, tenant_id).read_root(group_id)
        return ConnectionCheck(root.display_name)

    def add_directory_tenant(
        self,
        tenant_id: str,
        client_id: str,
        secret: SecretValue,
        group_id: str,
        *,
        scope: str = DEFAULT_GRAPH_SCOPE,
        secret_expires_on: datetime | None = None,
    ) -> TenantRecord:
        """Onboard (or re-onboard) a tenant's directory connection.

        Nothing is stored unless the connection check passes.

        Raises:
            InputError: malformed input.
            AuthenticationError / TenantError: the connection check failed.
            SecretStoreError / StorageError: the vault or the tables failed.
        """
        tenant_id = guid(tenant_id, "tenant ID")
        client_id = guid(client_id, "client ID")
        group_id = guid(group_id, "group ID")
        scope = check_scope(scope)
        if not secret:
            raise InputError("a client secret (its Value) is required", code="secret_required")
        check = self.check_directory(tenant_id, client_id, secret, group_id, scope)
        name = directory_secret_name(tenant_id)
        saved = self.secrets.put(name, secret, expires_on=secret_expires_on)
        existing = self.tenants.find(tenant_id)
        tenant = existing or TenantRecord(tenant_id=tenant_id, created_at=utcnow())
        tenant.directory = DirectoryConnection(tenant_id, client_id, group_id, scope, name)
        tenant.display_name = check.group_name
        tenant.secret_expires_on = saved.expires_on
        tenant.enabled = True
        self.tenants.save(tenant)
        return tenant

    def set_directory_secret(
        self, tenant_id: str, secret: SecretValue, *, secret_expires_on: datetime | None = None
    ) -> TenantRecord:
        """Save a new secret as a new Key Vault version after checking it works.

        The next token request uses it; runs in flight finish with the old one.
        """
        tenant = self.tenants.get(guid(tenant_id, "tenant ID"))
        if tenant.directory is None:
            raise InputError(f"tenant {tenant_id} has no directory connection")
        conn = tenant.directory
        self.check_directory(conn.tenant_id, conn.client_id, secret, conn.group_id, conn.scope)
        saved = self.secrets.put(conn.secret_name, secret, expires_on=secret_expires_on)
        tenant.secret_expires_on = saved.expires_on
        self.tenants.save(tenant)
        return tenant

    def create_directory_tenant(
        self,
        tenant_id: str,
        client_id: str,
        secret: SecretValue,
        group_id: str,
        *,
        scope: str = DEFAULT_GRAPH_SCOPE,
        secret_expires_on: datetime | None = None,
    ) -> TenantRecord:
        """Onboard a tenant that is not onboarded yet (see :meth:`add_directory_tenant`).

        Raises:
            ConflictError: ``tenant_exists``; change an onboarded tenant with
            :meth:`update_directory_tenant`.
            and what :meth:`add_directory_tenant` raises.
        """
        tenant_id = guid(tenant_id, "tenant ID")
        if self.tenants.find(tenant_id) is not None:
            raise ConflictError(
                f"tenant {tenant_id} is already onboarded: change it with PATCH "
                f"/api/tenants/{tenant_id} (tenantsync tenant update --tenant-id {tenant_id})",
                code="tenant_exists",
            )
        return self.add_directory_tenant(
            tenant_id, client_id, secret, group_id, scope=scope,
            secret_expires_on=secret_expires_on,
        )

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
    ) -> TenantRecord:
        """Change an onboarded tenant; ``None`` leaves a field as it is.

        A change to the connection (app, group, scope or secret) is tested first, with the
        new secret or else the one in Key Vault, and nothing is stored if the test fails. A
        new secret is a new Key Vault version, used from the next token request.

        Raises:
            NotFoundError: ``unknown_tenant``.
            InputError: malformed input, or no directory connection to change.
            AuthenticationError / TenantError: the connection check failed.
            SecretStoreError / StorageError: the vault or the tables failed.
        """
        tenant = self.tenants.get(guid(tenant_id, "tenant ID"))
        if any(v is not None for v in (client_id, group_id, scope, secret)):
            conn = tenant.directory
            if conn is None:
                raise InputError(
                    f"tenant {tenant.tenant_id} has no directory connection to change",
                    code="not_configured",
                )
            if secret is not None and not secret:
                raise InputError("a client secret (its Value) is required",
                                 code="secret_required")
            new = DirectoryConnection(
                conn.tenant_id,
                guid(client_id, "client ID") if client_id is not None else conn.client_id,
                guid(group_id, "group ID") if group_id is not None else conn.group_id,
                check_scope(scope) if scope is not None else conn.scope,
                conn.secret_name,
            )
            tested = secret if secret is not None else self.secrets.get(conn.secret_name).value
            check = self.check_directory(
                new.tenant_id, new.client_id, tested, new.group_id, new.scope
            )
            if secret is not None:
                saved = self.secrets.put(conn.secret_name, secret, expires_on=secret_expires_on)
                tenant.secret_expires_on = saved.expires_on
            tenant.directory = new
            tenant.display_name = check.group_name
        if enabled is not None:
            tenant.enabled = enabled
        self.tenants.save(tenant)
        return tenant

    def remove_tenant(self, tenant_id: str) -> TenantRecord:
        """Remove a tenant's configuration: its secret (soft-deleted in Key Vault) and its row.

        Synced data and runs stay. The secret goes first, so that a failure leaves a tenant
        that can be removed again rather than an orphaned secret.

        Raises:
            NotFoundError: ``unknown_tenant``.
            SecretStoreError / StorageError: the vault or the tables failed.
        """
        tenant = self.tenants.get(guid(tenant_id, "tenant ID"))
        if tenant.directory is not None:
            self.secrets.delete(tenant.directory.secret_name)
        self.tenants.delete(tenant.tenant_id)
        return tenant

    def set_enabled(self, tenant_id: str, enabled: bool) -> TenantRecord:
        tenant = self.tenants.get(guid(tenant_id, "tenant ID"))
        tenant.enabled = enabled
        self.tenants.save(tenant)
        return tenant
