"""The runs table and the per-tenant, per-kind sync claims.

A process remembers what it last wrote of each tenant's claim and runs, with the ETag
storage gave it, so that its next start and take need not read them back: each remembered
record is only ever used for a write conditional on that ETag, so a record that another
writer changed since makes the write fail and the caller reads it as before
(docs/design.md, "Bookkeeping").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from functions.core.errors import ErrorCode, NotFoundError
from functions.core.model import Run, RunStatus, SyncKind
from functions.storage import entities as ent
from functions.storage.tables import TableFilter, TableStore


@dataclass(frozen=True)
class Claim:
    """Which run of a kind a tenant may have queued or running now (one per tenant and kind)."""

    run_id: str
    claimed_at: datetime


class RunTable:
    def __init__(self, store: TableStore) -> None:
        self._store = store
        # This process's last writes, at most one of each per tenant and kind (bounded).
        self._claims: dict[tuple[str, str], tuple[Claim, str]] = {}
        self._queued: dict[tuple[str, str], tuple[Run, str]] = {}
        self._ended: dict[tuple[str, str], str] = {}

    def save(self, run: Run) -> None:
        self._store.upsert("runs", ent.run_entity(run))
        self._forget_queued(run)

    def record_queued(self, run: Run) -> None:
        """Record a new queued run (its id is new: an insert), remembered with its ETag for
        the take that follows in this process, if it does."""
        entity = ent.run_entity(run)
        etag = self._store.insert_versioned("runs", entity, resend=True)
        if etag is None:  # an id already recorded (never made twice): written over as before
            self.save(run)
            return
        # The run as its record says, a copy apart from the caller's (which goes on changing):
        # a third of a deep copy's CPU, and it has whatever fields the record has.
        self._queued[(run.tenant_id, run.kind)] = (ent.run_record(entity), etag)

    def remembered_queued(self, tenant_id: str, kind: SyncKind,
                          run_id: str) -> tuple[Run, str] | None:
        """The queued run this process recorded last for the tenant and kind, if it is
        ``run_id``, with the ETag of that write (taken out: it is used once)."""
        found = self._queued.pop((tenant_id, kind), None)
        return found if found is not None and found[0].run_id == run_id else None

    def remember_queued(self, run: Run, etag: str) -> None:
        """Take in a queued run's record and ETag from the process that recorded it (a
        worker process that runs its job for it)."""
        self._queued[(run.tenant_id, run.kind)] = (run, etag)

    def ended_keys(self, runs: list[Run]) -> list[tuple[str, str, str]]:
        """Of ``runs``, the (tenant, kind, run id) that this process saved as ended."""
        return [(r.tenant_id, r.kind, r.run_id) for r in runs
                if self._ended.get((r.tenant_id, r.kind)) == r.run_id]

    def remember_ended(self, ended: list[tuple[str, str, str]]) -> None:
        """Take in runs another process of this host saved as ended (``ended_keys``)."""
        for tenant_id, kind, run_id in ended:
            self._ended[(tenant_id, kind)] = run_id

    def ended_here(self, tenant_id: str, kind: SyncKind, run_id: str) -> bool:
        """Whether this process saved ``run_id`` as ended (a run that ended never becomes
        active again, so this needs no read)."""
        return self._ended.get((tenant_id, kind)) == run_id

    def _forget_queued(self, run: Run) -> None:
        found = self._queued.get((run.tenant_id, run.kind))
        if found is not None and found[0].run_id == run.run_id:
            self._queued.pop((run.tenant_id, run.kind), None)

    def _saved(self, run: Run) -> None:
        self._forget_queued(run)
        if not run.active:
            self._ended[(run.tenant_id, run.kind)] = run.run_id

    def get(self, tenant_id: str, run_id: str) -> Run:
        entity = self._store.get("runs", tenant_id, run_id)
        if entity is None:
            raise NotFoundError(f"run {run_id} of tenant {tenant_id} not found", code="unknown_run")
        return ent.run_record(entity)

    def get_versioned(self, tenant_id: str, run_id: str) -> tuple[Run, str] | None:
        """A run with its ETag, for a later :meth:`save_if`; None if it is not recorded."""
        found = self._store.get_versioned("runs", tenant_id, run_id)
        return (ent.run_record(found[0]), found[1]) if found else None

    def save_if(self, run: Run, etag: str) -> str | None:
        """Save a run only if its record still has ``etag``: its new ETag, or None when
        another writer changed it first (another worker took it, or a closer closed it)."""
        new_etag = self._store.update_if_unchanged("runs", ent.run_entity(run), etag)
        if new_etag is not None:
            self._saved(run)
        return new_etag

    def renew_if(self, run: Run, etag: str) -> str | None:
        """Write only the run's lease (and attempt count) if the record still has ``etag``."""
        lease = {"PartitionKey": run.tenant_id, "RowKey": run.run_id,
                 "LeaseUntil": ent.iso(run.lease_until)}
        return self._store.update_if_unchanged("runs", lease, etag, merge=True)

    # --- claims ------------------------------------------------------------------------

    def read_claim(self, tenant_id: str, kind: SyncKind) -> tuple[Claim, str] | None:
        found = self._store.get_versioned("claims", tenant_id, kind)
        if found is None:
            return None
        entity, etag = found
        claimed_at = ent.parse_time(entity.get("ClaimedAt")) or datetime.fromtimestamp(0, UTC)
        return Claim(str(entity.get("RunId", "")), claimed_at), etag

    def remembered_claim(self, tenant_id: str, kind: SyncKind) -> tuple[Claim, str] | None:
        """The claim as this process last wrote it, with that write's ETag (no request):
        good only for :meth:`replace_claim`, which fails if it changed since."""
        return self._claims.get((tenant_id, kind))

    def insert_claim(self, tenant_id: str, kind: SyncKind, run_id: str, now: datetime) -> bool:
        """Take a claim nobody holds yet; False if there is one (insert fails on a key
        that exists, so of two racing starters only one inserts)."""
        # Resent after a connection reset: a claim found naming this new run id afterwards
        # is this insert's (its answer lost), which the starter takes as its own.
        etag = self._store.insert_versioned("claims", _claim_entity(tenant_id, kind, run_id, now),
                                            resend=True)
        if etag is not None:
            self._claims[(tenant_id, kind)] = (Claim(run_id, now), etag)
        return etag is not None

    def remember_claim(self, tenant_id: str, kind: SyncKind, claim: Claim, etag: str) -> None:
        """Keep a claim read back as this process's own (its insert's answer was lost)."""
        self._claims[(tenant_id, kind)] = (claim, etag)

    def replace_claim(self, tenant_id: str, kind: SyncKind, run_id: str, now: datetime,
                      etag: str) -> bool:
        """Take over a claim read with ``etag``; False if another starter replaced it first."""
        entity = _claim_entity(tenant_id, kind, run_id, now)
        new_etag = self._store.update_if_unchanged("claims", entity, etag)
        if new_etag is None:
            self._claims.pop((tenant_id, kind), None)
            return False
        self._claims[(tenant_id, kind)] = (Claim(run_id, now), new_etag)
        return True

    def page(
        self, tenant_id: str, *, kind: SyncKind | None = None, page_size: int,
        continuation: str | None = None,
    ) -> tuple[list[Run], str | None]:
        """One page of a tenant's runs, newest first, and the token of the next page."""
        where = TableFilter(tenant_id).equal("Kind", kind or None)
        rows, token = self._store.query_page(
            "runs", where.text, where.params, page_size=page_size, continuation=continuation
        )
        return [ent.run_record(e) for e in rows], token

    def failures_page(
        self, *, since: datetime, kind: SyncKind | None = None, page_size: int,
        continuation: str | None = None,
    ) -> tuple[list[Run], str | None]:
        """One page of failed or partial runs of every tenant started at or after ``since``
        (but the partial runs of a read in progress: those are no failures).

        A scan across tenants: runs come grouped by tenant, newest first within one, and a
        page may be short (even empty) while more follow.
        """
        # Spaces around the parentheses: the SDK finds @names by splitting on spaces.
        # A partial run of a read that saved its progress for the next run is no failure.
        query = ("( Status eq @failed or Status eq @partial ) and StartedAt ge @since"
                 " and ErrorCode ne @progressing")
        params: dict[str, object] = {
            "failed": RunStatus.FAILED.value, "partial": RunStatus.PARTIAL.value,
            "since": ent.iso(since),  # compared as text, so formatted as stored
            "progressing": ErrorCode.INVENTORY_IN_PROGRESS.value,
        }
        if kind:
            query += " and Kind eq @kind"
            params["kind"] = kind
        rows, token = self._store.query_page(
            "runs", query, params, page_size=page_size, continuation=continuation
        )
        return [ent.run_record(e) for e in rows], token

    def purge(self, tenant_id: str) -> int:
        """Hard-delete a tenant's run history (and its sync claims); returns how many runs."""
        for memo in (self._claims, self._queued, self._ended):
            for key in [k for k in list(memo) if k[0] == tenant_id]:
                memo.pop(key, None)
        self._store.delete_partition("claims", tenant_id)
        return self._store.delete_partition("runs", tenant_id)

    def recent(self, tenant_id: str, limit: int = 20) -> list[Run]:
        runs: list[Run] = []
        for e in self._store.query("runs", "PartitionKey eq @pk", {"pk": tenant_id},
                                   page_size=min(limit, 1000)):
            runs.append(ent.run_record(e))
            if len(runs) >= limit:
                break
        return runs


def _claim_entity(tenant_id: str, kind: SyncKind, run_id: str, now: datetime) -> dict[str, object]:
    return {"PartitionKey": tenant_id, "RowKey": kind, "RunId": run_id,
            "ClaimedAt": ent.iso(now)}
