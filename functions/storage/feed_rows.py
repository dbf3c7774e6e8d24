"""How the change feed (and the guard's holds) pack a list of changes into a row."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import orjson

from functions.core.changes import Change
from functions.storage.entities import Entity
from functions.storage.packed import CHUNK_BYTES, compress

__all__ = ["decode_changes", "encode_changes"]


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
