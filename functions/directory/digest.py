"""The digest of a group tree: everything a sync stores from it, so that equal digests mean
equal writes.

It is a sum of one hash per record (a user with its direct flag, a level-1 group, a
membership), so that a delta re-sync can update it from the records its changes touch
(take the old records' hashes away, add the new ones') without the rest of the tree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from functions.directory.model import DirectoryGroup, DirectoryUser, GroupTree

PREFIX = "s1:"  # a digest that can be updated record by record (older ones cannot)
_MOD = 1 << 256


def user_line(user: DirectoryUser, direct: bool) -> str:
    return f"u|{user.id}|{user.display_name}|{user.email or ''}|{user.upn}|{direct}"


def group_line(group: DirectoryGroup) -> str:
    return f"g|{group.id}|{group.display_name}"


def membership_line(group_id: str, user_id: str) -> str:
    return f"m|{group_id}|{user_id}"


def _hash(line: str) -> int:
    return int.from_bytes(hashlib.sha256(line.encode()).digest(), "big")


def _sum(lines: Iterable[str]) -> int:
    return sum(map(_hash, lines)) % _MOD


def _text(value: int) -> str:
    return f"{PREFIX}{value:064x}"


def updatable(digest: str) -> bool:
    """Whether ``digest`` can be updated record by record (see :func:`updated`)."""
    return digest.startswith(PREFIX) and len(digest) == len(PREFIX) + 64


def updated(digest: str, removed: Iterable[str], added: Iterable[str]) -> str:
    """``digest`` with the records ``removed`` taken away and ``added`` put in."""
    value = int(digest[len(PREFIX):], 16)
    return _text((value - _sum(removed) + _sum(added)) % _MOD)


def tree_lines(tree: GroupTree) -> Iterable[str]:
    for uid, user in tree.users.items():
        yield user_line(user, uid in tree.direct_user_ids)
    for group in tree.groups.values():
        yield group_line(group)
    for gid, uid in tree.memberships:
        yield membership_line(gid, uid)


def tree_fingerprint(tree: GroupTree) -> str:
    """A digest of everything a sync stores from a tree; equal digests mean equal writes."""
    return _text(_sum(tree_lines(tree)))
