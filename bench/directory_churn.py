"""The directory benchmark's delta part: 1% churn made in the simulator, what it should cost.

Churn (seeded) of ``count`` changes: 40% property edits of users in the tree, 20% removals
and 20% additions of level-2 users (moves between level-1 groups), 10% deletions of users
(soft: group delta does not report them, users delta does) and 10% new users added to a
level-1 group. The minimum a re-sync can read is the pages of the two delta rounds that
carry those changes, at the simulator's page sizes (``simulator.delta_log.DeltaConfig``).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import requests
from azure.data.tables import TableServiceClient

from simulator.delta_log import DeltaConfig


@dataclass
class Churn:
    """Control calls that make the changes, and what a delta re-sync must read for them."""

    calls: list[tuple[str, str, Any]] = field(default_factory=list)  # method, path, body
    changes: int = 0
    changed_users: int = 0  # entries of the users round
    changed_groups: int = 0  # groups with members@delta in the groups round
    member_entries: int = 0

    @property
    def min_pages(self) -> int:
        paging = DeltaConfig()
        groups = max(1, math.ceil(self.changed_groups / paging.groups_page),
                     math.ceil(self.member_entries / paging.members_page))
        return groups + max(1, math.ceil(self.changed_users / paging.users_page))


def plan_churn(fixture: dict[str, Any], tenant: str, level1: list[str], count: int,
               seed: int = 11) -> Churn:
    """``count`` changes to the tenant's tree (see the module's docstring)."""
    rng = random.Random(seed)
    data = fixture["tenants"][tenant]
    users, groups = data["users"], data["groups"]
    churn = Churn()
    members = {g: [m for m in groups[g]["members"] if m in users] for g in level1}
    in_groups = [(g, u) for g in level1 for u in members[g]]
    picked = rng.sample(in_groups, count // 2)  # distinct users: edits, moves, deletions
    edits = picked[: count * 2 // 5]
    moves = picked[len(edits): len(edits) + count // 5]
    deletions = picked[len(edits) + len(moves): len(edits) + len(moves) + count // 10]
    adds: dict[str, list[str]] = defaultdict(list)
    removes: dict[str, list[str]] = defaultdict(list)
    for _, uid in edits:
        props = {**users[uid], "id": uid, "displayName": users[uid]["displayName"] + " (ed.)"}
        churn.calls.append(("PUT", f"/tenants/{tenant}/objects/users", props))
    for group, uid in moves:
        removes[group].append(uid)
        adds[rng.choice([g for g in level1 if g != group])].append(uid)
    for _, uid in deletions:
        churn.calls.append(("DELETE", f"/tenants/{tenant}/objects/users/{uid}", None))
    for n in range(count - len(edits) - 2 * len(moves) - len(deletions)):
        uid = f"c0ffee00-0000-4000-8000-{n:012x}"
        churn.calls.append(("PUT", f"/tenants/{tenant}/objects/users", {
            "id": uid, "displayName": f"Joiner {n}", "mail": f"joiner{n}@bench.example",
            "userPrincipalName": f"joiner{n}@bench.onmicrosoft.com"}))
        adds[rng.choice(level1)].append(uid)
    for group in sorted(set(adds) | set(removes)):
        churn.calls.append(("POST", f"/tenants/{tenant}/groups/{group}/members",
                            {"add": adds[group], "remove": removes[group]}))
    churn.changes = count
    joiners = count - len(edits) - 2 * len(moves) - len(deletions)
    churn.changed_users = len(edits) + len(deletions) + joiners
    churn.changed_groups = len(set(adds) | set(removes))
    churn.member_entries = 2 * len(moves) + joiners
    return churn


def apply_churn(churn: Churn, sim_url: str, ca_path: str) -> None:
    session = requests.Session()
    session.verify, session.trust_env = ca_path, False
    for method, path, body in churn.calls:
        answer = session.request(method, f"{sim_url}/_sim{path}", json=body, timeout=60)
        answer.raise_for_status()


def etags(connection: str, prefix: str, tenant: str) -> dict[tuple[str, str], str]:
    """Each synced entity's ETag (it changes whenever the entity is written)."""
    service = TableServiceClient.from_connection_string(connection)
    found = {}
    for table in ("users", "groups", "memberships"):
        client = service.get_table_client(prefix + table)
        for e in client.query_entities("PartitionKey eq @pk", parameters={"pk": tenant},
                                       select=["RowKey"]):
            found[(table, str(e["RowKey"]))] = str(e.metadata["etag"])
    return found


def changed_entities(before: dict[tuple[str, str], str],
                     after: dict[tuple[str, str], str]) -> int:
    return sum(1 for key, etag in after.items() if before.get(key) != etag)
