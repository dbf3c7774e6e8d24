"""The directory sync's decisions as pure functions: what Graph said + what is stored -> changes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from functions.core import changes as ch
from functions.core.changes import Change, record_version
from functions.core.model import ChangeCounts
from functions.directory.model import (
    GroupRecord,
    GroupTree,
    MembershipRecord,
    StoredDirectory,
    UserRecord,
)


@dataclass
class DirectoryChanges:
    """Only the records that must be written, and what they mean."""

    users: list[UserRecord] = field(default_factory=list)
    groups: list[GroupRecord] = field(default_factory=list)
    memberships: list[MembershipRecord] = field(default_factory=list)
    user_counts: ChangeCounts = field(default_factory=ChangeCounts)
    group_counts: ChangeCounts = field(default_factory=ChangeCounts)
    memberships_added: int = 0
    memberships_removed: int = 0
    # What each written record's change is, in the order planned (the change feed's).
    entries: list[Change] = field(default_factory=list)

    @property
    def entity_count(self) -> int:
        return len(self.users) + len(self.groups) + len(self.memberships)


def _entry(entity: str, record: UserRecord | GroupRecord, old: object | None,
           *, name: str) -> Change:
    """The feed entry of a written user or group (``old``: as it was stored)."""
    if old is None:
        kind = ch.CREATED
    elif getattr(old, "deleted", False) and not record.deleted:
        kind = ch.RESTORED
    elif record.deleted and not getattr(old, "deleted", False):
        kind = ch.DELETED
    else:
        kind = ch.UPDATED
    return Change(entity, record.id, kind, name, record_version(record))


def plan_directory_changes(
    tree: GroupTree, stored: StoredDirectory, now: datetime
) -> DirectoryChanges:
    """Decide creates, updates, deletion marks and restores.

    From an incomplete tree nothing is marked deleted or removed, and nobody loses their
    direct-member flag: absence from a partial read proves nothing.
    """
    changes = DirectoryChanges()
    removals_allowed = tree.complete
    groups_of: dict[str, set[str]] = {}
    members_of: dict[str, int] = {}
    for group_id, user_id in tree.memberships:
        groups_of.setdefault(user_id, set()).add(group_id)
        members_of[group_id] = members_of.get(group_id, 0) + 1

    for user in tree.users.values():
        old = stored.users.get(user.id)
        direct = user.id in tree.direct_user_ids
        group_ids = groups_of.get(user.id, set())
        if not removals_allowed and old is not None:
            # Absence from a partial read proves nothing: keep what was known.
            direct = direct or old.direct
            group_ids = group_ids | set(old.group_ids)
        # Every written record carries the time of this run (not compared: see the model).
        new = UserRecord(user.id, user.display_name, user.email, user.upn, direct,
                         group_ids=tuple(sorted(group_ids)), changed_at=now)
        changes.user_counts.seen(new, old, changes.users, mark="deleted")

    for group in tree.groups.values():
        old_group = stored.groups.get(group.id)
        # A delta re-sync's tree holds only the memberships its changes touch: its counts.
        count = tree.member_counts.get(group.id, members_of.get(group.id, 0))
        if not removals_allowed and old_group is not None:
            count = max(count, old_group.member_count)
        new_group = GroupRecord(group.id, group.display_name, member_count=count,
                                changed_at=now)
        changes.group_counts.seen(new_group, old_group, changes.groups, mark="deleted")

    added: list[MembershipRecord] = []
    for group_id, user_id in tree.memberships:
        old_m = stored.memberships.get((group_id, user_id))
        if old_m is None or not old_m.active:
            added.append(MembershipRecord(group_id, user_id, changed_at=now))
            changes.memberships_added += 1

    # Users the tables hold that a delta re-sync did not load: its changes left them as they are.
    changes.user_counts.unchanged += stored.untouched_users
    ended: list[MembershipRecord] = []
    if removals_allowed:
        for user_id, old_user in stored.users.items():
            if not old_user.deleted and user_id not in tree.users:
                changes.users.append(replace(old_user, deleted=True, deleted_at=now,
                                             group_ids=(), changed_at=now))
                changes.user_counts.marked_deleted += 1
        for group_id, old_group in stored.groups.items():
            if not old_group.deleted and group_id not in tree.groups:
                changes.groups.append(replace(old_group, deleted=True, deleted_at=now,
                                              member_count=0, changed_at=now))
                changes.group_counts.marked_deleted += 1
        for key, old_m in stored.memberships.items():
            if old_m.active and key not in tree.memberships:
                ended.append(replace(old_m, active=False, removed_at=now, changed_at=now))
                changes.memberships_removed += 1

    # The feed says what each written record's change was.
    changes.memberships = added + ended
    for g in changes.groups:
        changes.entries.append(_entry(ch.GROUP, g, stored.groups.get(g.id), name=g.display_name))
    for m in changes.memberships:
        changes.entries.append(Change(ch.MEMBERSHIP, f"{m.group_id}_{m.user_id}",
                                      ch.ADDED if m.active else ch.ENDED, "", record_version(m)))
    for u in changes.users:
        changes.entries.append(_entry(ch.USER, u, stored.users.get(u.id), name=u.display_name))
    return changes


def deletion_guard(
    changes: DirectoryChanges, stored: StoredDirectory, *, ratio: float, minimum: int
) -> str | None:
    """Return why a sync must be held back, or None.

    Holds a sync that would mark at least ``minimum`` users deleted and more than ``ratio``
    of the users currently active: more often a misconfigured group than a mass departure.
    """
    marked = changes.user_counts.marked_deleted
    active = stored.untouched_users + sum(1 for u in stored.users.values() if not u.deleted)
    if marked >= minimum and active and marked / active > ratio:
        return (
            f"This sync would mark {marked} of {active} users deleted (over {ratio:.0%}); "
            "nothing was written. Review the preview (GET /api/tenants/<tenant>/directory/"
            "held); if it is right, release it (POST /api/tenants/<tenant>/directory/sync "
            'with {"allowMassDeletion": true}, or tenantsync sync directory '
            "--allow-mass-deletion)."
        )
    return None
