"""How the change feed (and the guard's holds) pack a list of changes into a row."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import orjson

from functions.core.changes import Change
from functions.storage.entities import Entity
from functions.storage.packed import CHUNK_BYTES, compress

__all__ = ["ENTRIES_PER_ROW", "appended_keys", "decode_changes", "encode_changes",
           "intent_row_count", "without_timestamp"]

ENTRIES_PER_ROW = 2000  # about 100 KB compressed: a page of the feed reads one or two rows


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
