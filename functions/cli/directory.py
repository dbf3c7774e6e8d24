"""users and groups: what a tenant's directory sync stored (the API's list_users and
list_groups)."""

from __future__ import annotations

import argparse

from functions.api import routes_directory
from functions.api.models import FilterValue, Guid, Prefix
from functions.cli.inputs import checked
from functions.cli.output import Column, Table, pages, plural, print_items, when
from functions.cli.registry import Command, json_flag, tenant_flag
from functions.core.errors import InputError, NotFoundError
from functions.core.validation import is_guid
from functions.services import Services


def _users_options(p: argparse.ArgumentParser) -> None:
    tenant_flag(p)
    p.add_argument("--deleted-only", action="store_true",
                   help='only users with "Azure ID: deleted"')
    p.add_argument("--anonymous-only", "--anonymous", action="store_true",
                   help="only users without an email")
    p.add_argument("--group", metavar="GROUP",
                   help="only active members of this level-1 group: its ID or its exact name "
                        "as `groups` shows it")
    p.add_argument("--email-prefix", help="email starts with this (any case)")
    p.add_argument("--name-prefix", help="display name starts with this (any case)")
    json_flag(p)


def cmd_users(s: Services, args: argparse.Namespace) -> int:
    tenant_id = checked(Guid, args.tenant_id, "--tenant-id")
    group_id = _group_id(s, tenant_id, args.group) if args.group is not None else None
    users = pages(
        routes_directory.list_users, tenant_id=tenant_id, services=s,
        deleted_only=args.deleted_only, anonymous_only=args.anonymous_only, group_id=group_id,
        email_prefix=_prefix(args.email_prefix, "--email-prefix"),
        name_prefix=_prefix(args.name_prefix, "--name-prefix"),
    )
    if args.json:
        print_items(users)
        return 0
    names = {g.id: g.displayName for g in pages(routes_directory.list_groups,
                                                   tenant_id=tenant_id, services=s)}
    member_of: dict[str, list[str]] = {}
    for m in s.directory.memberships(tenant_id):
        if m.active:
            member_of.setdefault(m.user_id, []).append(names.get(m.group_id, m.group_id))
    table = Table(Column("ID", 36), Column("NAME", 20), Column("EMAIL", 28),
                  Column("GROUPS", 20), Column("STATE", 0))
    for u in users:
        state = f"Azure ID: deleted {when(u.deletedAt)}" if u.azureIdDeleted else "active"
        table.row(u.id, u.displayName, u.email or "(anonymous)",
                  ", ".join(sorted(member_of.get(u.id, []))) or "-", state)
    print(plural(table.rows, "user", "users"))
    return 0


def _prefix(value: str | None, flag: str) -> str | None:
    return None if value is None else str(checked(Prefix, value, flag))


def _group_id(s: Services, tenant_id: str, group: str) -> str:
    """A level-1 group's ID from its ID or its exact display name.

    Raises:
        NotFoundError: no group of that name. InputError: several groups share it.
    """
    if is_guid(group.strip()):
        return str(checked(Guid, group, "--group"))
    name = str(checked(FilterValue, group, "--group"))
    found = [g.id for g in pages(routes_directory.list_groups, tenant_id=tenant_id, services=s)
             if g.displayName == name]
    if not found:
        raise NotFoundError(f"tenant {tenant_id} has no level-1 group named {name!r}: "
                            f"`tenantsync groups --tenant-id {tenant_id}` lists their names "
                            "and IDs", code="not_found")
    if len(found) > 1:
        raise InputError(f"{len(found)} level-1 groups are named {name!r}: pass one of their "
                         f"IDs to --group ({', '.join(found)})", code="invalid_filter")
    return found[0]


def _groups_options(p: argparse.ArgumentParser) -> None:
    tenant_flag(p)
    p.add_argument("--deleted-only", action="store_true",
                   help="only groups that left the level-0 group")
    json_flag(p)


def cmd_groups(s: Services, args: argparse.Namespace) -> int:
    tenant_id = checked(Guid, args.tenant_id, "--tenant-id")
    groups = pages(routes_directory.list_groups, tenant_id=tenant_id, services=s,
                   deleted_only=args.deleted_only)
    if args.json:
        print_items(groups)
        return 0
    members: dict[str, int] = {}
    for m in s.directory.memberships(tenant_id):
        if m.active:
            members[m.group_id] = members.get(m.group_id, 0) + 1
    table = Table(Column("ID", 36), Column("NAME", 24), Column("MEMBERS", 7),
                  Column("STATE", 0))
    for g in groups:
        state = f"Azure ID: deleted {when(g.deletedAt)}" if g.azureIdDeleted else "active"
        table.row(g.id, g.displayName, members.get(g.id, 0), state)
    print(plural(table.rows, "group", "groups") + " (users --group takes a name or an ID)")
    return 0


COMMANDS = (
    Command(("users",), "a tenant's users; filters combine", _users_options, cmd_users,
            ("list_users",)),
    Command(("groups",), "a tenant's level-1 groups with their IDs and member counts",
            _groups_options, cmd_groups, ("list_groups",)),
)
