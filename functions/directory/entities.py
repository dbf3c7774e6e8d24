"""Users, groups and memberships <-> Table Storage entities."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from functions.directory.model import GroupRecord, MembershipRecord, UserRecord
from functions.storage.entities import Entity, iso, parse_time


def _user_columns(user: UserRecord) -> Entity:
    return {
        "DisplayName": user.display_name,
        "Email": user.email or "",
        # Case-folded copies for the prefix filters: Table Storage compares ordinally.
        "DisplayNameKey": user.display_name.casefold(),
        "EmailKey": (user.email or "").casefold(),
        "Upn": user.upn,
        "Anonymous": user.anonymous,
        "Direct": user.direct,
        "AzureDeleted": user.deleted,
        "DeletedAt": iso(user.deleted_at),
        "GroupIds": ",".join(user.group_ids),
        "ChangedAt": iso(user.changed_at),
    }


def _ids(value: Any) -> tuple[str, ...]:
    return tuple(i for i in str(value or "").split(",") if i)


def user_entity(tenant_id: str, user: UserRecord) -> Entity:
    return {"PartitionKey": tenant_id, "RowKey": user.id, **_user_columns(user)}


def user_record(entity: Mapping[str, Any], user_id: str | None = None) -> UserRecord:
    return UserRecord(
        id=user_id or entity["RowKey"],
        display_name=entity.get("DisplayName", ""),
        email=entity.get("Email") or None,
        upn=entity.get("Upn", ""),
        direct=bool(entity.get("Direct", False)),
        deleted=bool(entity.get("AzureDeleted", False)),
        deleted_at=parse_time(entity.get("DeletedAt")),
        group_ids=_ids(entity.get("GroupIds")),
        changed_at=parse_time(entity.get("ChangedAt")),
    )


def group_entity(tenant_id: str, group: GroupRecord) -> Entity:
    return {
        "PartitionKey": tenant_id,
        "RowKey": group.id,
        "DisplayName": group.display_name,
        "AzureDeleted": group.deleted,
        "DeletedAt": iso(group.deleted_at),
        "MemberCount": group.member_count,
        "ChangedAt": iso(group.changed_at),
    }


def group_record(entity: Mapping[str, Any]) -> GroupRecord:
    return GroupRecord(
        id=entity["RowKey"],
        display_name=entity.get("DisplayName", ""),
        deleted=bool(entity.get("AzureDeleted", False)),
        deleted_at=parse_time(entity.get("DeletedAt")),
        member_count=int(entity.get("MemberCount", 0)),
        changed_at=parse_time(entity.get("ChangedAt")),
    )


def membership_key(group_id: str, user_id: str) -> str:
    return f"{group_id}_{user_id}"


def membership_entity(tenant_id: str, membership: MembershipRecord,
                      user: UserRecord | None) -> Entity:
    """A membership, carrying a copy of its user's columns (the same as the user's entity)
    so that a group's members are one query (``users?groupId=``), not a read per member.
    """
    return {
        **(_user_columns(user) if user is not None else {}),
        "PartitionKey": tenant_id,
        "RowKey": membership_key(membership.group_id, membership.user_id),
        "GroupId": membership.group_id,
        "UserId": membership.user_id,
        "Active": membership.active,
        "RemovedAt": iso(membership.removed_at),
        "MembershipChangedAt": iso(membership.changed_at),
    }


def member_record(entity: Mapping[str, Any]) -> UserRecord | None:
    """The user a membership row carries, or None for a row written before it carried one."""
    if "Direct" not in entity:
        return None
    return user_record(entity, str(entity["UserId"]))


def membership_record(entity: Mapping[str, Any]) -> MembershipRecord:
    return MembershipRecord(
        group_id=entity["GroupId"],
        user_id=entity["UserId"],
        active=bool(entity.get("Active", True)),
        removed_at=parse_time(entity.get("RemovedAt")),
        changed_at=parse_time(entity.get("MembershipChangedAt")),
    )
