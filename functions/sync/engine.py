"""The sync engine: takes a queued run, runs its slice under a lease, records how it ended.

A run's life (docs/design.md has the state diagram):

    queued --taken by a worker (ETag-checked)--> running --> succeeded | partial | failed |
                                                             skipped
    queued past its timeout, or running past its lease -> failed (closed by the next start
    or the schedule: run_not_started / run_abandoned)

A delivery of a job whose run is not queued (finished, or running under a live lease) ends
at once and is recorded as a skipped ``duplicate_delivery`` run of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from functions.clients.graph import RequestStats
from functions.clients.tenant_graph import TenantGraphs
from functions.core import usage
from functions.core.changes import Change
from functions.core.config import Settings
from functions.core.errors import ErrorCode, StorageError
from functions.core.model import Run, RunStatus, SyncKind, SyncState, TenantRecord, utcnow
from functions.storage.feed import ChangeFeed
from functions.storage.queues import SyncJob
from functions.storage.runs import RunTable
from functions.storage.tenants import TenantTable
from functions.sync.guard import DeletionGuard
from functions.sync.lease import Lease, LeaseLost
from functions.sync.ledger import RunLedger, failures_recorded
from functions.sync.slice import Changes, Read, Stored, SyncSlice

log = logging.getLogger("tenantsync.engine")


def alive(run: Run, now: datetime, settings: Settings) -> bool:
    """Whether an active run may still end by itself: running under a lease that has not
    run out, or queued for less than the queued-run timeout."""
    if run.status == RunStatus.RUNNING:
        return run.lease_until is not None and run.lease_until > now
    if run.status == RunStatus.QUEUED:
        queued = run.queued_at or run.started_at
        return now - queued < timedelta(seconds=settings.queued_run_timeout_seconds)
    return False


@dataclass
class SyncEngine:
    settings: Settings
    tenants: TenantTable
    runs: RunTable
    ledger: RunLedger
    graphs: TenantGraphs
    slices: Mapping[SyncKind, SyncSlice[Any, Any, Any]]
    clock: Callable[[], datetime] = utcnow
    feed: ChangeFeed | None = None  # the tenants' change feeds (none: nothing recorded)
    guard: DeletionGuard | None = None  # keeps held syncs' previews (none: not kept)

    def execute(self, job: SyncJob, *, take_over: bool = False) -> Run:
        """Run the queued run ``job`` names and return its record.

        The run is taken only if it is still queued (or running past its lease): a second
        delivery of the same job, or a job whose run was closed, ends at once as a skipped
        ``duplicate_delivery`` run. ``take_over`` takes a running run whatever its lease
        says: only for a caller that knows its worker died.

        A failure inside the tenant ends as a failed run, never an exception.

        Raises:
            StorageError: storage did not answer (the job should be retried later).
        """
        assert job.run_id is not None, "a job is executed only once its run is recorded"
        # Everything from here is the run's: its threads' CPU and its storage requests.
        with usage.metered(usage.Usage()):
            return self._execute(job, take_over)

    def _execute(self, job: SyncJob, take_over: bool) -> Run:
        taken = self._take(job, take_over)
        if isinstance(taken, Run):
            return taken
        run, lease = taken
        try:
            with lease.kept():
                return self._run(run, lease)
        except LeaseLost:
            log.warning("run %s of tenant %s was taken from this worker", run.run_id,
                        run.tenant_id)
            return self.runs.get(run.tenant_id, run.run_id)
        except StorageError:
            lease.release()  # so that the retried delivery of the job may take it at once
            raise

    def _take(self, job: SyncJob, take_over: bool) -> tuple[Run, Lease] | Run:
        """queued (or running past its lease) -> running under our lease, ETag-checked, so
        that of two workers delivered the same job only one takes it; else a duplicate."""
        assert job.run_id is not None
        holder: Run | None = None
        # Queued by this process: its record is as written, unless the ETag says otherwise.
        remembered = self.runs.remembered_queued(job.tenant_id, job.kind, job.run_id)
        for _ in range(3 if remembered is None else 4):
            found, remembered = remembered or self.runs.get_versioned(job.tenant_id,
                                                                      job.run_id), None
            if found is None:
                break
            holder, etag = found
            now = self.clock()
            takeable = holder.status == RunStatus.QUEUED or (
                holder.status == RunStatus.RUNNING
                and (take_over or not alive(holder, now, self.settings)))
            if not takeable:
                break
            holder.status, holder.started_at = RunStatus.RUNNING, now
            holder.attempts += 1
            holder.lease_until = now + timedelta(seconds=self.settings.run_lease_seconds)
            new_etag = self.runs.save_if(holder, etag)
            if new_etag is not None:
                return holder, Lease(self.runs, holder, new_etag,
                                     seconds=self.settings.run_lease_seconds, clock=self.clock)
        return self.ledger.duplicate(job.tenant_id, job.kind, job.trigger, holder, job.run_id)

    def _run(self, run: Run, lease: Lease) -> Run:
        tenant = self.tenants.find(run.tenant_id)
        if tenant is None:
            run.status, run.error_code = RunStatus.FAILED, ErrorCode.UNKNOWN_TENANT
            run.error = f"tenant {run.tenant_id} was removed before its sync ran"
            run.ended_at, run.lease_until = self.clock(), None
            lease.save(run)
            return run
        loaded = replace(tenant.state(run.kind))
        stats = RequestStats()
        changed = False
        with failures_recorded(run):
            changed = self._sync(self.slices[run.kind], tenant, run, stats, lease)
        return self.ledger.finish(tenant, run, stats, loaded, lease=lease,
                                  tenant_changed=changed)

    def _sync(self, part: SyncSlice[Read, Stored, Changes], tenant: TenantRecord, run: Run,
              stats: RequestStats, lease: Lease) -> bool:
        """Read, compare, write; the run's status and counts are set on ``run``. Returns
        whether the read changed the tenant record itself."""
        app = part.app(tenant)
        standing = part.standing(tenant)
        if standing is not None:
            run.status, (run.error_code, run.error) = RunStatus.SKIPPED, standing
            return False
        state = tenant.state(run.kind)
        graph = self.graphs.for_app(tenant.tenant_id, app.client_id, app.credential, app.scope,
                                    kind=run.kind, state=state, stats=stats, now=self.clock())
        # Whether the tables' fingerprint may stand for a comparison is decided once, before
        # the read: a read that finds it again may then leave out what only a comparison uses.
        known = state.fingerprint if self._trusted(state, run) else ""
        read = part.read(graph, tenant, full=run.options.full, known=known)
        changed = part.observe(tenant, read, run)
        if read.in_progress:
            # A resumable read stopped part-way (its time ran out, or throttling outlasted
            # it): its progress is saved for the next run; nothing is compared or written
            # until the whole read is done.
            run.status, run.error_code, run.error = RunStatus.PARTIAL, read.error_code, read.error
            return changed
        digest = part.digest(read) if read.complete else ""
        if digest and digest == known:
            # Same read as the last complete, fully written one, compared in full not long
            # ago: the tables hold exactly this, so there is nothing to compare or write.
            part.count_unchanged(read, run)
            run.status = RunStatus.SUCCEEDED
            return changed
        stored = part.load(tenant.tenant_id)
        intent_left = self._settle_feed(part, tenant.tenant_id, run.kind, stored)
        planned_at = self.clock()  # the records' changedAt and their feed entries' time
        changes = part.plan(read, stored, planned_at)
        part.count(changes, run)
        entries = part.feed(changes)
        held = self._held(part, run, changes, stored, entries)
        if held:
            run.status, run.error_code = RunStatus.SKIPPED, ErrorCode.DELETION_GUARD
            run.error = held
            return changed
        # The read is no longer needed: the plan holds what is written. Let it go before the
        # write, which is when a large tenant's sync holds the most (its entities in flight).
        complete, read_error_code, read_error = read.complete, read.error_code, read.error
        del read
        lease.check()  # a run taken from us must not write
        if state.fingerprint:
            # Until this write is confirmed whole, the fingerprint vouches for nothing: a
            # write cut short must not let a later identical read skip the comparison.
            state.fingerprint = ""
            self.tenants.save_state(tenant, run.kind)
        if self.feed is not None and entries:
            # What is about to be written, first: an interrupted write is settled from it.
            self.feed.intend(tenant.tenant_id, run.kind, run.run_id, entries, planned_at,
                             none_left=not intent_left)
        written = part.write(tenant.tenant_id, stored, changes)
        run.entities_written, run.transactions = written.entities, written.transactions
        if self.feed is not None and entries:
            if intent_left:
                run.changes_from, run.changes_to = self.feed.append(
                    tenant.tenant_id, run.kind, run.run_id, entries, planned_at)
                self.feed.clear(tenant.tenant_id, run.kind)
            else:  # the intent's rows are known: cleared in the append's transaction
                run.changes_from, run.changes_to = self.feed.commit(
                    tenant.tenant_id, run.kind, run.run_id, entries, planned_at)
        if complete:
            run.status = RunStatus.SUCCEEDED
            state.fingerprint, state.verified_at = digest, self.clock()
        else:
            run.status, run.error_code = RunStatus.PARTIAL, read_error_code
            run.error = f"{read_error} {part.incomplete_note}"
        return changed

    def _held(self, part: SyncSlice[Read, Stored, Changes], run: Run, changes: Changes,
              stored: Stored, entries: list[Change]) -> str | None:
        """Why the deletion guard holds the changes back, if it does (see ``guard``)."""
        if not part.holds_back:
            return None  # its kind has no holds to read, nor to clear
        if self.guard is None:
            return None if run.options.allow_mass_deletion else part.hold(changes, stored)
        return self.guard.verdict(run, part.hold(changes, stored), entries)

    def _settle_feed(self, part: SyncSlice[Read, Stored, Changes], tenant_id: str,
                     kind: SyncKind, stored: Stored) -> bool:
        """Record in the feed what an interrupted run of this kind did write (its intent,
        kept to what ``stored`` holds as it planned), before planning anew; whether there
        was one (none: this run, holding the claim, is the only one to write one now)."""
        if self.feed is None:
            return False
        intent = self.feed.intent(tenant_id, kind)
        if intent is not None:
            appended = self.feed.settle(tenant_id, intent,
                                        lambda planned: part.settled(stored, planned))
            log.warning("run %s of tenant %s stopped before clearing its intent of %d "
                        "changes; %d of them (written, not yet in the feed) were appended now",
                        intent.run_id, tenant_id, len(intent.changes), appended)
        return intent is not None

    def _trusted(self, state: SyncState, run: Run) -> bool:
        """Whether the fingerprint may stand for a comparison: not asked to compare in
        full, and a full comparison recent enough (storage that lost acknowledged writes
        is found out and repaired by the next full comparison)."""
        if run.options.full or state.verified_at is None:
            return False
        return self.clock() - state.verified_at < timedelta(hours=self.settings.full_compare_hours)
