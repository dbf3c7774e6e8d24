"""Graph change notifications for directory tenants: what tenantsync subscribes to and
the state of a tenant's subscriptions.

Facts from shared/reference/directory-changes.md section 2 (Graph's webhooks pages): one id
per subscription, so a group each; changeType `updated` and `deleted` only; at most 41,760
minutes of life; 100 user and 100 group subscriptions per app and tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

# Asked for at each create or renewal: under Graph's 41,760-minute maximum for directory
# resources, with room for clock skew.
LIFETIME = timedelta(minutes=41_760 - 60)
# Renewed when less than this is left: several upkeep rounds before Graph deletes it.
RENEW_WITHIN = timedelta(days=7)
CHANGE_TYPES = "updated,deleted"
USERS_RESOURCE = "/users"
GROUP_QUOTA = 100  # group subscriptions per app and tenant


def group_resource(group_id: str) -> str:
    """The membership of one group: Graph allows one id per subscription."""
    return f"/groups/{group_id}/members"


class NotificationHealth(StrEnum):
    """Whether a directory tenant hears of its changes as they happen; whatever it says,
    the timer's syncs keep the tenant current."""

    OFF = "off"  # the deployment has no TENANTSYNC_NOTIFICATION_URL
    ACTIVE = "active"  # every tracked resource has a subscription
    PERMISSION_MISSING = "permission_missing"  # Graph refused: the app lacks a permission
    QUOTA_REACHED = "quota_reached"  # more groups than Graph's per-app limit
    FAILING = "failing"  # Graph or the handshake failed; the next upkeep tries again


@dataclass(frozen=True)
class SubscriptionRecord:
    """One Graph subscription of a tenant. Its clientState is only in Key Vault
    (``secret_name``), never here."""

    tenant_id: str
    subscription_id: str
    resource: str
    expires_at: datetime
    secret_name: str
    created_at: datetime


@dataclass(frozen=True)
class TenantNotifications:
    """A tenant's subscriptions as a whole: its health, and the fix when it is not active."""

    tenant_id: str
    health: NotificationHealth
    code: str = ""
    message: str = ""
    checked_at: datetime | None = None


def secret_name(tenant_id: str, resource: str) -> str:
    """The Key Vault name of a subscription's clientState (letters, digits and dashes)."""
    slot = "users" if resource == USERS_RESOURCE else resource.split("/")[2]
    return f"tenant-{tenant_id}-notify-{slot}"
