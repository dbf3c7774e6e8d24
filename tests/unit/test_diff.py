"""The pure decisions of a directory sync, on plain records (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

from functions.directory.model import (
    DirectoryGroup,
    DirectoryUser,
    GroupTree,
    MembershipRecord,
    StoredDirectory,
    UserRecord,
)
from functions.directory.plan import deletion_guard, plan_directory_changes

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def tree(*users: tuple[str, bool], groups: dict[str, list[str]] | None = None,
         complete: bool = True) -> GroupTree:
    t = GroupTree(root=DirectoryGroup("root", "TinyMDM"), complete=complete)
    for uid, direct in users:
        t.users[uid] = DirectoryUser(uid, uid.title(), f"{uid}@x.example", f"{uid}@x.onmicrosoft")
        if direct:
            t.direct_user_ids.add(uid)
    for gid, members in (groups or {}).items():
        t.groups[gid] = DirectoryGroup(gid, gid.upper())
        for uid in members:
            t.memberships.add((gid, uid))
    return t


def stored_user(uid: str, *, direct: bool = True, deleted: bool = False) -> UserRecord:
    return UserRecord(uid, uid.title(), f"{uid}@x.example", f"{uid}@x.onmicrosoft", direct,
                      deleted, NOW if deleted else None)


def test_partial_read_marks_nobody_deleted_and_keeps_direct_flags() -> None:
    stored = StoredDirectory(users={"a": stored_user("a"), "b": stored_user("b")})
    stored.memberships[("g", "a")] = MembershipRecord("g", "a")
    # "a" was seen only through a group on an incomplete read; "b" not at all.
    changes = plan_directory_changes(
        tree(("a", False), groups={"g": ["a"]}, complete=False), stored, NOW
    )
    assert changes.user_counts.marked_deleted == 0
    assert changes.memberships_removed == 0
    assert all(not u.deleted for u in changes.users)
    assert all(u.direct for u in changes.users if u.id == "a")


def test_complete_read_marks_leavers_and_clears_direct_flag() -> None:
    stored = StoredDirectory(users={"a": stored_user("a"), "b": stored_user("b")})
    changes = plan_directory_changes(tree(("a", False), groups={"g": ["a"]}), stored, NOW)
    by_id = {u.id: u for u in changes.users}
    assert by_id["b"].deleted
    assert by_id["b"].deleted_at == NOW
    assert by_id["a"].direct is False
    assert changes.user_counts.marked_deleted == 1
    assert changes.user_counts.updated == 1


def test_unchanged_tree_plans_no_writes() -> None:
    stored = StoredDirectory(users={"a": stored_user("a")})
    changes = plan_directory_changes(tree(("a", True)), stored, NOW)
    assert changes.entity_count == 0
    assert changes.user_counts.unchanged == 1


def test_returning_user_is_restored_not_created() -> None:
    stored = StoredDirectory(users={"a": stored_user("a", deleted=True)})
    changes = plan_directory_changes(tree(("a", True)), stored, NOW)
    assert changes.user_counts.restored == 1
    assert changes.user_counts.created == 0
    assert changes.users[0].deleted is False
    assert changes.users[0].deleted_at is None


def test_already_deleted_user_is_not_marked_again() -> None:
    stored = StoredDirectory(users={"a": stored_user("a", deleted=True)})
    changes = plan_directory_changes(tree(), stored, NOW)
    assert changes.entity_count == 0


def test_deletion_guard_holds_abnormal_share_only() -> None:
    stored = StoredDirectory(users={f"u{i}": stored_user(f"u{i}") for i in range(20)})
    keep_five = tree(*((f"u{i}", True) for i in range(5)))
    changes = plan_directory_changes(keep_five, stored, NOW)
    assert deletion_guard(changes, stored, ratio=0.5, minimum=10) is not None
    keep_fifteen = tree(*((f"u{i}", True) for i in range(15)))
    changes = plan_directory_changes(keep_fifteen, stored, NOW)
    assert deletion_guard(changes, stored, ratio=0.5, minimum=10) is None
    small = StoredDirectory(users={f"u{i}": stored_user(f"u{i}") for i in range(4)})
    changes = plan_directory_changes(tree(), small, NOW)
    assert deletion_guard(changes, small, ratio=0.5, minimum=10) is None  # below the minimum
