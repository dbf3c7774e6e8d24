"""What the change feed holds (its entries, pages and intents) and how the feed (and the
guard's holds) pack a list of changes into a row."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson

from functions.core.changes import Change
from functions.core.model import SyncKind
from functions.storage.entities import Entity
from functions.storage.packed import CHUNK_BYTES, compress

__all__ = ["ENTRIES_PER_ROW", "FeedEntry", "FeedPage", "Intent", "appended_keys", "cursor_of",
           "decode_changes", "encode_changes", "intent_row_count", "without_timestamp"]

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


def encode_changes(changes: Sequence[Change]) -> dict[str, bytes]:
    """Changes as binary properties ``Entries0..n`` (zlib-compressed JSON rows)."""
    rows = [[c.entity, c.entity_id, c.change, c.name, c.version] for c in changes]
    data = compress(orjson.dumps(rows))
    return {f"Entries{n}": data[start:start + CHUNK_BYTES]
            for n, start in enumerate(range(0, max(len(data), 1), CHUNK_BYTES))}


def decode_changes(entity: Entity) -> list[Change]:
    """The changes ``encode_changes`` put in a row, in their order."""
    chunks: list[bytes] = []
    while f"Entries{len(chunks)}" in entity:
        chunks.append(bytes(entity[f"Entries{len(chunks)}"]))
    data = b"".join(chunks)
    return [Change(*row) for row in orjson.loads(zlib.decompress(data))] if data else []


def intent_row_count(entries: int) -> int:
    """How many rows ``intend`` writes for that many entries."""
    return -(-entries // ENTRIES_PER_ROW)


def without_timestamp(entity: Entity) -> Entity:
    return {k: v for k, v in entity.items() if k != "Timestamp"}


def appended_keys(head: Entity) -> list[str]:
    """The keys of the last appends (an append is made once)."""
    keys: list[str] = orjson.loads(head.get("Appended") or "[]")
    return keys
