"""Reads a level-0 group and its level-1 groups from Graph into a :class:`GroupTree`."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from functions.clients.graph import GraphClient
from functions.core.crew import CrewPool
from functions.core.errors import GraphError, TenantError
from functions.core.usage import carried
from functions.directory.model import DirectoryGroup, DirectoryUser, GroupTree

log = logging.getLogger("tenantsync.directory")

# Only what we store: $select keeps pages small and costs fewer resource units.
MEMBER_SELECT = "id,displayName,mail,userPrincipalName"
PAGE_SIZE = "999"  # Graph's largest page for /members ($top 1..999).

USER = "#microsoft.graph.user"
GROUP = "#microsoft.graph.group"
_IGNORED_TYPES = {
    "#microsoft.graph.device": "device",
    "#microsoft.graph.orgContact": "contact",
    "#microsoft.graph.servicePrincipal": "service_principal",
}


def _group_error(exc: GraphError, tenant_id: str, group_id: str, level: int) -> TenantError:
    """Name the fix for an error reading a group."""
    if exc.status == 403:
        return TenantError(
            f"The app may not read group members in tenant {tenant_id}: give it the "
            "application permission GroupMember.Read.All (Microsoft Graph) and grant admin "
            f"consent. (Graph {exc.graph_code}, request {exc.request_id})",
            code="permission_missing",
        )
    if exc.status in (400, 404) and level == 0:
        return TenantError(
            f"Group {group_id} was not found in tenant {tenant_id}: check the level-0 group's "
            "Object ID (Entra ID > Groups > the group > Overview).",
            code="group_not_found",
        )
    if exc.status == 404:
        return TenantError(
            f"Group {group_id} vanished while it was being read; nothing is marked deleted "
            "from this run.",
            code="group_vanished",
        )
    return TenantError(
        f"Reading group {group_id} failed: {exc.message} (request {exc.request_id})",
        code=exc.code,
    )


def _user(item: dict[str, Any], tenant_id: str) -> DirectoryUser:
    upn = item.get("userPrincipalName")
    if not upn:
        # Without User.Read.All Graph returns user members with only their id: importing
        # them would blank every name and email, so the run stops instead.
        raise TenantError(
            f"The app may not read user profiles in tenant {tenant_id}: give it the "
            "application permission User.Read.All (Microsoft Graph) and grant admin consent.",
            code="permission_missing",
        )
    return DirectoryUser(
        id=str(item["id"]).lower(),
        display_name=str(item.get("displayName") or ""),
        email=item.get("mail") or None,
        upn=str(upn),
    )


class GroupTreeReader:
    """Reads level 0 and level 1; level 2 users come from the level-1 groups' listings."""

    def __init__(self, graph: GraphClient, tenant_id: str, *, concurrency: int = 4) -> None:
        self._graph = graph
        self._tenant_id = tenant_id
        self._concurrency = concurrency

    def read_root(self, group_id: str) -> DirectoryGroup:
        """Read the level-0 group itself (also the onboarding connection test).

        Raises:
            AuthenticationError: no token. TenantError: the group cannot be read, with the fix.
        """
        try:
            item = self._graph.get(f"/groups/{group_id}", {"$select": "id,displayName"})
        except GraphError as exc:
            raise _group_error(exc, self._tenant_id, group_id, 0) from None
        return DirectoryGroup(group_id, str(item.get("displayName") or ""))

    def read(self, group_id: str) -> GroupTree:
        """Read the tree under ``group_id``.

        A failure of the level-0 group itself raises TenantError; a failure in any listing
        after that returns a tree with ``complete=False``, from which nothing may be deleted.
        """
        tree = GroupTree(root=self.read_root(group_id))
        ignored: dict[str, set[str]] = {}
        level1 = self._list(tree, group_id, 0, ignored)
        for group in level1:
            tree.groups[group.id] = group
        with CrewPool(self._concurrency, name="directory-read") as pool:
            def members(group: DirectoryGroup) -> tuple[DirectoryGroup, list[DirectoryUser]]:
                return group, self._list_level1(tree, group.id, ignored)

            results = list(pool.map(carried(members), level1))
        for group, users in results:
            for user in users:
                tree.users.setdefault(user.id, user)
                tree.memberships.add((group.id, user.id))
        nested = ignored.get("nested_group", set()) - set(tree.groups) - {group_id}
        if nested:
            ignored["nested_group"] = nested
        else:
            ignored.pop("nested_group", None)
        tree.ignored = Counter({reason: len(ids) for reason, ids in ignored.items()})
        return tree

    def _fail(self, tree: GroupTree, exc: TenantError) -> None:
        if tree.complete:  # keep the first error: it is the cause
            tree.error_code, tree.error = exc.code, exc.message
        tree.complete = False
        log.warning("incomplete read", extra={"tenant_id": self._tenant_id, "error_code": exc.code})

    def _pages(self, group_id: str) -> Any:
        return self._graph.pages(
            f"/groups/{group_id}/members", {"$select": MEMBER_SELECT, "$top": PAGE_SIZE}
        )

    def _list(
        self, tree: GroupTree, group_id: str, level: int, ignored: dict[str, set[str]]
    ) -> list[DirectoryGroup]:
        """List the level-0 group: users go to the tree, groups are returned."""
        groups: list[DirectoryGroup] = []
        try:
            for page in self._pages(group_id):
                for item in page:
                    kind = item.get("@odata.type")
                    if kind == USER:
                        user = _user(item, self._tenant_id)
                        tree.users[user.id] = user
                        tree.direct_user_ids.add(user.id)
                    elif kind == GROUP:
                        groups.append(DirectoryGroup(
                            str(item["id"]).lower(), str(item.get("displayName") or "")
                        ))
                    else:
                        reason = _IGNORED_TYPES.get(str(kind), "other")
                        ignored.setdefault(reason, set()).add(str(item.get("id")))
                        tree.others.setdefault(group_id, {})[str(item.get("id"))] = reason
        except GraphError as exc:
            self._fail(tree, _group_error(exc, self._tenant_id, group_id, level))
        return groups

    def _list_level1(
        self, tree: GroupTree, group_id: str, ignored: dict[str, set[str]]
    ) -> list[DirectoryUser]:
        users: list[DirectoryUser] = []
        found_ignored: list[tuple[str, str]] = []
        try:
            for page in self._pages(group_id):
                for item in page:
                    kind = item.get("@odata.type")
                    if kind == USER:
                        users.append(_user(item, self._tenant_id))
                    elif kind == GROUP:
                        found_ignored.append(("nested_group", str(item["id"]).lower()))
                    else:
                        reason = _IGNORED_TYPES.get(str(kind), "other")
                        found_ignored.append((reason, str(item.get("id"))))
        except GraphError as exc:
            self._fail(tree, _group_error(exc, self._tenant_id, group_id, 1))
        # Runs in a worker thread: the shared sets are updated after the listing, in one go.
        for reason, object_id in found_ignored:
            ignored.setdefault(reason, set()).add(object_id)
        tree.others[group_id] = {object_id: reason for reason, object_id in found_ignored}
        return users
