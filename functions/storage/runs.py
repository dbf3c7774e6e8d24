"""The runs table and the per-tenant, per-kind sync claims."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from functions.core.errors import NotFoundError
from functions.core.model import Run, RunStatus
from functions.storage import entities as ent
from functions.storage.tables import TableFilter, TableStore


def new_run_id(now: datetime) -> str:
    """A run id that sorts newest first within a tenant's partition and is unique."""
    inverted = 10**13 - int(now.timestamp() * 1000)
    return f"{inverted:013d}-{os.urandom(4).hex()}"


# How long a claim whose run is not recorded yet blocks others (its starter is between the
# claim and the run record; past this it died there).
CLAIM_GRACE = timedelta(seconds=60)


class RunTable:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    def save(self, run: Run) -> None:
        self._store.upsert("runs", ent.run_entity(run))

    def get(self, tenant_id: str, run_id: str) -> Run:
        entity = self._store.get("runs", tenant_id, run_id)
        if entity is None:
            raise NotFoundError(f"run {run_id} of tenant {tenant_id} not found", code="unknown_run")
        return ent.run_record(entity)

    def claim(self, tenant_id: str, kind: str, run_id: str, *, stale_after: timedelta
              ) -> str | None:
        """Make ``run_id`` the one run of ``kind`` the tenant may start now; None when it is,
        else the id of the run that holds the claim.

        Two starters that both found nothing running race here, and only one wins: the
        claim is one entity per tenant and kind, taken by an insert (which fails when it
        exists) or taken over from a finished, stale or never-recorded run by a replace
        that names the ETag it read (which fails when another starter replaced it first).
        """
        now = datetime.now(UTC)
        claim = {"PartitionKey": tenant_id, "RowKey": kind, "RunId": run_id,
                 "ClaimedAt": ent.iso(now)}
        for _ in range(3):
            if self._store.insert("claims", claim):
                return None
            current = self._store.get_versioned("claims", tenant_id, kind)
            if current is None:
                continue  # removed meanwhile (by hand): insert again
            held, etag = current
            holder = str(held.get("RunId", ""))
            if self._holds(tenant_id, kind, holder, held, now - stale_after, now):
                return holder
            if self._store.replace_if_unchanged("claims", claim, etag):
                return None
        current = self._store.get_versioned("claims", tenant_id, kind)
        return str(current[0].get("RunId", "")) if current else None

    def _holds(self, tenant_id: str, kind: str, holder: str, claim: dict[str, object],
               cutoff: datetime, now: datetime) -> bool:
        """Whether the claim's run still blocks a start: queued or running since the cutoff,
        or not recorded yet by a starter that claimed within the last minute."""
        entity = self._store.get("runs", tenant_id, holder) if holder else None
        if entity is None:
            claimed_at = ent.parse_time(claim.get("ClaimedAt"))
            return claimed_at is not None and now - claimed_at < CLAIM_GRACE
        run = ent.run_record(entity)
        return run.kind == kind and run.active and run.started_at >= cutoff

    def active(self, tenant_id: str, kind: str, *, stale_after: timedelta) -> Run | None:
        """The tenant's queued or running run of ``kind``, unless older than ``stale_after``
        (a worker that died mid-run must not block the tenant forever)."""
        cutoff = datetime.now(UTC) - stale_after
        for run in self.recent(tenant_id, 10):
            if run.kind == kind and run.active and run.started_at >= cutoff:
                return run
        return None

    def page(
        self, tenant_id: str, *, kind: str | None = None, page_size: int,
        continuation: str | None = None,
    ) -> tuple[list[Run], str | None]:
        """One page of a tenant's runs, newest first, and the token of the next page."""
        where = TableFilter(tenant_id).equal("Kind", kind or None)
        rows, token = self._store.query_page(
            "runs", where.text, where.params, page_size=page_size, continuation=continuation
        )
        return [ent.run_record(e) for e in rows], token

    def failures_page(
        self, *, since: datetime, kind: str | None = None, page_size: int,
        continuation: str | None = None,
    ) -> tuple[list[Run], str | None]:
        """One page of failed or partial runs of every tenant started at or after ``since``.

        A scan across tenants: runs come grouped by tenant, newest first within one, and a
        page may be short (even empty) while more follow.
        """
        # Spaces around the parentheses: the SDK finds @names by splitting on spaces.
        query = "( Status eq @failed or Status eq @partial ) and StartedAt ge @since"
        params: dict[str, object] = {
            "failed": RunStatus.FAILED.value, "partial": RunStatus.PARTIAL.value,
            "since": ent.iso(since),  # compared as text, so formatted as stored
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
