"""What changed in a tenant's directory, in order: the state behind users/delta and groups/delta.

Every change takes the next sequence number. A delta token remembers the number it was
issued at; a later round returns the objects (and group members) changed since, in their
current state. Only directory objects are tracked (users, groups and what groups hold).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The documented reasons of `@removed`: `changed` = soft-deleted (restorable), `deleted` =
# permanently deleted (delta-query-overview).
SOFT_DELETED = "changed"
PERMANENTLY_DELETED = "deleted"


@dataclass
class DeltaConfig:
    """How delta rounds are paged (not documented by Microsoft: the simulator's choices)."""

    users_page: int = 200  # about 200 users a page is observed (reference: graph-docs #17516)
    groups_page: int = 100  # group objects a page
    members_page: int = 1000  # members@delta entries a page, over all its groups
    repeat: bool = False  # each page ends with its first object again (a documented replay)
    token_lifetime: float = 7 * 86400.0  # users and groups tokens live 7 days

    def update(self, raw: dict[str, object]) -> None:
        for name, value in raw.items():
            setattr(self, name, value)


@dataclass
class DeltaLog:
    """The tenant's change sequence (held under the simulator's lock)."""

    seq: int = 0
    objects: dict[str, int] = field(default_factory=dict)  # object id -> seq of last change
    gone: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (kind, reason)
    # group id -> member id -> (seq of its last change, the member's kind)
    members: dict[str, dict[str, tuple[int, str]]] = field(default_factory=dict)
    expired_before: float = 0.0  # tokens issued before this time: 400 syncStateNotFound
    reset_before: float = 0.0  # tokens issued before this time: 410 Gone (a resync)

    def touched(self, object_id: str) -> None:
        """An object was created or one of its properties changed."""
        self.seq += 1
        self.objects[object_id] = self.seq
        self.gone.pop(object_id, None)

    def removed(self, object_id: str, kind: str, reason: str = SOFT_DELETED) -> None:
        self.seq += 1
        self.objects[object_id] = self.seq
        self.gone[object_id] = (kind, reason)

    def member(self, group_id: str, member_id: str, member_kind: str) -> None:
        """A member was added to or removed from a group (its current state tells which)."""
        self.seq += 1
        self.members.setdefault(group_id, {})[member_id] = (self.seq, member_kind)

    def members_replaced(self, group_id: str, before: list[str], after: list[str],
                         kind_of: dict[str, str]) -> None:
        old, new = set(before), set(after)
        for member_id in sorted(old ^ new):
            self.member(group_id, member_id, kind_of.get(member_id, "users"))

    def changed_since(self, since: int) -> list[str]:
        """Objects changed after ``since`` (present or gone)."""
        return [object_id for object_id, seq in self.objects.items() if seq > since]

    def members_since(self, group_id: str, since: int) -> dict[str, str]:
        """Members of a group whose membership changed after ``since``, with their kind."""
        return {member_id: kind for member_id, (seq, kind)
                in self.members.get(group_id, {}).items() if seq > since}
