"""Onboarding tenants: check the connection first, then store the secret and the tenant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import requests

from .config import DEFAULT_GRAPH_SCOPE, Settings
from .directory.reader import GroupTreeReader
from .domain import DirectoryConnection, TenantRecord, utcnow
from .errors import InputError
from .graph import GraphClient
from .secrets import SecretStore, SecretValue, directory_secret_name
from .storage.repositories import TenantTable
from .tokens import TokenProvider
from .validation import guid
from .validation import scope as check_scope


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
        graph = GraphClient(
            self.settings.graph_url,
            lambda: self.tokens.token(tenant_id, client_id, secret, scope),
            self.session,
            max_retries=2,
            timeout=self.settings.graph_timeout,
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

    def set_enabled(self, tenant_id: str, enabled: bool) -> TenantRecord:
        tenant = self.tenants.get(guid(tenant_id, "tenant ID"))
        tenant.enabled = enabled
        self.tenants.save(tenant)
        return tenant
