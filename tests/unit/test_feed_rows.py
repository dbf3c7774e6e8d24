"""A run's feed entries encoded once for its intent and its append (pure)."""

from __future__ import annotations

import zlib

import orjson

from functions.core.changes import Change
from functions.storage.feed_rows import (
    ENTRIES_PER_ROW,
    EncodedChanges,
    decode_changes,
    encode_changes,
)


def _changes(count: int, name: str = "") -> list[Change]:
    return [Change("device", f"d{n}", "created", name or f"PC {n}", f"v{n}")
            for n in range(count)]


def test_the_entries_of_an_intent_are_reused_by_its_append_and_read_back_whole() -> None:
    encoded, changes = EncodedChanges(), _changes(ENTRIES_PER_ROW + 5)
    rows = encoded.rows("t1", "devices", changes)
    assert len(rows) == 2  # a row's worth each, as the feed cuts them
    assert decode_changes(rows[0]) + decode_changes(rows[1]) == changes
    assert rows[1] == encode_changes(changes[ENTRIES_PER_ROW:])
    assert encoded.rows("t1", "devices", changes) is rows  # the same entries: not again
    assert encoded.rows("t1", "devices", list(changes)) is rows  # the same objects, copied


def test_other_entries_tenants_or_kinds_are_encoded_for_themselves() -> None:
    encoded, changes = EncodedChanges(), _changes(3)
    rows = encoded.rows("t1", "devices", changes)
    equal = _changes(3)  # equal values, other objects: encoded anew, to the same bytes
    assert encoded.rows("t1", "devices", equal) is not rows
    assert encoded.rows("t1", "devices", equal) == rows
    renamed = [*changes[:2], _changes(3, "renamed")[2]]
    assert decode_changes(encoded.rows("t1", "devices", renamed)[0]) == renamed
    assert decode_changes(encoded.rows("t1", "devices", changes[:2])[0]) == changes[:2]
    assert decode_changes(encoded.rows("t2", "devices", changes)[0]) == changes
    other_kind = encoded.rows("t2", "directory", changes)
    assert encoded.rows("t2", "directory", changes) is other_kind
    encoded.forget("t2", "directory")
    assert encoded.rows("t2", "directory", changes) is not other_kind


def test_only_the_last_runs_entries_are_kept() -> None:
    encoded, changes = EncodedChanges(), _changes(1)
    first = encoded.rows("t0", "devices", changes)
    for n in range(1, EncodedChanges.KEPT + 1):
        encoded.rows(f"t{n}", "devices", changes)
    assert encoded.rows("t0", "devices", changes) is not first  # forgotten: made again
    assert encoded.rows("t0", "devices", changes) == first


def test_entries_compressed_by_zlib_as_earlier_releases_did_read_back() -> None:
    changes = _changes(3)
    rows = orjson.dumps([[c.entity, c.entity_id, c.change, c.name, c.version] for c in changes])
    assert decode_changes({"Entries0": zlib.compress(rows, 1)}) == changes
    assert zlib.decompress(encode_changes(changes)["Entries0"]) == rows  # and zlib reads ours
