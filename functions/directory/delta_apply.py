"""A delta's changes applied onto the previous tree (pure but for the user look-up): the tree a
full read would give now, or :class:`DeltaDoubt` where that cannot be known."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from functions.directory.delta import Changes, DeltaDoubt, ignored_of
from functions.directory.delta_state import DeltaState
from functions.directory.model import (
    DirectoryGroup,
    DirectoryUser,
    GroupTree,
    StoredDirectory,
    UserRecord,
)
from functions.directory.reader import _IGNORED_TYPES, GROUP, USER


def _reason(odata_type: str) -> str:
    return "nested_group" if odata_type == GROUP else _IGNORED_TYPES.get(odata_type, "other")


def walk_groups(changes: Changes, root: str, root_name: str,
                level1: dict[str, DirectoryGroup], tracked: dict[str, dict[str, str]],
                member: Callable[[str, str, bool], None]) -> str:
    """Apply the group deltas' names, level-1 groups and tracked non-user members in place,
    telling ``member(group, user, present)`` of each user membership a delta reports;
    returns the level-0 group's name.

    Raises:
        DeltaDoubt: the level-0 group was deleted, or a group joined level 0 (it has no
        delta state: its members are unknown).
    """
    for gid, delta in changes.groups.items():
        if delta.removed:
            if gid == root:
                raise DeltaDoubt("the level-0 group was deleted")
            level1.pop(gid, None)  # a deleted level-1 group is gone from level 0 too
            continue
        if delta.name is not None:
            if gid == root:
                root_name = delta.name
            elif gid in level1:
                level1[gid] = DirectoryGroup(gid, delta.name)
        for mid, (odata_type, present) in delta.members.items():
            if odata_type == USER:
                member(gid, mid, present)
            elif odata_type == GROUP and gid == root:
                if present and mid not in level1:
                    raise DeltaDoubt(f"group {mid} joined level 0: it is read in full first")
                if not present:
                    level1.pop(mid, None)
            elif present:
                tracked.setdefault(gid, {})[mid] = _reason(odata_type)
            else:
                tracked.setdefault(gid, {}).pop(mid, None)
    return root_name


def newcomers_found(changes: Changes, rows: Mapping[str, UserRecord], newcomers: set[str],
                    look_up: Callable[[list[str]], dict[str, DirectoryUser]],
                    ) -> dict[str, DirectoryUser]:
    """The newcomers the users round did not carry, read from Graph (a newcomer's stored
    row may be stale: changes of users outside the tree are not kept).

    Raises:
        DeltaDoubt: a user came back (a restore brings memberships back that group delta
        may not report), or a newcomer's properties could not be read.
    """
    for uid, user in changes.users.items():
        old = rows.get(uid)
        if user is not None and old is not None and old.deleted and uid not in newcomers:
            raise DeltaDoubt(f"user {uid} came back: its memberships are read in full")
    unknown = sorted(u for u in newcomers if changes.users.get(u) is None)
    found = look_up(unknown) if unknown else {}
    if len(found) != len(unknown):
        raise DeltaDoubt("a new member's properties could not be read")
    return found


def apply_changes(
    prev: GroupTree, state: DeltaState, changes: Changes, stored: StoredDirectory,
    look_up: Callable[[list[str]], dict[str, DirectoryUser]],
) -> tuple[GroupTree, dict[str, dict[str, str]]]:
    """The new tree and the tracked groups' non-user members.

    Raises:
        DeltaDoubt: the level-0 group was deleted; a group joined level 0 (it has no delta
        state: its members are unknown); a user came back (a restore brings memberships
        back that group delta may not report); a member's properties cannot be had; the
        tables do not hold the tree the state was saved with.
    """
    root = state.root_id
    if set(prev.groups) != state.level1:
        raise DeltaDoubt("the level-1 groups in the tables are not the tracked ones")
    level1 = {gid: DirectoryGroup(gid, g.display_name) for gid, g in prev.groups.items()}
    root_name = prev.root.display_name
    direct = set(prev.direct_user_ids)
    members: dict[str, set[str]] = {gid: set() for gid in level1}
    for gid, uid in prev.memberships:
        members[gid].add(uid)
    tracked = {gid: dict(others) for gid, others in state.tracked.items()}

    def member(gid: str, uid: str, present: bool) -> None:
        target = direct if gid == root else members.setdefault(gid, set())
        (target.add if present else target.discard)(uid)

    root_name = walk_groups(changes, root, root_name, level1, tracked, member)

    # Group delta may miss a deleted member user: the users round drops them everywhere.
    deleted = {uid for uid, user in changes.users.items() if user is None}
    direct -= deleted
    for group_members in members.values():
        group_members -= deleted
    tracked = {gid: others for gid, others in tracked.items() if gid == root or gid in level1}

    in_tree = set(direct).union(*(members[g] for g in level1 if g in members))
    newcomers = in_tree - set(prev.users)
    found = newcomers_found(changes, stored.users, newcomers, look_up)

    tree = GroupTree(root=DirectoryGroup(root, root_name))
    for uid in in_tree:
        user = changes.users.get(uid) or found.get(uid) or prev.users.get(uid)
        assert user is not None  # newcomers were looked up; the others were in the tree
        tree.users[uid] = user
    tree.direct_user_ids = direct
    tree.groups = level1
    tree.memberships = {(g, u) for g in level1 for u in members.get(g, ())}
    tree.ignored = ignored_of(tracked, root)
    return tree, tracked
