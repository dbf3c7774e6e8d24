"""A tenant's users, groups and memberships in Table Storage."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from functions.directory import entities as dent
from functions.directory.delta_state import DeltaStateStore
from functions.directory.model import GroupRecord, MembershipRecord, StoredDirectory, UserRecord
from functions.directory.plan import DirectoryChanges
from functions.storage.tables import TableFilter, TableStore, WriteStats


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

    @property
    def store(self) -> TableStore:
        return self._store

    def load(self, tenant_id: str) -> StoredDirectory:
        """Everything stored for a tenant's directory, for the sync to compare against."""
        stored = StoredDirectory()
        params = {"pk": tenant_id}
        for e in self._store.query("users", "PartitionKey eq @pk", params):
            user = dent.user_record(e)
            stored.users[user.id] = user
        for e in self._store.query("groups", "PartitionKey eq @pk", params):
            group = dent.group_record(e)
            stored.groups[group.id] = group
        for e in self._store.query("memberships", "PartitionKey eq @pk", params):
            membership = dent.membership_record(e)
            key = (membership.group_id, membership.user_id)
            stored.memberships[key] = membership
            if dent.member_record(e) is None:
                stored.unprojected.add(key)
        return stored

    def write(self, tenant_id: str, stored: StoredDirectory, changes: DirectoryChanges
              ) -> WriteStats:
        """Write the changed users, groups and memberships.

        An active membership row carries its user's columns, so the active memberships of
        a changed user are written again with it (and rows written before they carried
        them, once). An ended one keeps its user as it was then (only active rows are read
        with their user's columns), so a delta re-sync need not load it.

        Raises:
            StorageError: a transaction failed (what was written before it stays).
        """
        users_now = {**stored.users, **{u.id: u for u in changes.users}}
        rows = {(m.group_id, m.user_id): m for m in changes.memberships}
        changed_users = {u.id for u in changes.users}
        for key, membership in stored.memberships.items():
            if (key[1] in changed_users and membership.active) or key in stored.unprojected:
                rows.setdefault(key, membership)
        stats = WriteStats()
        # Groups before memberships before users: a reader never sees a membership whose
        # group is missing, and users (the bulk) go last.
        stats.add(self._store.write(
            "groups", (dent.group_entity(tenant_id, g) for g in changes.groups)))
        stats.add(self._store.write("memberships", (
            dent.membership_entity(tenant_id, m, users_now.get(m.user_id))
            for m in rows.values())))
        stats.add(self._store.write(
            "users", (dent.user_entity(tenant_id, u) for u in changes.users)))
        return stats

    def users(self, tenant_id: str, flt: UserFilter) -> Iterator[UserRecord]:
        """Every user of a tenant matching ``flt`` (a group's active members with its
        group filter)."""
        token: str | None = None
        while True:
            page, token = self.users_page(tenant_id, flt, page_size=1000, continuation=token)
            yield from page
            if token is None:
                return

    def users_page(
        self, tenant_id: str, flt: UserFilter, *, page_size: int, continuation: str | None = None
    ) -> tuple[list[UserRecord], str | None]:
        """One page of a tenant's users matching ``flt`` and the token of the next page.

        With a group filter the page is one query of the group's active memberships, whose
        rows carry their users' columns (filtered like the users table).

        Raises:
            InputError: ``invalid_continuation`` for a token this query did not issue.
        """
        if not flt.group_id:
            where = _user_filter(tenant_id, flt)
            rows, token = self._store.query_page(
                "users", where.text, where.params, page_size=page_size,
                continuation=continuation,
            )
            return [dent.user_record(e) for e in rows], token
        # RowKeys of a group's memberships share the prefix "<group id>_".
        members = (_user_filter(tenant_id, flt).prefix("RowKey", f"{flt.group_id}_")
                   .equal("Active", True))
        rows, token = self._store.query_page(
            "memberships", members.text, members.params, page_size=page_size,
            continuation=continuation,
        )
        users = []
        for m in rows:
            user = dent.member_record(m)
            if user is None:
                # A row from before memberships carried their users (rewritten by the next
                # sync that compares in full): read its user.
                entity = self._store.get("users", tenant_id, str(m["UserId"]))
                user = dent.user_record(entity) if entity is not None else None
            if user is not None and flt.matches(user):
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
        return [dent.group_record(e) for e in rows], token

    def purge(self, tenant_id: str) -> int:
        """Hard-delete a tenant's users, groups and memberships (and its delta state);
        returns how many rows."""
        return DeltaStateStore(self._store).purge(tenant_id) + sum(
            self._store.delete_partition(table, tenant_id)
            for table in ("users", "memberships", "groups")
        )

    def groups(self, tenant_id: str) -> Iterator[GroupRecord]:
        for e in self._store.query("groups", "PartitionKey eq @pk", {"pk": tenant_id}):
            yield dent.group_record(e)

    def memberships(
        self, tenant_id: str, group_id: str | None = None
    ) -> Iterator[MembershipRecord]:
        # RowKeys of a group's memberships share the prefix "<group id>_".
        where = TableFilter(tenant_id).prefix("RowKey", f"{group_id}_" if group_id else None)
        for e in self._store.query("memberships", where.text, where.params):
            yield dent.membership_record(e)
