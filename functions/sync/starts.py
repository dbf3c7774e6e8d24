"""The one way to start a sync, whoever starts it (timer, HTTP, command line, partner
discovery): take the tenant's claim for that kind, record the run as queued, hand its job
to the queue (or to a local worker).

The claim is one entity per tenant and kind naming the run that may be queued or running.
It is taken by an insert (which fails when it exists) or taken over by an ETag-checked
replace, only from a run that is no longer alive: so of any number of racing starts exactly
one queues a run. A holder that is active but dead (running past its lease, queued past its
timeout) is closed on the way, so no run stays queued or running forever.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from functions.core.config import Settings
from functions.core.errors import ConflictError, ErrorCode, StorageError
from functions.core.model import Run, RunOptions, RunStatus, SyncKind, new_run_id, utcnow
from functions.storage.queues import JobQueue, SyncJob
from functions.storage.runs import Claim, RunTable
from functions.storage.tenants import TenantTable
from functions.sync.engine import alive
from functions.sync.ledger import RunLedger

log = logging.getLogger("tenantsync.starts")

# How long a claim whose run is not recorded yet blocks others (its starter is between the
# claim and the run record; past this it died there).
CLAIM_GRACE = timedelta(seconds=60)


@dataclass
class SyncStarter:
    settings: Settings
    tenants: TenantTable
    runs: RunTable
    ledger: RunLedger
    queues: Mapping[SyncKind, JobQueue]
    clock: Callable[[], datetime] = utcnow

    def start(self, tenant_id: str, kind: SyncKind, trigger: str,
              options: RunOptions | None = None, *, enqueue: bool = True,
              known: bool = False) -> SyncJob:
        """Claim the tenant's sync of ``kind``, record its run as queued and (``enqueue``)
        put its job on the kind's queue; returns the job (its ``run_id`` names the run).

        Without ``enqueue`` the caller runs the job itself (the command line does).
        ``known``: the caller has just read the tenant (the schedule), so it is not read again.

        Raises:
            NotFoundError: ``unknown_tenant``.
            ConflictError: ``sync_running`` with the id of the run that holds the claim.
            StorageError: the run could not be recorded or queued (a queued run whose job
            could not be put on the queue is recorded as failed, so that it blocks nothing).
        """
        if not known:
            self.tenants.get(tenant_id)
        now = self.clock()
        run_id = new_run_id(now)
        self._claim(tenant_id, kind, run_id)
        run = Run(run_id, tenant_id, kind, trigger, now, status=RunStatus.QUEUED,
                  options=options or RunOptions(), queued_at=now)
        self.runs.record_queued(run)
        job = SyncJob(tenant_id, kind, trigger, run_id, run.options)
        if enqueue:
            try:
                self.queues[kind].put(job)
            except StorageError:
                run.status, run.ended_at = RunStatus.FAILED, self.clock()
                run.error_code = ErrorCode.ENQUEUE_FAILED
                run.error = "The sync job could not be put on the queue; start the sync again."
                with contextlib.suppress(StorageError):
                    self.runs.save(run)
                raise
        return job

    def resume(self, run: Run, *, enqueue: bool = True) -> SyncJob | None:
        """Start at once the continuation of a run that stopped part-way with its progress
        saved (a read too large for one run), as any sync is started; None for any other
        run, or when the continuation could not be started (another start won the claim,
        or storage failed: the next start or schedule resumes the read anyway)."""
        if run.status != RunStatus.PARTIAL or run.error_code != ErrorCode.INVENTORY_IN_PROGRESS:
            return None
        try:
            return self.start(run.tenant_id, run.kind, run.trigger, run.options,
                              enqueue=enqueue)
        except (ConflictError, StorageError) as exc:
            log.warning("the continuation of run %s was not started: %s", run.run_id,
                        exc.message, extra={"tenant_id": run.tenant_id})
            return None

    def holder(self, tenant_id: str, kind: SyncKind) -> Run | None:
        """The run of ``kind`` that holds the tenant's claim and is alive, if any (a dead
        one is closed on the way)."""
        found = self.runs.read_claim(tenant_id, kind)
        if found is None or not found[0].run_id:
            return None
        versioned = self.runs.get_versioned(tenant_id, found[0].run_id)
        if versioned is None:
            return None
        run, etag = versioned
        if not run.active:
            return None
        if alive(run, self.clock(), self.settings) or not self.ledger.close_dead(run, etag):
            return run
        return None

    def reap(self, tenant_id: str, kind: SyncKind) -> None:
        """Close the tenant's run of ``kind`` if it is active but dead (for the schedule,
        which starts no sync of some tenants and must still close their dead runs)."""
        self.holder(tenant_id, kind)

    def _claim(self, tenant_id: str, kind: SyncKind, run_id: str) -> None:
        # The claim as this process last wrote it, if it did: tried with its ETag first, so
        # a re-sync started here needs no insert that fails and no read of the claim.
        found = self.runs.remembered_claim(tenant_id, kind)
        remembered = found is not None
        for _ in range(5 if found is None else 6):
            now = self.clock()
            if found is None:
                if self.runs.insert_claim(tenant_id, kind, run_id, now):
                    return
                found = self.runs.read_claim(tenant_id, kind)
                if found is None:
                    continue  # removed meanwhile (by hand): insert again
                if found[0].run_id == run_id:  # our insert, resent after a reset: ours
                    self.runs.remember_claim(tenant_id, kind, *found)
                    return
            (claim, etag), found = found, None
            from_memory, remembered = remembered, False
            if claim.run_id and self.runs.ended_here(tenant_id, kind, claim.run_id):
                pass  # its run ended, saved by this process: over for good, nothing to read
            else:
                try:
                    if not self._free(tenant_id, kind, claim, now):
                        continue  # its dead run renewed its lease after all: look again
                except ConflictError:
                    if not from_memory:
                        raise
                    continue  # refused only on the claim as stored now: read it
            if self.runs.replace_claim(tenant_id, kind, run_id, now, etag):
                return
        found = self.runs.read_claim(tenant_id, kind)
        raise _running(tenant_id, kind, found[0].run_id if found else "", "starting")

    def _free(self, tenant_id: str, kind: SyncKind, claim: Claim, now: datetime) -> bool:
        """Whether ``claim`` may be taken over: its run is over, or dead and closed now;
        False if that run came back to life while being closed.

        Raises:
            ConflictError: ``sync_running``: its run is alive, or about to be recorded.
        """
        held = self.runs.get_versioned(tenant_id, claim.run_id) if claim.run_id else None
        if held is None:
            # Claimed, but its run is not recorded: its starter is recording it now,
            # or died right there.
            if now - claim.claimed_at < CLAIM_GRACE:
                raise _running(tenant_id, kind, claim.run_id, "queued")
            return True
        run, run_etag = held
        if not run.active:
            return True
        if alive(run, now, self.settings):
            raise _running(tenant_id, kind, run.run_id, run.status.value)
        return self.ledger.close_dead(run, run_etag)


def _running(tenant_id: str, kind: SyncKind, run_id: str, status: str) -> ConflictError:
    return ConflictError(
        f"a {kind} sync of tenant {tenant_id} is already {status} (run {run_id})",
        code=ErrorCode.SYNC_RUNNING, run_id=run_id,
    )
