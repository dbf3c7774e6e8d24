"""How a directory sync reads: only the changes (delta) when the tenant's delta state stands
for its tables, else in full, and in full on the reconciliation schedule.

A full read takes deltaLinks first (``$deltatoken=latest``); once its tree is written whole,
they become the tenant's delta state. A delta read rebuilds the tree from the tables plus the
changes; any doubt (an expired or refused token, a group that joined level 0, a user restored,
a group delta cannot follow) falls back to a full read in the same run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta

from functions.clients.graph import GraphClient
from functions.core.model import SyncKind, TenantRecord, utcnow
from functions.directory.delta import (
    DeltaDoubt,
    FollowedTree,
    TablesDiffer,
    ignored_of,
    look_up,
    previous_tree,
    read_changes,
    start_rounds,
)
from functions.directory.delta_apply import apply_changes
from functions.directory.delta_state import DeltaState, DeltaStateStore, followable
from functions.directory.delta_touched import load_touched
from functions.directory.digest import tree_fingerprint, updatable
from functions.directory.model import DirectoryGroup, GroupTree, StoredDirectory
from functions.directory.reader import GroupTreeReader
from functions.directory.store import DirectoryTables

log = logging.getLogger("tenantsync.directory")


def _followed(tree: GroupTree, delta: DeltaState | None) -> FollowedTree:
    return FollowedTree(**{f.name: getattr(tree, f.name) for f in fields(GroupTree)},
                        delta=delta)


@dataclass
class DirectoryReads:
    """Reads tenants' trees for the directory slice and keeps their delta state."""

    tables: DirectoryTables
    states: DeltaStateStore
    reconcile_hours: float
    # The engine compares with every stored entity this often: a delta read then checks the
    # tables still hold the state's tree (storage that lost writes converges by a full read).
    full_compare_hours: float = 6.0
    clock: Callable[[], datetime] = utcnow
    # Between a run's read and its write: the state to keep once the tree is written, and
    # the tables as a delta read loaded them (the engine's load takes them, not twice).
    _pending: dict[str, tuple[DeltaState, DeltaState | None]] = field(default_factory=dict)
    _loaded: dict[str, StoredDirectory] = field(default_factory=dict)

    def read(self, graph: GraphClient, tenant: TenantRecord, group_id: str, *,
             full: bool = False) -> FollowedTree:
        """The tenant's tree: only the changes, or in full (``full``: asked for)."""
        tenant_id = tenant.tenant_id
        self._pending.pop(tenant_id, None)
        self._loaded.pop(tenant_id, None)
        old = self.states.load(tenant_id)
        why = "a full read was asked for" if full else self._why_full(old, tenant, group_id)
        if why is None and old is not None:
            try:
                # The engine's verified_at follows every write; a re-sync that loaded only
                # what changed compared nothing else, so the state says when a run did.
                verified = old.compared_at
                check = verified is None or (self.clock() - verified
                                             >= timedelta(hours=self.full_compare_hours))
                tree = self._delta(graph, tenant_id, old, check=check)
                log.info("delta re-sync", extra={"tenant_id": tenant_id})
                return tree
            except DeltaDoubt as exc:
                why = str(exc)
                self._loaded.pop(tenant_id, None)
                if isinstance(exc, TablesDiffer):
                    # The engine must compare the full read with every row, not trust a
                    # digest equal to the one the lost writes were meant to give.
                    tenant.state(SyncKind.DIRECTORY).verified_at = None
        log.info("full read: %s", why, extra={"tenant_id": tenant_id})
        return self._full(graph, tenant_id, group_id, old)

    def _why_full(self, state: DeltaState | None, tenant: TenantRecord,
                  group_id: str) -> str | None:
        """Why this sync must read in full (None: a delta re-sync may do)."""
        if state is None:
            return "no delta state yet"
        if state.root_id != group_id.lower():
            return "the level-0 group changed"
        fingerprint = tenant.state(SyncKind.DIRECTORY).fingerprint
        if not updatable(state.fingerprint):
            return "the tree's digest is of an older kind (once, after an upgrade)"
        if not fingerprint or fingerprint != state.fingerprint:
            return "the tables are not the tree the delta state was kept with"
        if self.clock() - state.full_read_at >= timedelta(hours=self.reconcile_hours):
            return "the reconciliation read is due"
        return None

    def _full(self, graph: GraphClient, tenant_id: str, group_id: str,
              old: DeltaState | None) -> FollowedTree:
        started = self.clock()
        links: tuple[str, str] | None = None
        try:
            links = start_rounds(graph)
        except DeltaDoubt as exc:
            log.warning("no delta state for the next sync: %s", exc,
                        extra={"tenant_id": tenant_id})
        tree = GroupTreeReader(graph, tenant_id).read(group_id)
        if not tree.complete or links is None:
            return _followed(tree, None)
        root = group_id.lower()
        tracked = {gid.lower(): tree.others.get(gid, {}) for gid in [group_id, *tree.groups]}
        state = DeltaState(root, tree.root.display_name, links[0], links[1], started,
                           tracked=tracked, compared_at=old.compared_at if old else None)
        if not followable(state):
            log.warning("a group has too many non-user members to follow by delta",
                        extra={"tenant_id": tenant_id})
            return _followed(tree, None)
        self._pending[tenant_id] = (state, old)
        return _followed(tree, state)

    def _delta(self, graph: GraphClient, tenant_id: str, old: DeltaState, *,
               check: bool) -> FollowedTree:
        """The tree from the changes since ``old``; ``check``: the tables are compared in
        full by this run, so first make sure they still hold the state's tree (else only
        the rows the changes touch are loaded)."""
        changes, groups_link, users_link = read_changes(graph, old)
        state = replace(old, groups_link=groups_link, users_link=users_link,
                        tracked={g: dict(o) for g, o in old.tracked.items()})
        unchanged = not changes.groups and not changes.users
        if not unchanged and not check:
            # Trusted as the engine's digest shortcut is: load only what the changes touch.
            part = load_touched(self.tables.store, tenant_id, old, changes,
                                lambda ids: look_up(graph, ids))
            state.tracked, state.root_name = part.tracked, part.tree.root.display_name
            state.fingerprint = part.digest
            state.user_count, state.group_count = part.user_count, part.group_count
            self._loaded[tenant_id] = part.stored
            self._pending[tenant_id] = (state, old)
            touched = _followed(part.tree, state)
            touched.digest = part.digest
            return touched
        stored = self.tables.load(tenant_id) if check or not unchanged else None
        previous = previous_tree(stored, old) if stored is not None else None
        if previous is not None and tree_fingerprint(previous) != old.fingerprint:
            raise TablesDiffer("the tables do not hold the tree the delta state was kept with")
        if stored is not None:
            state.compared_at = self.clock()
        if unchanged:
            # Nothing changed: the tables hold the tree (its fingerprint is the state's).
            tree = FollowedTree(root=DirectoryGroup(old.root_id, old.root_name), delta=state,
                                unchanged=True)
            tree.ignored = ignored_of(old.tracked, old.root_id)
            self._pending[tenant_id] = (state, old)
            if stored is not None:
                self._loaded[tenant_id] = stored  # the engine compares with them next
            return tree
        assert stored is not None
        assert previous is not None
        rebuilt, tracked = apply_changes(previous, old, changes, stored,
                                         lambda ids: look_up(graph, ids))
        state.tracked, state.root_name = tracked, rebuilt.root.display_name
        self._loaded[tenant_id] = stored
        self._pending[tenant_id] = (state, old)
        return _followed(rebuilt, state)

    # --- the slice's hooks ---------------------------------------------------------------

    def tree_for(self, read: GroupTree, stored: StoredDirectory) -> GroupTree:
        """The tree to plan from (an unchanged delta read is the tables' own tree)."""
        if isinstance(read, FollowedTree) and read.unchanged and read.delta is not None:
            return previous_tree(stored, read.delta)
        return read

    def stored(self, tenant_id: str) -> StoredDirectory:
        """The tables as this run's delta read loaded them, else loaded now."""
        loaded = self._loaded.pop(tenant_id, None)
        if loaded is not None:
            return loaded
        pending = self._pending.get(tenant_id)
        if pending is not None:
            pending[0].compared_at = self.clock()  # every row is loaded and compared
        return self.tables.load(tenant_id)

    def digested(self, read: GroupTree, digest: str) -> None:
        """Note the digest (and counts) of a complete read on the state it will keep."""
        if (isinstance(read, FollowedTree) and read.delta is not None and not read.unchanged
                and not read.digest):
            read.delta.fingerprint = digest
            read.delta.user_count, read.delta.group_count = len(read.users), len(read.groups)

    def written(self, tenant_id: str) -> int:
        """The run's tree is in the tables: keep its delta state (rows written)."""
        self._loaded.pop(tenant_id, None)
        pending = self._pending.pop(tenant_id, None)
        if pending is None or not pending[0].fingerprint:
            return 0
        return self.states.save(tenant_id, *pending)
