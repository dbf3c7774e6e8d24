"""What the timers do: discover partners' customers (devices), then start a sync of every
tenant due for one, through the same claim as every other start."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from functions.core import telemetry
from functions.core.errors import ConflictError, TenantSyncError
from functions.core.model import SyncKind, TenantRecord, utcnow
from functions.partners import Partners
from functions.storage.partners import PartnerTable
from functions.storage.tenants import TenantTable
from functions.sync.health import schedulable
from functions.sync.starts import SyncStarter

log = logging.getLogger("tenantsync.schedule")

# Tenants started at once by a timer: each start is three storage round trips, whose waits
# overlap when started side by side; what remains is the CPU of building and sending them,
# about 3 ms a tenant (docs/scale.md, bench.fleet).
FAN_OUT_THREADS = 16


@dataclass
class Scheduler:
    tenants: TenantTable
    partner_table: PartnerTable
    partners: Partners
    starter: SyncStarter
    clock: Callable[[], datetime] = utcnow

    def schedule(self, kind: SyncKind, trigger: str = "timer") -> tuple[int, int]:
        """Queue one run of ``kind`` per tenant due for it; returns (enqueued, skipped).

        Disabled, excluded, inactive, unsupported and quarantined (until their back-off
        ends) tenants are skipped, and so is a tenant whose sync of ``kind`` is still
        queued or running; a dead one (past its lease or queued timeout) is closed first.
        For devices, every partner's customers are discovered first; one partner's failing
        discovery does not stop the others.

        Raises:
            StorageError: storage did not answer.
        """
        if kind == SyncKind.DEVICES:
            for partner in self.partner_table.list():
                try:
                    self.partners.discover(partner.partner_tenant_id)
                except TenantSyncError as exc:
                    log.warning("discovery failed for partner %s: %s",
                                partner.partner_tenant_id, exc.message)
        now = self.clock()

        def start(tenant: TenantRecord) -> bool:
            if not schedulable(tenant, kind, now):
                self.starter.reap(tenant.tenant_id, kind)
                return False
            try:
                # Just listed: the starter need not read the tenant again.
                self.starter.start(tenant.tenant_id, kind, trigger, known=True)
            except ConflictError:
                return False
            return True

        with ThreadPoolExecutor(FAN_OUT_THREADS, thread_name_prefix="fan-out") as pool:
            started = list(pool.map(start, self.tenants.list()))
        enqueued = sum(started)
        skipped = len(started) - enqueued
        telemetry.schedule_fired(kind, enqueued, skipped)
        return enqueued, skipped
