"""What the change feed holds (its entries, pages and intents) and how the feed (and the
guard's holds) pack a list of changes into a row."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter, is_

import orjson

from functions.core.changes import Change
from functions.core.model import SyncKind
from functions.storage.entities import Entity
from functions.storage.packed import CHUNK_BYTES, compress, decompress

__all__ = ["ENTRIES_PER_ROW", "EncodedChanges", "FeedEntry", "FeedPage", "Intent",
           "appended_keys", "cursor_of", "decode_changes", "encode_changes", "intent_row_count",
           "without_timestamp"]

ENTRIES_PER_ROW = 2000  # about 100 KB compressed: a page of the feed reads one or two rows


@dataclass(frozen=True)
class FeedEntry:
    """A committed change at its position in the feed."""

    seq: int
    change: Change
    run_id: str
    sync_kind: SyncKind
    at: datetime


@dataclass(frozen=True)
class FeedPage:
    entries: list[FeedEntry]
    cursor: str | None  # after the last entry returned; None while the feed is empty
    more: bool  # committed entries follow


@dataclass(frozen=True)
class Intent:
    """The entries a run of ``kind`` was about to write when it was interrupted."""

    kind: SyncKind
    run_id: str
    at: datetime
    changes: list[Change]


def cursor_of(feed_id: str, seq: int) -> str:
    return f"{feed_id}.{seq}"


_ROW = attrgetter("entity", "entity_id", "change", "name", "version")  # a JSON array each


def encode_changes(changes: Sequence[Change]) -> dict[str, bytes]:
    """Changes as binary properties ``Entries0..n`` (zlib-compressed JSON rows)."""
    data = compress(orjson.dumps(list(map(_ROW, changes))))
    return {f"Entries{n}": data[start:start + CHUNK_BYTES]
            for n, start in enumerate(range(0, max(len(data), 1), CHUNK_BYTES))}


class EncodedChanges:
    """A run's entries as ``encode_changes`` made them for its intent, a row's worth each,
    kept for its append, whose rows hold the same entries (encoded once, not twice)."""

    KEPT = 64  # runs' entries kept at most (a run whose append never came is forgotten)

    def __init__(self) -> None:
        self._kept: dict[tuple[str, str], tuple[tuple[Change, ...], list[dict[str, bytes]]]] = {}
        self._lock = threading.Lock()

    def rows(self, tenant_id: str, kind: str, changes: Sequence[Change]
             ) -> list[dict[str, bytes]]:
        """The entries' properties, ``ENTRIES_PER_ROW`` entries a row: those kept when
        ``changes`` are the very entries they were made from, else made (and kept)."""
        key = (tenant_id, kind)
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and len(kept[0]) == len(changes) and all(map(is_, kept[0], changes)):
            return kept[1]
        made = [encode_changes(changes[start:start + ENTRIES_PER_ROW])
                for start in range(0, len(changes), ENTRIES_PER_ROW)]
        with self._lock:
            self._kept[key] = (tuple(changes), made)
            if len(self._kept) > self.KEPT:
                del self._kept[next(iter(self._kept))]
        return made

    def forget(self, tenant_id: str, kind: str) -> None:
        with self._lock:
            self._kept.pop((tenant_id, kind), None)


def decode_changes(entity: Entity) -> list[Change]:
    """The changes ``encode_changes`` put in a row, in their order."""
    chunks: list[bytes] = []
    while f"Entries{len(chunks)}" in entity:
        chunks.append(bytes(entity[f"Entries{len(chunks)}"]))
    data = b"".join(chunks)
    return [Change(*row) for row in orjson.loads(decompress(data))] if data else []


def intent_row_count(entries: int) -> int:
    """How many rows ``intend`` writes for that many entries."""
    return -(-entries // ENTRIES_PER_ROW)


def without_timestamp(entity: Entity) -> Entity:
    return {k: v for k, v in entity.items() if k != "Timestamp"}


def appended_keys(head: Entity) -> list[str]:
    """The keys of the last appends (an append is made once)."""
    keys: list[str] = orjson.loads(head.get("Appended") or "[]")
    return keys
