"""A tenant's change feed in Table Storage: ordered, durable, appended safely by concurrent
syncs, read with a cursor (docs/design.md, "The change feed").

Partition = tenant ID. Rows: ``head`` (the committed position ``Seq``, the feed's id, the
append lock, the last run of each kind whose entries were appended), blocks keyed by
their 12-digit first position (the entries of one run, packed), and ``intent-<kind>-<n>``
(the entries a run is about to write). Readers read only up to ``Seq``. Partition
``pending`` indexes the intents not yet cleared (RowKey ``<tenant>_<kind>``), so that the
outbox sweep finds them without reading every feed.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta

import orjson
from azure.core.exceptions import AzureError, HttpResponseError

from functions.core.changes import Change
from functions.core.errors import ErrorCode, InputError, StorageError
from functions.core.kinds import KINDS
from functions.core.model import SyncKind, utcnow
from functions.storage.changesets import CREATE, DELETE, REPLACE, Operation, submit_changeset
from functions.storage.entities import Entity, iso, parse_time
from functions.storage.feed_head import HEAD_ROW, Head, KnownHeads, head_and_rows
from functions.storage.feed_rows import (
    ENTRIES_PER_ROW,
    EncodedChanges,
    FeedEntry,
    FeedPage,
    Intent,
    appended_keys,
    cursor_of,
    decode_changes,
    intent_row_count,
    without_timestamp,
)
from functions.storage.tables import MAX_BATCH, TableStore, entity_chars

FEED_TABLE = "feed"
# A transaction carries at most 4 MiB: several packed rows go in several (each row is
# written whole; a block's rows are read only once the head says they are committed).
TRANSACTION_CHARS = 3_000_000
LOCK_SECONDS = 60.0  # an append takes well under a second; a dead holder's lock expires
_DIGITS = 12
_AFTER_DIGITS = "a"  # sorts after every block key, before "head" and "intent-..."
_CURSOR = re.compile(r"^([0-9a-f]{8})\.([0-9]{1,12})$")
PENDING_PARTITION = "pending"  # tenant IDs are GUIDs: no feed has this partition
APPENDED_KEPT = 64  # the last appends' keys kept in the head: an append is made once


def _key(seq: int) -> str:
    return f"{seq:0{_DIGITS}d}"


class ChangeFeed:
    """Every tenant's change feed."""

    def __init__(self, store: TableStore, *, clock: Callable[[], datetime] = utcnow,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._store = store
        self._clock = clock
        self._sleep = sleep
        self._heads = KnownHeads()  # read with an intent or written by an append: used once
        self._encoded = EncodedChanges()  # a run's entries, from its intent to its append

    # --- a run's intent ---------------------------------------------------------------

    def intend(self, tenant_id: str, kind: SyncKind, run_id: str, changes: Sequence[Change],
               at: datetime, *, none_left: bool = False) -> None:
        """Record what a run of ``kind`` is about to write (at ``at``), before it writes it.
        ``none_left``: the caller (holding the claim of ``kind``) has just found no intent
        of ``kind``, so there are no rows of an older one to remove first.

        Raises:
            StorageError: storage did not answer (the run must not write then).
        """
        rows = []
        encoded = self._encoded.rows(tenant_id, kind, changes)  # _intent_row_count rows
        for n, start in enumerate(range(0, len(changes), ENTRIES_PER_ROW)):
            part = changes[start:start + ENTRIES_PER_ROW]
            rows.append({"PartitionKey": tenant_id, "RowKey": f"intent-{kind}-{n:05d}",
                         "RunId": run_id, "At": iso(at), "Count": len(part), **encoded[n]})
        stale = [] if none_left else [
            r for r in self._intent_rows(tenant_id, kind)
            if r["RowKey"] not in {row["RowKey"] for row in rows}]
        for row in stale:
            self._store.delete(FEED_TABLE, tenant_id, row["RowKey"])
        self._store.upsert(FEED_TABLE, {"PartitionKey": PENDING_PARTITION,
                                        "RowKey": f"{tenant_id}_{kind}", "RunId": run_id})
        self._store.write(FEED_TABLE, rows, max_chars=TRANSACTION_CHARS)

    def intent(self, tenant_id: str, kind: SyncKind) -> Intent | None:
        """The intent a run of ``kind`` left, if one was not committed and cleared. The
        feed's head comes with it (one query) and serves this run's append."""
        head, rows = head_and_rows(self._store, FEED_TABLE, tenant_id, f"intent-{kind}-")
        self._heads.remember(tenant_id, head)
        if not rows:
            return None
        run_ids = {r.get("RunId", "") for r in rows}
        changes = [c for r in sorted(rows, key=lambda r: r["RowKey"]) for c in decode_changes(r)]
        # Rows of one intent share a run id; mixed ones (a crash while rewriting) are
        # read as the newest run's, the only one that can still be unapplied.
        at = parse_time(rows[0].get("At")) or self._clock()
        return Intent(kind, max(run_ids), at, changes)

    def settle(self, tenant_id: str, intent: Intent, written: Callable[[list[Change]],
                                                                       list[Change]]) -> int:
        """Finish an interrupted run's intent: append the entries ``written`` says were
        stored (unless they already were), then clear it. Returns how many were appended.

        Raises:
            StorageError: storage did not answer (the intent stays for the next run).
        """
        head = self._head(tenant_id)
        appended = 0
        if head[0].get(f"Applied{intent.kind}") != intent.run_id:
            kept = written(intent.changes)
            if kept:
                self.append(tenant_id, intent.kind, intent.run_id, kept, intent.at)
                appended = len(kept)
        self.clear(tenant_id, intent.kind, intent.run_id)
        return appended

    def clear(self, tenant_id: str, kind: SyncKind, run_id: str | None = None) -> None:
        """Drop the intent of ``kind`` (with ``run_id``: only if it is that run's, so that a
        sweep settling a dead run never clears the intent of the run that came next)."""
        rows = list(self._intent_rows(tenant_id, kind))
        if run_id is not None and any(r.get("RunId", "") != run_id for r in rows):
            return
        for row in rows:
            self._store.delete(FEED_TABLE, tenant_id, row["RowKey"])
        self._store.delete(FEED_TABLE, PENDING_PARTITION, f"{tenant_id}_{kind}")

    def pending_intents(self) -> list[tuple[str, SyncKind]]:
        """(tenant, kind) of every intent not cleared yet: a run writing now, or one that
        died between its intent and its append."""
        rows = self._store.query(FEED_TABLE, "PartitionKey eq @pk", {"pk": PENDING_PARTITION},
                                 select=("RowKey",))
        pending = (str(r["RowKey"]).rsplit("_", 1) for r in rows)
        return [(tenant_id, KINDS.stored(kind)) for tenant_id, kind in pending]

    def _intent_rows(self, tenant_id: str, kind: SyncKind) -> Iterator[Entity]:
        prefix = f"intent-{kind}-"
        return self._store.query(
            FEED_TABLE, "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            {"pk": tenant_id, "lo": prefix, "hi": prefix[:-1] + "."})

    # --- appending --------------------------------------------------------------------

    def append(self, tenant_id: str, kind: SyncKind, run_id: str, changes: Sequence[Change],
               at: datetime | None = None, *, key: str | None = None) -> tuple[str, str]:
        """Append a run's changes (made at ``at``, default now) after every committed one;
        returns the cursors before and after them. Safe under concurrent appends to the
        same tenant (one at a time, through an ETag-checked lock on the head row).

        An append is made once: ``key`` (default the run ID) among the last appends' keys
        appends nothing again and returns the current position twice.

        Raises:
            StorageError: storage did not answer, or the lock stayed taken.
        """
        try:
            return self._append(tenant_id, kind, run_id, changes, at or self._clock(),
                                key or run_id, ())[0]
        finally:
            self._encoded.forget(tenant_id, kind)

    def commit(self, tenant_id: str, kind: SyncKind, run_id: str, changes: Sequence[Change],
               at: datetime) -> tuple[str, str]:
        """``append`` a run's changes, then clear the intent it wrote for them with ``intend``
        (``none_left``): its rows are known by their keys, and go in the append's own
        transaction when it fits one (entries and intent then change at once).

        Raises:
            StorageError: as ``append``; the intent stays and is settled later.
        """
        intent_rows = [f"intent-{kind}-{n:05d}" for n in range(intent_row_count(len(changes)))]
        try:
            cursors, cleared = self._append(tenant_id, kind, run_id, changes, at, run_id,
                                            intent_rows)
        finally:
            self._encoded.forget(tenant_id, kind)
        for row in [] if cleared else intent_rows:
            self._store.delete(FEED_TABLE, tenant_id, row)
        self._store.delete(FEED_TABLE, PENDING_PARTITION, f"{tenant_id}_{kind}")
        return cursors

    def _append(self, tenant_id: str, kind: SyncKind, run_id: str, changes: Sequence[Change],
                when: datetime, once: str,
                clearing: Sequence[str]) -> tuple[tuple[str, str], bool]:
        """The cursors of an append, and whether the ``clearing`` rows went with it."""
        known, head = self._heads.take(tenant_id)
        if not known or (head is not None and once in appended_keys(head[0])):
            found = self._store.get_versioned(FEED_TABLE, tenant_id, HEAD_ROW)
            head = (without_timestamp(found[0]), found[1]) if found is not None else None
        if head is not None and once in appended_keys(head[0]):
            # Appended before (by the run, then by a sweep settling it, or again).
            position = cursor_of(str(head[0]["FeedId"]), int(head[0].get("Seq", 0)))
            return (position, position), False
        if head is None or not head[0].get("LockedBy"):
            committed = self._commit_whole(tenant_id, head, kind, run_id, changes, when, once,
                                           clearing)
            if committed is not None:
                return committed, True
        return self._append_locked(tenant_id, kind, run_id, changes, when, once), False

    def _commit_whole(self, tenant_id: str, head: Head | None, kind: SyncKind,
                      run_id: str, changes: Sequence[Change], when: datetime, once: str,
                      clearing: Sequence[str]) -> tuple[str, str] | None:
        """Append in one transaction that writes the blocks, deletes the ``clearing`` rows
        and moves ``Seq`` (ETag-checked, so no lock is taken); None when they do not fit
        one, or another writer went first (or a ``clearing`` row is gone).

        Only from an unlocked head: no block lies past ``Seq`` then (a locked appender that
        died leaves its lock set, and the locked path drops its blocks first).
        """
        entity: Entity = dict(head[0]) if head is not None else {
            "PartitionKey": tenant_id, "RowKey": HEAD_ROW, "FeedId": os.urandom(4).hex()}
        seq = int(entity.get("Seq", 0))
        rows = self._blocks(tenant_id, kind, run_id, changes, seq, when)
        if (len(rows) + len(clearing) + 1 > MAX_BATCH
                or sum(map(entity_chars, rows)) > TRANSACTION_CHARS):
            return None
        appended = [*appended_keys(entity), once][-APPENDED_KEPT:]
        entity.update(Seq=seq + len(changes), LockedBy="", LockedUntil="",
                      Appended=orjson.dumps(appended).decode(), **{f"Applied{kind}": run_id})
        operations: list[Operation] = [(CREATE, row, None) for row in rows]
        operations += [(DELETE, {"PartitionKey": tenant_id, "RowKey": row}, "*")
                       for row in clearing]
        # Two first appends: one create of the head fails. Else the head must be unchanged.
        operations.append((CREATE, entity, None) if head is None else
                          (REPLACE, entity, head[1]))
        try:
            etags = submit_changeset(self._store.table(FEED_TABLE), operations)
        except HttpResponseError as exc:
            # Azure Table transactions are atomic: a conflict (409) or a changed head (412)
            # wrote nothing, and the locked path takes over.
            if exc.status_code in (404, 409, 412):
                return None
            raise StorageError(f"Table Storage could not append to the change feed "
                               f"(HTTP {exc.status_code}); will retry on the next run") from None
        except AzureError as exc:
            raise StorageError(f"Table Storage could not append to the change feed "
                               f"({type(exc).__name__}); will retry on the next run") from None
        if etags and etags[-1]:  # the head's, its operation being the last
            self._heads.remember(tenant_id, (entity, etags[-1]))
        feed_id = str(entity["FeedId"])
        return cursor_of(feed_id, seq), cursor_of(feed_id, seq + len(changes))

    def _blocks(self, tenant_id: str, kind: SyncKind, run_id: str, changes: Sequence[Change],
                seq: int, when: datetime) -> list[Entity]:
        rows = []
        encoded = self._encoded.rows(tenant_id, kind, changes)  # as its intent's, if any
        for n, start in enumerate(range(0, len(changes), ENTRIES_PER_ROW)):
            part = changes[start:start + ENTRIES_PER_ROW]
            rows.append({"PartitionKey": tenant_id, "RowKey": _key(seq + 1 + start),
                         "Start": seq + 1 + start, "Count": len(part), "RunId": run_id,
                         "SyncKind": kind, "At": iso(when), **encoded[n]})
        return rows

    def _append_locked(self, tenant_id: str, kind: SyncKind, run_id: str,
                       changes: Sequence[Change], when: datetime, once: str) -> tuple[str, str]:
        """Append under the head's lock: blocks in several transactions, then ``Seq``."""
        token = os.urandom(6).hex()
        deadline = time.monotonic() + 3 * LOCK_SECONDS
        while True:
            entity, etag = self._head(tenant_id)
            now = self._clock()
            locked_until = parse_time(entity.get("LockedUntil"))
            if entity.get("LockedBy") and locked_until is not None and locked_until > now:
                if time.monotonic() > deadline:
                    raise StorageError("the change feed stayed locked by another sync; "
                                       "the next run records these changes")
                self._sleep(0.05)
                continue
            entity.update(LockedBy=token, LockedUntil=iso(now + timedelta(seconds=LOCK_SECONDS)))
            etag_locked = self._store.update_if_unchanged(FEED_TABLE, entity, etag)
            if etag_locked is None:
                continue  # another appender took it first
            seq = int(entity.get("Seq", 0))
            appended = appended_keys(entity)
            if once in appended:
                # Appended before (by the run, then by a sweep settling it, or again).
                entity.update(LockedBy="", LockedUntil="")
                if self._store.update_if_unchanged(FEED_TABLE, entity, etag_locked) is None:
                    continue
                position = cursor_of(str(entity["FeedId"]), seq)
                return position, position
            self._drop_after(tenant_id, seq)
            rows = self._blocks(tenant_id, kind, run_id, changes, seq, when)
            self._store.write(FEED_TABLE, rows, max_chars=TRANSACTION_CHARS)
            end = seq + len(changes)
            appended = [*appended, once][-APPENDED_KEPT:]
            entity.update(Seq=end, LockedBy="", LockedUntil="", Appended=orjson.dumps(
                appended).decode(), **{f"Applied{kind}": run_id})
            etag_now = self._store.update_if_unchanged(FEED_TABLE, entity, etag_locked)
            if etag_now is None:
                continue  # our lock ran out and another appender went first: again
            self._heads.remember(tenant_id, (entity, etag_now))
            feed_id = str(entity["FeedId"])
            return cursor_of(feed_id, seq), cursor_of(feed_id, end)

    def _drop_after(self, tenant_id: str, seq: int) -> None:
        """Remove blocks past the committed position: left by an appender that died."""
        for row in self._store.query(
                FEED_TABLE, "PartitionKey eq @pk and RowKey gt @lo and RowKey lt @hi",
                {"pk": tenant_id, "lo": _key(seq), "hi": _AFTER_DIGITS},
                select=("PartitionKey", "RowKey")):
            self._store.delete(FEED_TABLE, tenant_id, row["RowKey"])

    def _head(self, tenant_id: str) -> tuple[Entity, str]:
        for _ in range(5):
            found = self._store.get_versioned(FEED_TABLE, tenant_id, HEAD_ROW)
            if found is not None:
                return without_timestamp(found[0]), found[1]
            self._store.insert(FEED_TABLE, {"PartitionKey": tenant_id, "RowKey": HEAD_ROW,
                                            "Seq": 0, "FeedId": os.urandom(4).hex()})
        raise StorageError("could not create the change feed's head row")

    # --- reading ----------------------------------------------------------------------

    def position(self, tenant_id: str) -> str | None:
        """The cursor after the last committed change (None while the feed is empty)."""
        found = self._store.get(FEED_TABLE, tenant_id, HEAD_ROW)
        if found is None:
            return None
        return cursor_of(str(found["FeedId"]), int(found.get("Seq", 0)))

    def page(self, tenant_id: str, cursor: str | None, limit: int) -> FeedPage:
        """Up to ``limit`` committed changes after ``cursor`` (from the first without one).

        Raises:
            InputError: ``invalid_cursor``: not a cursor of this feed (or of a feed since
            purged), or past its end.
        """
        head = self._store.get(FEED_TABLE, tenant_id, HEAD_ROW)
        committed = int(head.get("Seq", 0)) if head else 0
        feed_id = str(head["FeedId"]) if head else ""
        after = 0
        if cursor is not None:
            match = _CURSOR.match(cursor)
            if not match or not head or match.group(1) != feed_id:
                raise InputError("cursor is not one of this tenant's change feed (or the "
                                 "feed was reset when the tenant was purged): read again "
                                 "from the beginning, without a cursor",
                                 code=ErrorCode.INVALID_CURSOR)
            after = int(match.group(2))
            if after > committed:
                raise InputError("cursor is past the end of the change feed: read again "
                                 "from the beginning, without a cursor",
                                 code=ErrorCode.INVALID_CURSOR)
        if not head:
            return FeedPage([], None, False)
        entries: list[FeedEntry] = []
        first = max(1, after + 1 - ENTRIES_PER_ROW + 1)
        if after < committed:
            rows = self._store.query(
                FEED_TABLE, "PartitionKey eq @pk and RowKey ge @lo and RowKey le @hi",
                {"pk": tenant_id, "lo": _key(first), "hi": _key(committed)})
            for row in rows:
                start = int(row["Start"])
                at = parse_time(row.get("At")) or self._clock()
                for offset, change in enumerate(decode_changes(row)):
                    seq = start + offset
                    if seq <= after or seq > committed:
                        continue
                    entries.append(FeedEntry(seq, change, str(row.get("RunId", "")),
                                             KINDS.stored(row.get("SyncKind", "")), at))
                    if len(entries) == limit:
                        break
                if len(entries) == limit:
                    break
        last = entries[-1].seq if entries else after
        return FeedPage(entries, cursor_of(feed_id, last), last < committed)

    def purge(self, tenant_id: str) -> int:
        """Hard-delete a tenant's feed (with its purged data); returns how many rows."""
        self._heads.forget(tenant_id)
        return self._store.delete_partition(FEED_TABLE, tenant_id)
