"""The directory sync's decisions as pure functions: what Graph said + what is stored -> changes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime

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

    @property
    def entity_count(self) -> int:
        return len(self.users) + len(self.groups) + len(self.memberships)


def plan_directory_changes(
    tree: GroupTree, stored: StoredDirectory, now: datetime
) -> DirectoryChanges:
    """Decide creates, updates, deletion marks and restores.

    From an incomplete tree nothing is marked deleted or removed, and nobody loses their
    direct-member flag: absence from a partial read proves nothing.
    """
    changes = DirectoryChanges()
    removals_allowed = tree.complete

    for user in tree.users.values():
        old = stored.users.get(user.id)
        direct = user.id in tree.direct_user_ids
        if not removals_allowed and old is not None:
            direct = direct or old.direct
        new = UserRecord(user.id, user.display_name, user.email, user.upn, direct)
        changes.user_counts.seen(new, old, changes.users, mark="deleted")

    for group in tree.groups.values():
        new_group = GroupRecord(group.id, group.display_name)
        changes.group_counts.seen(new_group, stored.groups.get(group.id), changes.groups,
                                  mark="deleted")

    for group_id, user_id in tree.memberships:
        old_m = stored.memberships.get((group_id, user_id))
        if old_m is None or not old_m.active:
            changes.memberships.append(MembershipRecord(group_id, user_id))
            changes.memberships_added += 1

    if removals_allowed:
        for user_id, old_user in stored.users.items():
            if not old_user.deleted and user_id not in tree.users:
                changes.users.append(replace(old_user, deleted=True, deleted_at=now))
                changes.user_counts.marked_deleted += 1
        for group_id, old_group in stored.groups.items():
            if not old_group.deleted and group_id not in tree.groups:
                changes.groups.append(replace(old_group, deleted=True, deleted_at=now))
                changes.group_counts.marked_deleted += 1
        for key, old_m in stored.memberships.items():
            if old_m.active and key not in tree.memberships:
                changes.memberships.append(replace(old_m, active=False, removed_at=now))
                changes.memberships_removed += 1
    return changes


def deletion_guard(
    changes: DirectoryChanges, stored: StoredDirectory, *, ratio: float, minimum: int
) -> str | None:
    """Return why a sync must be held back, or None.

    Holds a sync that would mark at least ``minimum`` users deleted and more than ``ratio``
    of the users currently active: more often a misconfigured group than a mass departure.
    """
    marked = changes.user_counts.marked_deleted
    active = sum(1 for u in stored.users.values() if not u.deleted)
    if marked >= minimum and active and marked / active > ratio:
        return (
            f"This sync would mark {marked} of {active} users deleted (over {ratio:.0%}); "
            "nothing was written. If that is right, run it again allowing mass deletion "
            "(tenantsync sync directory --allow-mass-deletion)."
        )
    return None


def tree_fingerprint(tree: GroupTree) -> str:
    """A digest of everything a sync stores from a tree; equal digests mean equal writes."""
    digest = hashlib.sha256()
    for uid in sorted(tree.users):
        u = tree.users[uid]
        digest.update(f"u|{uid}|{u.display_name}|{u.email or ''}|{u.upn}|"
                      f"{uid in tree.direct_user_ids}\n".encode())
    for gid in sorted(tree.groups):
        digest.update(f"g|{gid}|{tree.groups[gid].display_name}\n".encode())
    for gid, uid in sorted(tree.memberships):
        digest.update(f"m|{gid}|{uid}\n".encode())
    return digest.hexdigest()
