"""Every consent tenantsync makes, or removes, in a customer's tenant: its audit row, and,
when it wrote there, its event (a change of the customer's feed and a webhook) through the
outbox like a run's end: the event is written before the audit row it describes and
published after it; a crash between leaves it for the relay's sweep (docs/design.md,
"Outbox")."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from functions.core.changes import Change
from functions.core.errors import TenantSyncError
from functions.core.model import SyncKind
from functions.storage.feed import ChangeFeed
from functions.storage.outbox import CONSENT, Outbox, OutboxEvent
from functions.storage.partner_access import GRANTED, ConsentAuditTable, ConsentRecord
from functions.webhooks.model import CONSENT_GRANTED, CONSENT_REVOKED, Event
from functions.webhooks.worker import WebhookEvents

log = logging.getLogger("tenantsync.partners")

ConsentListener = Callable[[ConsentRecord, str], None]  # a stored consent, its event's id
# (tenant, events just written, the audit row written after them) -> the relay's publish
ConsentPublish = Callable[[str, Sequence[OutboxEvent], ConsentRecord], object]


@dataclass
class ConsentLog:
    audit: ConsentAuditTable
    outbox: Outbox | None = None
    # Hands the events just written on, with the audit row that proves them (the relay's).
    publish: ConsentPublish | None = None

    def record(self, record: ConsentRecord) -> None:
        """Audit one consent (or a try); one that wrote in the customer's tenant is also an
        event, recorded in the outbox first.

        Raises:
            StorageError: the outbox or the audit row was not written (a pending event whose
            row never was is dropped by the sweep).
        """
        if not record.writes or self.outbox is None:
            self.audit.add(record)  # a try that wrote nothing is no change: audited only
            return
        event = self.outbox.add(record.tenant_id, CONSENT, record.key, {
            "partnerTenantId": record.partner_tenant_id, "action": record.action})
        self.audit.add(record)
        if self.publish is None:
            return
        try:
            self.publish(record.tenant_id, [event], record)
        except TenantSyncError as exc:  # stays pending: the sweep publishes it
            log.warning("consent event of %s left for the sweep: %s", record.tenant_id,
                        exc.code)


def stored_consent(audit: ConsentAuditTable, event: OutboxEvent) -> ConsentRecord | None:
    """The audit row a consent event describes, if it was written (the event's proof)."""
    return audit.get(str(event.data.get("partnerTenantId") or ""), event.subject)


@dataclass
class ConsentEntries:
    """A consent is a change of the customer's feed (entity ``consent``, its id the
    partner, ``granted`` or ``revoked``, with the permissions)."""

    feed: ChangeFeed

    def __call__(self, record: ConsentRecord, event_id: str) -> None:
        self.feed.append(record.tenant_id, SyncKind.DEVICES, record.run_id, [Change(
            "consent", record.partner_tenant_id, record.action,
            ", ".join(record.permissions))], at=record.at, key=event_id)


@dataclass
class ConsentNotices:
    """A consent is ``tenant.consented``; its removal ``tenant.consent_revoked``; each
    event one delivery per subscriber, however often it is published."""

    events: WebhookEvents

    def __call__(self, record: ConsentRecord, event_id: str) -> None:
        kind = CONSENT_GRANTED if record.action == GRANTED else CONSENT_REVOKED
        self.events.publish(Event(kind, record.tenant_id, {
            "tenantId": record.tenant_id, "partnerTenantId": record.partner_tenant_id,
            "outcome": record.outcome, "permissions": record.permissions,
            "delegatedScopes": record.delegated_scopes, "userId": record.user_id or None,
            "at": record.at.isoformat().replace("+00:00", "Z")}), once=(event_id, record.at))
