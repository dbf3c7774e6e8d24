"""The directory's records: what Graph says (read side) and what we store."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    id: str
    display_name: str
    email: str | None  # Graph `mail`; None makes an anonymous user. Never the UPN.
    upn: str


@dataclass(frozen=True, slots=True)
class DirectoryGroup:
    id: str
    display_name: str


@dataclass
class GroupTree:
    """What one read of the level-0 group found, down to level 2.

    ``complete`` is True only when every listing was read to its last page; a deletion may
    only be concluded from a complete tree.
    """

    root: DirectoryGroup
    users: dict[str, DirectoryUser] = field(default_factory=dict)
    direct_user_ids: set[str] = field(default_factory=set)
    groups: dict[str, DirectoryGroup] = field(default_factory=dict)
    memberships: set[tuple[str, str]] = field(default_factory=set)  # (group id, user id)
    ignored: Counter[str] = field(default_factory=Counter)
    # Per group read (level 0 and 1): its direct members that are not users, id -> why they
    # are ignored (the tables do not keep them; a delta re-sync follows them).
    others: dict[str, dict[str, str]] = field(default_factory=dict)
    # Active user members per level-1 group, where the tree holds only the memberships a
    # delta re-sync's changes touched (else counted from ``memberships``).
    member_counts: dict[str, int] = field(default_factory=dict)
    complete: bool = True
    error_code: str = ""
    error: str = ""
    in_progress: bool = False  # a directory read is never resumable: it ends in one run


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    display_name: str
    email: str | None
    upn: str
    direct: bool  # a level-1 user (direct member of the level-0 group)
    deleted: bool = False  # "Azure ID: deleted"
    deleted_at: datetime | None = None
    group_ids: tuple[str, ...] = ()  # the level-1 groups it is an active member of, sorted
    # When a run last wrote a change of it (not compared: an unchanged read keeps it).
    changed_at: datetime | None = field(default=None, compare=False)

    @property
    def anonymous(self) -> bool:
        return not self.email


@dataclass(frozen=True, slots=True)
class GroupRecord:
    id: str
    display_name: str
    deleted: bool = False
    deleted_at: datetime | None = None
    member_count: int = 0  # active user members
    changed_at: datetime | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class MembershipRecord:
    group_id: str
    user_id: str
    active: bool = True
    removed_at: datetime | None = None
    changed_at: datetime | None = field(default=None, compare=False)


@dataclass
class StoredDirectory:
    """A tenant's directory data as it is in Table Storage before a sync."""

    users: dict[str, UserRecord] = field(default_factory=dict)
    groups: dict[str, GroupRecord] = field(default_factory=dict)
    memberships: dict[tuple[str, str], MembershipRecord] = field(default_factory=dict)
    # Membership rows written before they carried their user's columns (storage detail).
    unprojected: set[tuple[str, str]] = field(default_factory=set)
    # Active users in the tables that were not loaded (a delta re-sync loads only what its
    # changes touch): unchanged, but counted (the deletion guard's share, the run's counts).
    untouched_users: int = 0
