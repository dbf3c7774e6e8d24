"""What a run's end tells subscribers: the sync finished; the tenant's health changed; its
credential is about to expire (or has)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from functions.core.errors import TenantSyncError
from functions.core.model import Health, Run, SyncState, TenantRecord, utcnow
from functions.core.summary import json_time, run_summary
from functions.webhooks.model import CREDENTIAL_EXPIRING, HEALTH_CHANGED, SYNC_FINISHED, Event
from functions.webhooks.worker import WebhookEvents

log = logging.getLogger("tenantsync.webhooks")
EXPIRY = frozenset({Health.SECRET_EXPIRING, Health.SECRET_EXPIRED})


def sync_finished(run: Run) -> Event:
    """The run's summary, as ``GET .../runs/{runId}`` answers it (functions.core.summary)."""
    return Event(SYNC_FINISHED, run.tenant_id, run_summary(run))


@dataclass
class RunNotices:
    events: WebhookEvents

    def run_ended(self, tenant: TenantRecord, run: Run, before: SyncState) -> None:
        """Publish the events of a run that ended. Never raises: a notice that cannot be
        queued is logged, and the run stays as it ended."""
        state = tenant.state(run.kind)
        events = [sync_finished(run)]
        if state.health != before.health:
            events.append(Event(HEALTH_CHANGED, tenant.tenant_id, {
                "tenantId": tenant.tenant_id, "kind": run.kind, "health": state.health.value,
                "previousHealth": before.health.value, "since": json_time(state.health_since),
                "errorCode": state.last_error_code or None, "error": state.last_error or None,
                "runId": run.run_id}))
            if state.health in EXPIRY and state.secret_expires_on is not None:
                days = (state.secret_expires_on - utcnow()).total_seconds() // 86400
                events.append(Event(CREDENTIAL_EXPIRING, tenant.tenant_id, {
                    "tenantId": tenant.tenant_id, "kind": run.kind,
                    "expiresOn": json_time(state.secret_expires_on), "daysLeft": int(days),
                    "expired": state.health == Health.SECRET_EXPIRED}))
        try:
            subscriptions = self.events.tables.all()  # once for the run's events
        except TenantSyncError as exc:
            log.warning("webhook events of tenant %s not queued: %s", tenant.tenant_id,
                        exc.message)
            return
        for event in events:
            try:
                self.events.publish(event, subscriptions)
            except TenantSyncError as exc:
                log.warning("webhook event %s of tenant %s not queued: %s", event.type,
                            tenant.tenant_id, exc.message)


