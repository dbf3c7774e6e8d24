"""Delta re-syncs: what changed in Entra since the last sync, applied onto the tree the tables
hold, as the same :class:`GroupTree` a full read gives (the plan's rules stay in plan.py).

Two rounds per tenant: ``groups/delta?$select=displayName,members`` (every group of the
tenant; only tracked groups count) and ``users/delta`` with the properties the tables keep.
Group delta reports direct members by id only and is reported to miss deleted users, so users
are dropped by the users round. Whatever cannot be followed raises :class:`DeltaDoubt`: the
caller then reads in full, never guesses.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from functions.clients.graph import GraphClient
from functions.core.errors import GraphError
from functions.directory.delta_state import DeltaState
from functions.directory.model import DirectoryGroup, DirectoryUser, GroupTree, StoredDirectory
from functions.directory.reader import MEMBER_SELECT

log = logging.getLogger("tenantsync.directory")

GROUPS_ROUND = "/groups/delta?$select=displayName,members"
USERS_ROUND = f"/users/delta?$select={MEMBER_SELECT}"
LOOKUP_IDS = 50  # users/delta $filter: at most 50 ids joined by `or`


class DeltaDoubt(Exception):
    """The changes cannot be followed exactly: read in full instead."""


class TablesDiffer(DeltaDoubt):
    """The tables do not hold the tree the delta state stands for (storage lost writes):
    read in full, and compare with every row whatever the digest says."""


@dataclass
class FollowedTree(GroupTree):
    """A tree with the delta state to keep once it is written. ``unchanged``: no tracked
    group or user changed, so the tree was not rebuilt (the tables stand for it). With a
    ``digest``: the tree is the part the changes touched (see ``delta_touched``)."""

    delta: DeltaState | None = None
    unchanged: bool = False
    # Set when the tree is only the part the changes touched: the whole new tree's digest.
    digest: str = ""


@dataclass
class GroupDelta:
    name: str | None = None
    removed: bool = False
    members: dict[str, tuple[str, bool]] = field(default_factory=dict)  # id -> (type, present)


@dataclass
class Changes:
    groups: dict[str, GroupDelta] = field(default_factory=dict)
    users: dict[str, DirectoryUser | None] = field(default_factory=dict)  # None: deleted


def follow(graph: GraphClient, link: str) -> tuple[list[dict[str, Any]], str]:
    """Every object of a round (nextLinks followed verbatim) and its deltaLink.

    Raises:
        DeltaDoubt: the round was refused (an expired token: 400 ``syncStateNotFound``,
        410 Gone after tenant maintenance), looped, or ended without a deltaLink.
    """
    host = urlsplit(graph.base_url).netloc
    items: list[dict[str, Any]] = []
    url = link
    while True:
        if url.startswith("https://") and urlsplit(url).netloc != host:
            raise DeltaDoubt("a delta link points to another host")  # our token stays home
        try:
            body = graph.get(url)
        except GraphError as exc:
            raise DeltaDoubt(f"the delta round was refused ({exc.status} "
                             f"{exc.graph_code or exc.code})") from None
        items.extend(body.get("value") or [])
        next_link = body.get("@odata.nextLink")
        if next_link:
            # Groups delta has been seen returning the same nextLink again (GDC issue #7311).
            if next_link == url:
                raise DeltaDoubt("the delta round returned the same nextLink twice")
            url = str(next_link)
            continue
        delta_link = body.get("@odata.deltaLink")
        if not delta_link:
            raise DeltaDoubt("the delta round ended without a deltaLink")
        return items, str(delta_link)


def start_rounds(graph: GraphClient) -> tuple[str, str]:
    """deltaLinks from now (``$deltatoken=latest``), taken before a full read so that what
    changes during the read is replayed by the next re-sync (applying it twice is harmless)."""
    _, groups_link = follow(graph, GROUPS_ROUND + "&$deltatoken=latest")
    _, users_link = follow(graph, USERS_ROUND + "&$deltatoken=latest")
    return groups_link, users_link


def _user(item: dict[str, Any]) -> DirectoryUser:
    if not item.get("userPrincipalName"):
        raise DeltaDoubt("a user came without its properties (is User.Read.All missing?)")
    return DirectoryUser(str(item["id"]).lower(), str(item.get("displayName") or ""),
                         item.get("mail") or None, str(item["userPrincipalName"]))


def read_changes(graph: GraphClient, state: DeltaState) -> tuple[Changes, str, str]:
    """Both rounds since ``state``, merged per object (objects repeat, in any order)."""
    changes = Changes()
    groups, groups_link = follow(graph, state.groups_link)
    for item in groups:
        gid = str(item.get("id") or "").lower()
        if gid not in state.tracked:
            continue  # a group outside the tree (the round covers the whole tenant)
        entry = changes.groups.setdefault(gid, GroupDelta())
        if "@removed" in item:
            entry.removed = True
            continue
        if "displayName" in item:
            entry.name = str(item.get("displayName") or "")
        for m in item.get("members@delta") or []:
            entry.members[str(m["id"]).lower()] = (str(m.get("@odata.type")),
                                                   "@removed" not in m)
    users, users_link = follow(graph, state.users_link)
    for item in users:
        uid = str(item.get("id") or "").lower()
        changes.users[uid] = None if "@removed" in item else _user(item)
    return changes, groups_link, users_link


def look_up(graph: GraphClient, user_ids: list[str]) -> dict[str, DirectoryUser]:
    """Current properties of users (a filtered users round: 50 ids a request)."""
    found: dict[str, DirectoryUser] = {}
    for start in range(0, len(user_ids), LOOKUP_IDS):
        ids = " or ".join(f"id eq '{u}'" for u in user_ids[start:start + LOOKUP_IDS])
        items, _ = follow(graph, f"{USERS_ROUND}&$filter={ids}")
        for item in items:
            if "@removed" not in item:
                user = _user(item)
                found[user.id] = user
    return found


def previous_tree(stored: StoredDirectory, state: DeltaState) -> GroupTree:
    """The tree the tables hold (the last sync's, written whole): their active rows."""
    tree = GroupTree(root=DirectoryGroup(state.root_id, state.root_name))
    for u in stored.users.values():
        if not u.deleted:
            tree.users[u.id] = DirectoryUser(u.id, u.display_name, u.email, u.upn)
            if u.direct:
                tree.direct_user_ids.add(u.id)
    for g in stored.groups.values():
        if not g.deleted:
            tree.groups[g.id] = DirectoryGroup(g.id, g.display_name)
    tree.memberships = {key for key, m in stored.memberships.items() if m.active}
    tree.ignored = ignored_of(state.tracked, state.root_id)
    return tree


def ignored_of(tracked: dict[str, dict[str, str]], root_id: str) -> Counter[str]:
    """The read's ignored counts, as the full reader counts them (distinct ids per reason;
    a nested group that is also a level-1 group is not counted)."""
    ids: dict[str, set[str]] = {}
    for others in tracked.values():
        for object_id, reason in others.items():
            ids.setdefault(reason, set()).add(object_id)
    if "nested_group" in ids:
        ids["nested_group"] -= set(tracked) | {root_id}
        if not ids["nested_group"]:
            del ids["nested_group"]
    return Counter({reason: len(found) for reason, found in ids.items()})
