"""Signed webhooks (Standard Webhooks 1.0) that tell portals when a sync finished, a
tenant's health changed or a credential is about to expire."""

from functions.webhooks.destination import check_url, guarded_session
from functions.webhooks.model import EVENT_TYPES, Delivery, Event, Subscription
from functions.webhooks.notices import WebhookNotices
from functions.webhooks.store import WebhookTables
from functions.webhooks.subscriptions import Webhooks
from functions.webhooks.worker import Deliverer, DeliverySweep, DeliveryWorker, WebhookEvents

__all__ = [
    "EVENT_TYPES",
    "Deliverer",
    "Delivery",
    "DeliverySweep",
    "DeliveryWorker",
    "Event",
    "Subscription",
    "WebhookEvents",
    "WebhookNotices",
    "WebhookTables",
    "Webhooks",
    "check_url",
    "guarded_session",
]
