"""What the API answers about a tenant's Graph change notifications (never a clientState)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from functions.notifications import NotificationHealth, TenantNotifications
from functions.notifications.model import SubscriptionRecord


class SubscriptionOut(BaseModel):
    id: str = Field(description="Graph's subscription ID")
    resource: str = Field(description="/users or /groups/{id}/members")
    expiresAt: datetime


class TenantNotificationsOut(BaseModel):
    """Whether Graph tells this deployment of the tenant's directory changes."""

    tenantId: str
    health: NotificationHealth
    code: str = Field(default="", description="The error code when not active (empty "
                      "otherwise)")
    message: str = Field(description="What is wrong and the fix, when not active")
    checkedAt: datetime | None = Field(description="The last upkeep of its subscriptions")
    subscriptions: list[SubscriptionOut]


OFF = ("Change notifications are off: set TENANTSYNC_NOTIFICATION_URL to the function app's "
       "public HTTPS address to turn them on; the timer's syncs keep the tenant current.")


def notifications_out(tenant_id: str, status: TenantNotifications | None,
                      records: list[SubscriptionRecord], enabled: bool) -> TenantNotificationsOut:
    if not enabled or status is None:
        return TenantNotificationsOut(
            tenantId=tenant_id, health=NotificationHealth.OFF,
            message=OFF if not enabled else "Not subscribed yet: the next upkeep (every 30 "
            "minutes) subscribes the tenant.", checkedAt=None,
            subscriptions=[SubscriptionOut(id=r.subscription_id, resource=r.resource,
                                           expiresAt=r.expires_at) for r in records])
    return TenantNotificationsOut(
        tenantId=tenant_id, health=status.health, code=status.code, message=status.message,
        checkedAt=status.checked_at,
        subscriptions=[SubscriptionOut(id=r.subscription_id, resource=r.resource,
                                       expiresAt=r.expires_at) for r in records])
