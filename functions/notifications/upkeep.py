"""Keeping each directory tenant's Graph subscriptions: made for its tracked groups (level 0
and level 1) and its users, renewed before they expire, made again after Graph removed or
refused one, removed with the tenant. What cannot be made is the tenant's notification
health, with the fix; the timer's syncs keep the tenant current either way."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from functions.clients.graph import GraphClient, RequestStats
from functions.clients.tenant_graph import TenantGraphs
from functions.clients.vault import SecretStore
from functions.core import telemetry
from functions.core.config import Settings
from functions.core.errors import (
    AuthenticationError,
    ErrorCode,
    GraphError,
    SecretStoreError,
    TenantSyncError,
)
from functions.core.model import SyncKind, SyncState, TenantRecord, utcnow
from functions.core.sensitive import SecretValue
from functions.notifications.graph_api import GraphSubscriptions
from functions.notifications.model import (
    GROUP_QUOTA,
    LIFETIME,
    RENEW_WITHIN,
    USERS_RESOURCE,
    NotificationHealth,
    SubscriptionRecord,
    TenantNotifications,
    group_resource,
    secret_name,
)
from functions.notifications.receiver import REPLAY_WINDOW
from functions.notifications.store import SubscriptionTable
from functions.storage.tenants import TenantTable

log = logging.getLogger("tenantsync.notifications")

NOTIFY_PATH = "/api/notifications/graph"
LIFECYCLE_PATH = "/api/notifications/lifecycle"
_FIX_GROUPS = ("grant the tenant's directory app the Microsoft Graph application permission "
               "Group.Read.All (Graph's subscriptions to groups ask for it; GroupMember.Read.All "
               "is not enough) and have an administrator consent again")
_FIX_USERS = ("grant the tenant's directory app User.Read.All and have an administrator "
              "consent again")


class _Stop(Exception):
    """A refusal that every further subscription of the tenant would get too."""

    def __init__(self, status: TenantNotifications) -> None:
        self.status = status


@dataclass
class Subscriber:
    """Makes, renews and removes the Graph subscriptions of directory tenants."""

    settings: Settings
    table: SubscriptionTable
    tenants: TenantTable
    secrets: SecretStore
    graphs: TenantGraphs
    tracked_groups: Callable[[str], list[str]]  # a tenant's level-1 group ids, as stored
    clock: Callable[[], datetime] = utcnow

    @property
    def enabled(self) -> bool:
        return bool(self.settings.notification_url)

    def urls(self) -> tuple[str, str]:
        """Where Graph delivers notifications and lifecycle events."""
        base = self.settings.notification_url or ""
        return base + NOTIFY_PATH, base + LIFECYCLE_PATH

    def upkeep(self) -> dict[str, int]:
        """Every directory tenant's subscriptions, one tenant's failure never stopping the
        others; tenants gone or no longer synced lose theirs. Counts by health."""
        counts: dict[str, int] = {}
        current: set[str] = set()
        for tenant in self.tenants.list():
            if not self._wanted(tenant):
                continue
            current.add(tenant.tenant_id)
            try:
                health = self.ensure(tenant.tenant_id).health.value
            except TenantSyncError as exc:
                log.warning("notifications of tenant %s: %s", tenant.tenant_id, exc.message)
                health = NotificationHealth.FAILING.value
            counts[health] = counts.get(health, 0) + 1
        for tenant_id in set(self.table.tenant_ids()) - current:
            self.remove_tenant(tenant_id)
        return counts

    def _wanted(self, tenant: TenantRecord) -> bool:
        conn = tenant.directory
        return (self.enabled and tenant.enabled and conn is not None and bool(conn.group_id))

    def ensure(self, tenant_id: str) -> TenantNotifications:
        """Make what is missing, renew what expires soon, delete what is no longer tracked;
        the tenant's notification health (also stored).

        Raises:
            NotFoundError: ``unknown_tenant``. StorageError: the tables failed.
        """
        tenant = self.tenants.get(tenant_id)
        if not self._wanted(tenant):
            self.remove_tenant(tenant_id)
            return TenantNotifications(tenant_id, NotificationHealth.OFF)
        assert tenant.directory is not None
        level0 = tenant.directory.group_id
        groups = [level0, *sorted(set(self.tracked_groups(tenant_id)) - {level0})]
        over = max(0, len(groups) - GROUP_QUOTA)
        wanted = [USERS_RESOURCE] + [group_resource(g) for g in groups[:GROUP_QUOTA]]
        status = TenantNotifications(tenant_id, NotificationHealth.ACTIVE,
                                     checked_at=self.clock())
        try:
            self._converge(tenant, wanted)
        except _Stop as stop:
            status = stop.status
        except GraphError as exc:
            status = self._failing(tenant_id, exc).status
        except (AuthenticationError, SecretStoreError) as exc:
            status = self._status(tenant_id, NotificationHealth.FAILING, exc.code,
                                  f"{exc.message} The next upkeep tries again.")
        if over and status.health == NotificationHealth.ACTIVE:
            status = self._status(
                tenant_id, NotificationHealth.QUOTA_REACHED, ErrorCode.NOTIFICATIONS_QUOTA,
                f"{len(groups)} groups are tracked and Graph allows {GROUP_QUOTA} group "
                f"subscriptions per app and tenant: {over} groups are heard of only at the next "
                "timer sync. To hear of them too, track fewer level-1 groups.")
        self.table.set_status(status)
        telemetry.emit("tenantsync.notifications", tenant_id=tenant_id,
                       health=status.health.value, error_code=status.code)
        return status

    def _converge(self, tenant: TenantRecord, wanted: list[str]) -> None:
        tenant_id = tenant.tenant_id
        graph: GraphSubscriptions | None = None

        def api() -> GraphSubscriptions:
            nonlocal graph
            if graph is None:
                graph = GraphSubscriptions(self._graph(tenant))
            return graph

        have = {r.resource: r for r in self.table.of_tenant(tenant_id)}
        for gone in have.values():
            if gone.resource not in wanted:
                self._drop(api(), gone)
        now = self.clock()
        for resource in wanted:
            record = have.get(resource)
            if record is not None:
                self.table.prune_sightings(record.subscription_id, now - REPLAY_WINDOW)
            if record is not None and record.expires_at - now > RENEW_WITHIN:
                continue
            if record is not None and self._renewed(api(), record, now):
                continue
            self._create(api(), tenant_id, resource, now)

    def _graph(self, tenant: TenantRecord) -> GraphClient:
        conn = tenant.directory
        assert conn is not None
        return self.graphs.for_app(tenant.tenant_id, conn.client_id, conn.credential,
                                   conn.scope, kind=SyncKind.DIRECTORY, state=SyncState(),
                                   stats=RequestStats(), now=self.clock())

    def _renewed(self, api: GraphSubscriptions, record: SubscriptionRecord,
                 now: datetime) -> bool:
        try:
            expires = api.renew(record.subscription_id, now + LIFETIME)
        except GraphError as exc:
            if exc.status not in (400, 403, 404):
                raise self._failing(record.tenant_id, exc) from None
            # Removed or refused by Graph: made again below.
            self.table.delete(record.tenant_id, record.subscription_id)
            return False
        self.table.save(SubscriptionRecord(record.tenant_id, record.subscription_id,
                                           record.resource, expires, record.secret_name,
                                           record.created_at))
        return True

    def _create(self, api: GraphSubscriptions, tenant_id: str, resource: str,
                now: datetime) -> None:
        name = secret_name(tenant_id, resource)
        client_state = SecretValue(secrets.token_urlsafe(48))  # 64 characters of Graph's 128
        try:
            # No expiry: a renewed subscription keeps its clientState past the first term.
            self.secrets.put(name, client_state, expires_on=None,
                             content_type="graph-client-state")
            sub_id, expires = api.create(resource, *self.urls(), client_state, now + LIFETIME)
        except GraphError as exc:
            if exc.status == 404 and resource != USERS_RESOURCE:
                log.info("group of %s is gone from tenant %s: no subscription", resource,
                         tenant_id)
                return  # the next sync marks the group deleted and stops tracking it
            raise self._refused(tenant_id, resource, exc) from None
        except TenantSyncError as exc:
            raise _Stop(self._status(tenant_id, NotificationHealth.FAILING, exc.code,
                                     f"{exc.message} The next upkeep tries again.")) from None
        self.table.save(SubscriptionRecord(tenant_id, sub_id, resource, expires, name, now))

    def _refused(self, tenant_id: str, resource: str, exc: GraphError) -> _Stop:
        groups = resource != USERS_RESOURCE
        if exc.status == 403 and "limit" in exc.message.lower():
            return _Stop(self._status(
                tenant_id, NotificationHealth.QUOTA_REACHED, ErrorCode.NOTIFICATIONS_QUOTA,
                f"Graph refused a subscription to {resource}: the app's subscription limit in "
                "this tenant is reached (100 per app and tenant, 1,000 per tenant across "
                "apps). Remove other apps' subscriptions or track fewer groups; the timer's "
                "syncs keep the tenant current meanwhile."))
        if exc.status in (401, 403):
            return _Stop(self._status(
                tenant_id, NotificationHealth.PERMISSION_MISSING,
                ErrorCode.NOTIFICATIONS_PERMISSION_MISSING,
                f"Graph refused a subscription to {resource}: "
                f"{_FIX_GROUPS if groups else _FIX_USERS}. The timer's syncs keep the tenant "
                "current meanwhile."))
        if exc.status == 400 and exc.graph_code == "ValidationError":
            return _Stop(self._status(
                tenant_id, NotificationHealth.FAILING, ErrorCode.GRAPH_ERROR,
                "Graph could not validate the notification URL: set "
                "TENANTSYNC_NOTIFICATION_URL to this function app's public HTTPS address, "
                "reachable from the internet, then wait for the next upkeep."))
        return self._failing(tenant_id, exc)

    def _failing(self, tenant_id: str, exc: GraphError) -> _Stop:
        return _Stop(self._status(tenant_id, NotificationHealth.FAILING, exc.code,
                                  f"{exc.message}. The next upkeep tries again."))

    def _status(self, tenant_id: str, health: NotificationHealth, code: str,
                message: str) -> TenantNotifications:
        return TenantNotifications(tenant_id, health, str(code), message, self.clock())

    def recreate(self, tenant_id: str, subscription_id: str) -> None:
        """After a ``reauthorizationRequired`` event: reauthorize; when Graph refuses (the
        subscription is gone), make it again.

        Raises:
            NotFoundError / StorageError: as :meth:`ensure`.
        """
        record = self.table.get(tenant_id, subscription_id)
        tenant = self.tenants.find(tenant_id)
        if record is None or tenant is None or not self._wanted(tenant):
            return
        try:
            GraphSubscriptions(self._graph(tenant)).reauthorize(subscription_id)
            return
        except GraphError as exc:
            log.info("reauthorizing subscription %s of tenant %s: %s; making it again",
                     subscription_id, tenant_id, exc.message)
        self.table.delete(tenant_id, subscription_id)
        self.ensure(tenant_id)

    def remove_tenant(self, tenant_id: str) -> int:
        """Delete a tenant's subscriptions (in Graph when it still lets us), their rows and
        their clientState secrets; how many. Never blocks a tenant's removal: a
        subscription Graph kept expires on its own, and its notifications are refused."""
        records = self.table.of_tenant(tenant_id)
        tenant = self.tenants.find(tenant_id)
        api = None
        if records and tenant is not None and tenant.directory is not None:
            try:
                api = GraphSubscriptions(self._graph(tenant))
            except TenantSyncError as exc:
                log.info("subscriptions of tenant %s left to expire: %s", tenant_id, exc.message)
        for record in records:
            self._drop(api, record)
        self.table.forget_status(tenant_id)
        return len(records)

    def _drop(self, api: GraphSubscriptions | None, record: SubscriptionRecord) -> None:
        if api is not None:
            try:
                api.delete(record.subscription_id)
            except TenantSyncError as exc:
                log.info("subscription %s left to expire: %s", record.subscription_id,
                         exc.message)
        self.table.delete(record.tenant_id, record.subscription_id)
        try:
            self.secrets.delete(record.secret_name)
        except SecretStoreError as exc:  # its subscription is gone: the secret unlocks nothing
            log.warning("clientState secret of subscription %s not deleted: %s",
                        record.subscription_id, exc.message)
