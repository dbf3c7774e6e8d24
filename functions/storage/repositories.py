"""Typed reads and writes of tenants, directory data and runs on top of :class:`TableStore`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..domain import (
    GroupRecord,
    Health,
    MembershipRecord,
    Run,
    RunStatus,
    StoredDirectory,
    TenantRecord,
    UserRecord,
)
from ..errors import NotFoundError
from . import entities as ent
from .tables import TableFilter, TableStore, WriteStats


def new_run_id(now: datetime) -> str:
    """A run id that sorts newest first within a tenant's partition and is unique."""
    inverted = 10**13 - int(now.timestamp() * 1000)
    return f"{inverted:013d}-{os.urandom(4).hex()}"


TenantPage = tuple[list[TenantRecord], str | None]  # (tenants, next page's token)
# How long a claim whose run is not recorded yet blocks others (its starter is between the
# claim and the run record; past this it died there).
CLAIM_GRACE = timedelta(seconds=60)


class TenantTable:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    def get(self, tenant_id: str) -> TenantRecord:
        """Raises NotFoundError for a tenant that was never onboarded."""
        entity = self._store.get("tenants", ent.TENANT_PARTITION, tenant_id)
        if entity is None:
            raise NotFoundError(
                f"tenant {tenant_id} is not onboarded (tenantsync tenant add ...)",
                code="unknown_tenant",
            )
        return ent.tenant_record(entity)

    def find(self, tenant_id: str) -> TenantRecord | None:
        entity = self._store.get("tenants", ent.TENANT_PARTITION, tenant_id)
        return ent.tenant_record(entity) if entity else None

    def save(self, tenant: TenantRecord) -> None:
        self._store.upsert("tenants", ent.tenant_entity(tenant))

    def list(self) -> list[TenantRecord]:
        rows = self._store.query("tenants", "PartitionKey eq @pk", {"pk": ent.TENANT_PARTITION})
        return [ent.tenant_record(e) for e in rows]

    def page(
        self, *, page_size: int, continuation: str | None = None, health: Health | None = None
    ) -> TenantPage:
        """One page of tenants (by tenant ID) and the token of the next page.

        ``health`` keeps tenants whose directory or device sync is in that state (a kind
        counts only where the tenant has its connection), so a page can be short.
        """
        query = "PartitionKey eq @pk"
        params: dict[str, object] = {"pk": ent.TENANT_PARTITION}
        if health is not None:
            # Spaces around the parentheses: the SDK finds @names by splitting on spaces.
            query += " and ( DirectoryHealth eq @health or DevicesHealth eq @health )"
            params["health"] = health.value
        rows, token = self._store.query_page(
            "tenants", query, params, page_size=page_size, continuation=continuation,
        )
        tenants = [ent.tenant_record(e) for e in rows]
        if health is not None:
            tenants = [t for t in tenants
                       if (t.directory is not None and t.directory_state.health == health)
                       or (t.devices is not None and t.device_state.health == health)]
        return tenants, token

    def delete(self, tenant_id: str) -> None:
        """Remove a tenant's configuration row (its synced data is not touched)."""
        self._store.delete("tenants", ent.TENANT_PARTITION, tenant_id)


@dataclass
class UserFilter:
    deleted_only: bool = False
    group_id: str | None = None
    anonymous_only: bool = False
    # Prefixes ignore case (both sides case-folded: the stored side in its *Key column).
    email_prefix: str | None = None
    name_prefix: str | None = None

    def matches(self, user: UserRecord) -> bool:
        """Whether ``user`` passes every filter but the group one."""
        return (
            (not self.deleted_only or user.deleted)
            and (not self.anonymous_only or user.anonymous)
            and (not self.email_prefix
                 or (user.email or "").casefold().startswith(self.email_prefix.casefold()))
            and (not self.name_prefix
                 or user.display_name.casefold().startswith(self.name_prefix.casefold()))
        )


def _user_filter(tenant_id: str, flt: UserFilter) -> TableFilter:
    """The table filter for ``flt`` (but its group)."""
    return (TableFilter(tenant_id)
            .equal("AzureDeleted", True if flt.deleted_only else None)
            .equal("Anonymous", True if flt.anonymous_only else None)
            .prefix("EmailKey", flt.email_prefix.casefold() if flt.email_prefix else None)
            .prefix("DisplayNameKey", flt.name_prefix.casefold() if flt.name_prefix else None))


class DirectoryTables:
    """Users, groups and memberships of tenants."""

    def __init__(self, store: TableStore) -> None:
        self._store = store

    def load(self, tenant_id: str) -> StoredDirectory:
        """Everything stored for a tenant's directory, for the sync to compare against."""
        stored = StoredDirectory()
        params = {"pk": tenant_id}
        for e in self._store.query("users", "PartitionKey eq @pk", params):
            user = ent.user_record(e)
            stored.users[user.id] = user
        for e in self._store.query("groups", "PartitionKey eq @pk", params):
            group = ent.group_record(e)
            stored.groups[group.id] = group
        for e in self._store.query("memberships", "PartitionKey eq @pk", params):
            membership = ent.membership_record(e)
            stored.memberships[(membership.group_id, membership.user_id)] = membership
        return stored

    def write(
        self,
        tenant_id: str,
        users: list[UserRecord],
        groups: list[GroupRecord],
        memberships: list[MembershipRecord],
    ) -> WriteStats:
        stats = WriteStats()
        # Groups before memberships before users: a reader never sees a membership whose
        # group is missing, and users (the bulk) go last.
        stats.add(self._store.write("groups", (ent.group_entity(tenant_id, g) for g in groups)))
        stats.add(self._store.write(
            "memberships", (ent.membership_entity(tenant_id, m) for m in memberships)
        ))
        stats.add(self._store.write("users", (ent.user_entity(tenant_id, u) for u in users)))
        return stats

    def users(self, tenant_id: str, flt: UserFilter) -> Iterator[UserRecord]:
        where = _user_filter(tenant_id, flt)
        member_ids: set[str] | None = None
        if flt.group_id:
            member_ids = {
                m.user_id for m in self.memberships(tenant_id, flt.group_id) if m.active
            }
        for e in self._store.query("users", where.text, where.params):
            user = ent.user_record(e)
            if member_ids is None or user.id in member_ids:
                yield user

    def users_page(
        self, tenant_id: str, flt: UserFilter, *, page_size: int, continuation: str | None = None
    ) -> tuple[list[UserRecord], str | None]:
        """One page of a tenant's users matching ``flt`` and the token of the next page.

        With a group filter the page walks the group's active memberships and reads each
        member, so a page can hold fewer users than ``page_size`` while more follow.

        Raises:
            InputError: ``invalid_continuation`` for a token this query did not issue.
        """
        if not flt.group_id:
            where = _user_filter(tenant_id, flt)
            rows, token = self._store.query_page(
                "users", where.text, where.params, page_size=page_size,
                continuation=continuation,
            )
            return [ent.user_record(e) for e in rows], token
        # RowKeys of a group's memberships share the prefix "<group id>_".
        members = TableFilter(tenant_id).prefix("RowKey", f"{flt.group_id}_").equal("Active", True)
        rows, token = self._store.query_page(
            "memberships", members.text, members.params, page_size=page_size,
            continuation=continuation,
        )
        users = []
        for m in rows:
            entity = self._store.get("users", tenant_id, ent.membership_record(m).user_id)
            if entity is not None and flt.matches(user := ent.user_record(entity)):
                users.append(user)
        return users, token

    def groups_page(
        self, tenant_id: str, *, deleted_only: bool = False, page_size: int,
        continuation: str | None = None,
    ) -> tuple[list[GroupRecord], str | None]:
        """One page of a tenant's level-1 groups (by group ID) and the token of the next."""
        where = TableFilter(tenant_id).equal("AzureDeleted", True if deleted_only else None)
        rows, token = self._store.query_page(
            "groups", where.text, where.params, page_size=page_size, continuation=continuation
        )
        return [ent.group_record(e) for e in rows], token

    def purge(self, tenant_id: str) -> int:
        """Hard-delete a tenant's users, groups and memberships; returns how many rows."""
        return sum(
            self._store.delete_partition(table, tenant_id)
            for table in ("users", "memberships", "groups")
        )

    def groups(self, tenant_id: str) -> Iterator[GroupRecord]:
        for e in self._store.query("groups", "PartitionKey eq @pk", {"pk": tenant_id}):
            yield ent.group_record(e)

    def memberships(
        self, tenant_id: str, group_id: str | None = None
    ) -> Iterator[MembershipRecord]:
        # RowKeys of a group's memberships share the prefix "<group id>_".
        where = TableFilter(tenant_id).prefix("RowKey", f"{group_id}_" if group_id else None)
        for e in self._store.query("memberships", where.text, where.params):
            yield ent.membership_record(e)


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

