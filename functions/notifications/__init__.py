"""Graph change notifications for directory tenants (opt-in: TENANTSYNC_NOTIFICATION_URL):
subscriptions kept by an upkeep, notifications checked and turned into sync triggers."""

from functions.notifications.model import NotificationHealth, TenantNotifications
from functions.notifications.receiver import (
    MAX_TOKEN_LENGTH,
    Accepted,
    NotificationReceiver,
    Received,
    Refusal,
)
from functions.notifications.store import SubscriptionTable
from functions.notifications.upkeep import LIFECYCLE_PATH, NOTIFY_PATH, Subscriber

__all__ = ["LIFECYCLE_PATH", "MAX_TOKEN_LENGTH", "NOTIFY_PATH", "Accepted", "NotificationHealth",
           "NotificationReceiver", "Received", "Refusal", "Subscriber", "SubscriptionTable",
           "TenantNotifications"]
