"""changes, held show | discard: a tenant's change feed and the directory sync the deletion
guard held back (the API's list_changes, get_held_sync and discard_held_sync).

Releasing a held sync is ``sync directory --tenant-id T --allow-mass-deletion`` (the API's
``POST .../directory/sync`` with ``{"allowMassDeletion": true}``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Iterator

from functions.api import routes_changes, routes_directory
from functions.api.models import ChangeOut, ChangePage, Guid, HeldSync
from functions.api.paging import MAX_PAGE_SIZE, PageRequest
from functions.cli.inputs import checked
from functions.cli.output import Column, Table, as_json, plural, print_line, when
from functions.cli.registry import Command, json_flag, printed_json, tenant_flag
from functions.core import changes as ch
from functions.core.errors import InputError
from functions.services import Services

# The change kinds a held directory sync can hold (the API's `change` filter).
HELD_CHANGES = (ch.CREATED, ch.UPDATED, ch.DELETED, ch.RESTORED, ch.ADDED, ch.ENDED)


# --- the change feed -----------------------------------------------------------------------


def _changes_options(p: argparse.ArgumentParser) -> None:
    tenant_flag(p)
    p.add_argument("--cursor", metavar="CURSOR",
                   help="the cursor kept from the last read (or a run's changesTo): read the "
                        "changes after it; left out: from the first change")
    p.add_argument("--limit", type=int, metavar="N",
                   help="at most N changes (default: every one, to the end of the feed)")
    p.add_argument("--follow", action="store_true",
                   help="then wait for new changes and print them as syncs write them, until "
                        "Ctrl-C (which prints the cursor to read on from)")
    p.add_argument("--interval", type=float, default=5.0, metavar="SECONDS",
                   help="--follow: seconds between looks for new changes (default 5)")
    json_flag(p)


class _Feed:
    """Pages of one tenant's feed from a cursor, as the API answers them."""

    def __init__(self, s: Services, tenant_id: str, cursor: str | None) -> None:
        self.s, self.tenant_id, self.cursor = s, tenant_id, cursor
        self.more = True

    def page(self, size: int) -> ChangePage:
        page = routes_changes.list_changes(tenant_id=self.tenant_id, services=self.s,
                                           cursor=self.cursor, page_size=size)
        self.cursor = page.cursor if page.cursor is not None else self.cursor
        self.more = page.more
        return page

    def changes(self, limit: int | None) -> Iterator[ChangeOut]:
        """The changes after the cursor, to the end of the feed or ``limit``; the first
        page is read at once (an error is raised before anything is printed)."""
        left = limit if limit is not None else -1
        first = self.page(self._size(left))
        return self._following(first, left)

    def _following(self, page: ChangePage, left: int) -> Iterator[ChangeOut]:
        while True:
            yield from page.items
            left -= len(page.items)
            if not page.more or left == 0:
                return
            page = self.page(self._size(left))

    @staticmethod
    def _size(left: int) -> int:
        return routes_changes.MAX_CHANGES if left < 0 else min(left, routes_changes.MAX_CHANGES)


def _cursor(value: str | None) -> str | None:
    if value is None:
        return None
    if not re.fullmatch(routes_changes.CURSOR_PATTERN, value):
        raise InputError("--cursor is not a change-feed cursor: give the `cursor` a read "
                         "printed (like 1a2b3c4d.42), or a run's changesTo",
                         code="invalid_request")
    return value


def cmd_changes(s: Services, args: argparse.Namespace) -> int:
    tenant_id = checked(Guid, args.tenant_id, "--tenant-id")
    if args.limit is not None and args.limit < 1:
        raise InputError("--limit must be 1 or more", code="invalid_request")
    if args.follow and args.limit is not None:
        raise InputError("--follow reads on without end: leave --limit out",
                         code="invalid_request")
    if not 0.1 <= args.interval <= 3600:
        raise InputError("--interval is seconds, from 0.1 to 3600", code="invalid_request")
    feed = _Feed(s, tenant_id, _cursor(args.cursor))
    if args.follow:
        return _follow(feed, args.json, args.interval)
    changes = feed.changes(args.limit)
    if args.json:
        _print_page(changes, feed)
        return 0
    table = _change_table()
    for change in changes:
        _row(table, change)
    _print_position(table.rows, feed)
    return 0


def _print_page(changes: Iterator[ChangeOut], feed: _Feed) -> None:
    """The API's page of every change read (streamed), with the cursor after the last."""
    out = sys.stdout
    out.write('{"items": [')
    count = 0
    for change in changes:
        out.write(",\n " if count else "\n ")
        out.write(json.dumps(as_json(change)))
        count += 1
    out.write("\n" if count else "")
    out.write(f'], "cursor": {json.dumps(feed.cursor)}, "more": {json.dumps(feed.more)}}}\n')
    out.flush()


def _change_table() -> Table:
    return Table(Column("SEQ", 7), Column("CHANGED AT", 25), Column("ENTITY", 11),
                 Column("CHANGE", 9), Column("NAME", 24), Column("ID", 0))


def _row(table: Table, c: ChangeOut) -> None:
    table.row(c.sequence, when(c.changedAt), c.entity, c.change, c.name or "-", c.entityId)


def _print_position(count: int, feed: _Feed) -> None:
    if feed.cursor is None:
        print("0 changes: no sync of this tenant has written one yet")
        return
    print(f"{plural(count, 'change', 'changes')}"
          + ("; more follow" if feed.more else "; at the end of the feed")
          + f"; read on with: tenantsync changes --tenant-id {feed.tenant_id} --cursor "
          f"{feed.cursor}")


def _follow(feed: _Feed, as_json: bool, interval: float) -> int:
    """Every change to the end, then each new one as it is written, until Ctrl-C. JSON: one
    line per page read that holds changes (the API's page, with its cursor)."""
    table = None if as_json else _change_table()
    try:
        while True:
            page = feed.page(routes_changes.MAX_CHANGES)
            if page.items:
                if table is None:
                    print_line(page)
                else:
                    for change in page.items:
                        _row(table, change)
                    sys.stdout.flush()
            if not page.more:
                time.sleep(interval)
    except KeyboardInterrupt:
        where = (f"read on with --cursor {feed.cursor}" if feed.cursor else
                 "the feed is still empty")
        print(f"tenantsync: stopped following tenant {feed.tenant_id}'s changes; {where}",
              file=sys.stderr)
        return 0


# --- the held directory sync ---------------------------------------------------------------


def _held_options(p: argparse.ArgumentParser) -> None:
    tenant_flag(p)
    p.add_argument("--change", choices=HELD_CHANGES,
                   help="only changes of this kind (deleted: the users and groups it would "
                        "mark deleted)")
    json_flag(p)


def cmd_held_show(s: Services, args: argparse.Namespace) -> int:
    tenant_id = checked(Guid, args.tenant_id, "--tenant-id")
    held = _every_change(s, tenant_id, args.change)
    if printed_json(args, held):
        return 0
    c = held.counts
    print(f"tenant {tenant_id}: directory run {held.runId} held back at {when(held.heldAt)}")
    print(f"  why: {held.reason}")
    print(f"  it would mark {plural(c.usersDeleted, 'user', 'users')} and "
          f"{plural(c.groupsDeleted, 'group', 'groups')} deleted and end "
          f"{plural(c.membershipsEnded, 'membership', 'memberships')}; "
          f"{plural(c.changes, 'change', 'changes')} in all")
    table = Table(Column("ENTITY", 11), Column("CHANGE", 9), Column("NAME", 24),
                  Column("ID", 0))
    for change in held.changes:
        table.row(change.entity, change.change, change.name or "-", change.entityId)
    shown = f" ({args.change} only)" if args.change else ""
    print(f"{plural(table.rows, 'change', 'changes')} shown{shown}. Apply exactly these: "
          f"tenantsync sync directory --tenant-id {tenant_id} --allow-mass-deletion; or "
          f"discard them: tenantsync held discard --tenant-id {tenant_id}")
    return 0


def _every_change(s: Services, tenant_id: str, change: str | None) -> HeldSync:
    """The held sync with every change of its preview (the API's answer, all pages)."""
    held = routes_directory.get_held_sync(tenant_id=tenant_id, services=s,
                                          page=PageRequest(MAX_PAGE_SIZE, None), change=change)
    changes = list(held.changes)
    token = held.continuationToken
    while token:
        page = routes_directory.get_held_sync(tenant_id=tenant_id, services=s,
                                              page=PageRequest(MAX_PAGE_SIZE, token),
                                              change=change)
        changes += page.changes
        token = page.continuationToken
    return held.model_copy(update={"changes": changes, "continuationToken": None})


def _discard_options(p: argparse.ArgumentParser) -> None:
    tenant_flag(p)


def cmd_held_discard(s: Services, args: argparse.Namespace) -> int:
    tenant_id = checked(Guid, args.tenant_id, "--tenant-id")
    routes_directory.discard_held_sync(tenant_id=tenant_id, services=s)
    print(f"discarded the held directory sync of tenant {tenant_id}: nothing of it was "
          "written; its next sync is judged anew (fix the level-0 group first, or it is held "
          "again)")
    return 0


COMMANDS = (
    Command(("changes",), "a tenant's change feed from a cursor: what its syncs wrote, in "
            "order (--follow: as they write it)", _changes_options, cmd_changes,
            ("list_changes",)),
    Command(("held", "show"), "the directory sync the deletion guard held back: why, and "
            "the changes it would write", _held_options, cmd_held_show, ("get_held_sync",)),
    Command(("held", "discard"), "discard the held directory sync's preview (nothing of it "
            "is written)", _discard_options, cmd_held_discard, ("discard_held_sync",)),
)
