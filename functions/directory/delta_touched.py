"""A delta re-sync that loads only what its changes touch: the users they name (and the
members of a group that left level 0), those users' active memberships, and the level-1
groups (a few hundred rows at most). The rest of the tables stand as they are.

It gives the plan a part of the tree and the same part of the tables: each touched user
with every membership it has now, each touched user's stored row and active memberships,
every level-1 group with its member count, so that the plan (the rules of a full read:
levels, deletion marks, restores) decides exactly what it would from the whole. The tree's
digest is updated record by record (``digest``). It trusts the tables to hold the delta
state's tree as the engine's digest shortcut does (a full comparison not long ago); a row
that says otherwise is a doubt, and a doubt means a full read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from functions.core.crew import CrewPool
from functions.core.usage import carried
from functions.directory import entities as dent
from functions.directory.delta import Changes, TablesDiffer, ignored_of
from functions.directory.delta_apply import newcomers_found, walk_groups
from functions.directory.delta_state import DeltaState
from functions.directory.digest import (
    group_line,
    membership_line,
    tree_lines,
    updated,
    user_line,
)
from functions.directory.model import (
    DirectoryGroup,
    DirectoryUser,
    GroupTree,
    StoredDirectory,
    UserRecord,
)
from functions.storage.entities import Entity
from functions.storage.tables import TableFilter, TableStore

READERS = 8  # point reads in flight (each waits on the network, not the CPU)


@dataclass
class Touched:
    """The part of the tree and of the tables a delta's changes touch."""

    tree: GroupTree
    stored: StoredDirectory
    tracked: dict[str, dict[str, str]]
    digest: str  # of the whole new tree
    user_count: int
    group_count: int


def _point_reads(store: TableStore, table: str, tenant_id: str,
                 keys: Iterable[str]) -> dict[str, Entity | None]:
    keys = list(keys)
    if not keys:
        return {}
    with CrewPool(min(READERS, len(keys)), name="directory-read") as pool:
        def read(key: str) -> Entity | None:
            return store.get(table, tenant_id, key)

        found = pool.map(carried(read), keys)
        return dict(zip(keys, found, strict=True))


def _user(row: UserRecord) -> DirectoryUser:
    return DirectoryUser(row.id, row.display_name, row.email, row.upn)


def load_touched(
    store: TableStore, tenant_id: str, state: DeltaState, changes: Changes,
    look_up: Callable[[list[str]], dict[str, DirectoryUser]],
) -> Touched:
    """The touched part of the new tree and of the tables, and the new tree's digest.

    Raises:
        DeltaDoubt: as :func:`functions.directory.delta_apply.apply_changes`, or a loaded
        row does not agree with the tree the delta state was kept with.
    """
    root = state.root_id
    groups = {}
    for e in store.query("groups", "PartitionKey eq @pk", {"pk": tenant_id}):
        group = dent.group_record(e)
        groups[group.id] = group
    if {gid for gid, g in groups.items() if not g.deleted} != state.level1:
        raise TablesDiffer("the level-1 groups in the tables are not the tracked ones")
    level1 = {gid: DirectoryGroup(gid, groups[gid].display_name) for gid in state.level1}
    root_name = state.root_name
    tracked = {gid: dict(others) for gid, others in state.tracked.items()}
    direct_now: dict[str, bool] = {}  # user -> a direct member now (where a change says)
    member_now: dict[tuple[str, str], bool] = {}  # (group, user) -> a member now

    # The same walk as apply_changes, kept to the changes (no member lists in memory).
    def member(gid: str, uid: str, present: bool) -> None:
        if gid == root:
            direct_now[uid] = present
        else:
            member_now[(gid, uid)] = present

    root_name = walk_groups(changes, root, root_name, level1, tracked, member)
    tracked = {gid: others for gid, others in tracked.items() if gid == root or gid in level1}
    deleted = {uid for uid, user in changes.users.items() if user is None}

    # Touched: users a change names, and every active member of a group that left level 0.
    stored = StoredDirectory(groups=groups)
    touched = set(direct_now) | {uid for _, uid in member_now} | set(changes.users)
    for gid in state.level1 - set(level1):
        where = TableFilter(tenant_id).prefix("RowKey", f"{gid}_").equal("Active", True)
        for e in store.query("memberships", where.text, where.params):
            m = dent.membership_record(e)
            stored.memberships[(m.group_id, m.user_id)] = m
            touched.add(m.user_id)
    rows = {uid: dent.user_record(e)
            for uid, e in _point_reads(store, "users", tenant_id, sorted(touched)).items()
            if e is not None}
    stored.users = rows
    active = {uid: row for uid, row in rows.items() if not row.deleted}
    if any(uid not in active for _, uid in stored.memberships):
        raise TablesDiffer("an active membership's user is not active in the tables")
    wanted = [dent.membership_key(g, uid) for uid, row in active.items() for g in row.group_ids
              if (g, uid) not in stored.memberships]
    for key, entity in _point_reads(store, "memberships", tenant_id, wanted).items():
        if entity is None or not entity.get("Active", True):
            raise TablesDiffer(f"membership {key} is not in the tables as the tree holds it")
        m = dent.membership_record(entity)
        stored.memberships[(m.group_id, m.user_id)] = m
        if dent.member_record(entity) is None:
            stored.unprojected.add((m.group_id, m.user_id))

    tree = GroupTree(root=DirectoryGroup(root, root_name))
    counts = {gid: groups[gid].member_count for gid in level1}
    newcomers: set[str] = set()
    removed_lines = [group_line(DirectoryGroup(gid, groups[gid].display_name))
                     for gid in state.level1]
    for uid in touched:
        row = active.get(uid)
        old_groups = set(row.group_ids) if row is not None else set()
        old_direct = row is not None and row.direct
        if row is not None:
            if (not old_direct and not old_groups) or not old_groups <= state.level1:
                raise TablesDiffer(f"user {uid} is not in the tables as the tree holds it")
            removed_lines.append(user_line(_user(row), old_direct))
            removed_lines.extend(membership_line(g, uid) for g in old_groups)
        direct = direct_now.get(uid, old_direct) and uid not in deleted
        now = {g for g in level1 if member_now.get((g, uid), g in old_groups)}
        if uid in deleted:
            now = set()
        for g in now ^ old_groups:
            if g in counts:
                counts[g] += 1 if g in now else -1
        if not direct and not now:
            continue
        if row is None:
            newcomers.add(uid)
        if direct:
            tree.direct_user_ids.add(uid)
        tree.memberships.update((g, uid) for g in now)

    found = newcomers_found(changes, rows, newcomers, look_up)
    in_tree = tree.direct_user_ids | {uid for _, uid in tree.memberships}
    for uid in in_tree:
        user = changes.users.get(uid) or found.get(uid)
        tree.users[uid] = user if user is not None else _user(active[uid])
    tree.groups = level1
    tree.member_counts = counts
    tree.ignored = ignored_of(tracked, root)

    stored.untouched_users = state.user_count - len(active)
    if stored.untouched_users < 0:
        raise TablesDiffer("the delta state counts fewer users than the tables hold")
    digest = updated(state.fingerprint, removed_lines, tree_lines(tree))
    return Touched(tree, stored, tracked, digest,
                   user_count=stored.untouched_users + len(tree.users),
                   group_count=len(level1))
