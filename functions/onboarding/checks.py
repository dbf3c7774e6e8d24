"""Connection tests, run before anything is stored: a token in the tenant, the application
permissions it grants (every missing one named), then a read of what the sync starts from."""

from __future__ import annotations

from dataclasses import dataclass

import requests

from functions.clients.entra import ClientCredential, TokenProvider
from functions.clients.graph import GraphClient
from functions.core.config import DEFAULT_GRAPH_SCOPE, Settings
from functions.core.errors import ErrorCode, GraphError, TenantError
from functions.core.kinds import KINDS
from functions.core.model import SyncKind
from functions.core.permissions import NOTIFICATION_NEEDS, missing, satisfied, token_roles
from functions.directory.reader import GroupTreeReader


@dataclass(frozen=True)
class ConnectionCheck:
    """What a passed test read: the level-0 group's name, the organization's name (when
    the app may read it), and the permissions granted."""

    group_name: str = ""
    organization: str = ""
    roles: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # what works without being needed (optional permissions)


@dataclass
class ConnectionTest:
    settings: Settings
    tokens: TokenProvider
    session: requests.Session

    def _token(self, tenant_id: str, client_id: str, credential: ClientCredential,
               scope: str, needs: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
        token = self.tokens.token(tenant_id, client_id, credential, scope)
        roles = tuple(token_roles(token))
        absent = missing(needs, roles)
        if absent:
            raise TenantError(
                f"App {client_id} lacks {_count(absent)} in tenant {tenant_id}: "
                f"{', '.join(absent)}. Add {'them' if len(absent) > 1 else 'it'} to the app's "
                "API permissions (Microsoft Graph, application permissions) and have an "
                f"administrator of tenant {tenant_id} grant admin consent again.",
                code=ErrorCode.PERMISSION_MISSING,
            )
        return token, roles

    def _graph(self, token: str) -> GraphClient:
        return GraphClient.configured(self.settings, lambda: token, self.session, max_retries=2)

    def directory(self, tenant_id: str, client_id: str, credential: ClientCredential,
                  group_id: str, scope: str = DEFAULT_GRAPH_SCOPE) -> ConnectionCheck:
        """Test a directory connection: the permissions, then the level-0 group (when one is
        given; a tenant consented without one chooses it later).

        Raises:
            AuthenticationError: the token request failed (the fix in the message).
            TenantError: ``permission_missing`` naming every missing permission;
            ``group_not_found`` and Graph's other refusals.
        """
        token, roles = self._token(tenant_id, client_id, credential, scope,
                                   KINDS.get(SyncKind.DIRECTORY).needs)
        graph = self._graph(token)
        name = GroupTreeReader(graph, tenant_id).read_root(group_id).display_name \
            if group_id else ""
        notes: tuple[str, ...] = ()
        if self.settings.notification_url and missing(NOTIFICATION_NEEDS, roles):
            notes = (f"Optional: app {client_id} lacks Group.Read.All in tenant {tenant_id}, so "
                     "Graph will not tell of group membership changes as they happen (change "
                     "notifications); the timer's syncs read them. Grant it and consent again "
                     "to hear of them within minutes.",)
        return ConnectionCheck(name, self._organization(graph, roles), roles, notes)

    def devices(self, tenant_id: str, client_id: str,
                credential: ClientCredential) -> ConnectionCheck:
        """Test a device connection: the permissions, then the organization.

        Raises:
            AuthenticationError / TenantError: as :meth:`directory`.
        """
        token, roles = self._token(tenant_id, client_id, credential, DEFAULT_GRAPH_SCOPE,
                                   KINDS.get(SyncKind.DEVICES).needs)
        return ConnectionCheck("", self._organization(self._graph(token), roles), roles)

    def _organization(self, graph: GraphClient, roles: tuple[str, ...]) -> str:
        """The organization's name, if the app may read it (else empty)."""
        if not satisfied("Organization.Read.All", roles):
            return ""
        try:
            body = graph.get("/organization", {"$select": "displayName"})
        except GraphError as exc:
            raise TenantError(f"Reading the organization of the tenant failed: {exc.message}",
                              code=exc.code) from None
        items = body.get("value") or []
        return str(items[0].get("displayName") or "") if items else ""


def _count(absent: list[str]) -> str:
    return "an application permission" if len(absent) == 1 else \
        f"{len(absent)} application permissions"
