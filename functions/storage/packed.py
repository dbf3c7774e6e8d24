"""The inventory table's layout: a tenant's records packed many to an entity (pure functions).

Why packed: a tenant's devices and software are read and written as a whole by the sync
and listed a page at a time by the API, never queried one by one. One entity per record
cost the first sync of an MSP of 200 x 820 records 164,000 entities; azure-data-tables
spends about 0.7 ms of CPU on each entity of a batch transaction (its multipart encoding),
and Table Storage's scalability targets are counted in entities. Packed, a tenant of a few
thousand records is one entity, written with one plain upsert (measured in
docs/benchmarks.md).

Layout, per tenant partition:
- bucket rows ``<buckets>-<index>``: the records whose id hashes to ``index`` out of
  ``buckets`` (a power of two, one count for the whole tenant). For each kind (devices,
  detectedapps, managedapps) the row holds that kind's records of the bucket, sorted by
  id, as a JSON array of rows compressed with zlib and split over binary properties
  ``<kind>0``, ``<kind>1``, ..., with the column names in ``<kind>Columns``. (Compressed,
  a bucket is about a quarter of its JSON: less to send, and less for the service to
  parse and store.)
- a ``layout`` row with the bucket count in ``Buckets``, once a tenant needs more than
  one bucket; without it the count is 1. Bucket rows of another count are left over from
  a re-layout (a tenant that outgrew its buckets) and are ignored.

Limits followed (Table Storage): a binary property holds at most 64 KiB, an entity at most
1 MiB and 252 properties, a transaction 100 entities and 4 MiB.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, fields
from datetime import datetime
from operator import attrgetter
from typing import Any

import orjson
from isal import isal_zlib

from functions.storage.entities import iso, parse_time

LAYOUT_ROW = "layout"
CHUNK_BYTES = 60_000  # per binary property: under 64 KiB
TARGET_BYTES = 400_000  # a new layout aims at buckets of about this much JSON
MAX_BUCKET_BYTES = 600_000  # compressed; well under the 1 MiB entity limit
MAX_BUCKETS = 1 << 14

Records = Mapping[str, Mapping[str, Any]]  # kind -> id -> record


@dataclass(frozen=True)
class _Codec:
    names: tuple[str, ...]
    getter: Any
    times: frozenset[int]  # positions of datetime columns
    tuples: frozenset[int]  # positions of tuple columns (JSON gives lists back)
    defaults: dict[str, Any]  # for columns a row was written without

    @classmethod
    def of(cls, record_type: type) -> _Codec:
        names = tuple(f.name for f in fields(record_type))
        times = frozenset(i for i, f in enumerate(fields(record_type)) if "datetime" in str(f.type))
        tuples = frozenset(i for i, f in enumerate(fields(record_type))
                           if str(f.type).startswith("tuple"))
        defaults = {f.name: None if f.default is MISSING else f.default
                    for f in fields(record_type)}
        return cls(names, attrgetter(*names), times, tuples, defaults)


def frozen(value: Any) -> Any:
    """A JSON array read back as the tuple it was written from (nested ones too), its
    strings interned: a million links to a few thousand app ids then cost a pointer each."""
    if type(value) is list:
        if value and type(value[0]) is str:
            return tuple(map(sys.intern, value))
        return tuple(map(frozen, value))
    return value


def bucket_of(record_id: str, buckets: int) -> int:
    # crc32, not hash(): the same id must land in the same bucket in every process.
    return zlib.crc32(record_id.encode()) & (buckets - 1)


def row_key(buckets: int, index: int) -> str:
    return f"{buckets:05d}-{index:05d}"


def parse_row_key(key: str) -> tuple[int, int] | None:
    """(buckets, index) of a bucket row's key; None for any other row."""
    buckets, _, index = key.partition("-")
    if not (len(buckets) == len(index) == 5 and buckets.isdigit() and index.isdigit()):
        return None
    return int(buckets), int(index)


class _TimeTexts:
    """The ``iso`` text of each datetime a JSON encoding meets, made once per distinct time:
    the records a run writes share its one ``changed_at``."""

    def __init__(self) -> None:
        self._made: dict[datetime, str] = {}

    def text(self, value: Any) -> str:
        made = self._made.get(value) if type(value) is datetime else None
        if made is None:
            if not isinstance(value, datetime):
                raise TypeError(f"cannot store {type(value).__name__}")
            made = self._made[value] = iso(value)
        return made


_ID = attrgetter("id")


def compress(text: bytes) -> bytes:
    """A zlib stream (``zlib.decompress`` reads it) made by ISA-L's deflate: measured on a
    500-device tenant's software (1.4 MB of JSON), 1.1 ms and 173 KB where zlib's fastest
    level took 6.8 ms for 267 KB."""
    return isal_zlib.compress(text, 1)


def decompress(data: bytes) -> bytes:
    """What ``compress`` (or zlib, in earlier releases) made: ISA-L's inflate reads any zlib
    stream, in about a third of zlib's time (500 devices' software: 2.2 -> 0.7 ms)."""
    return isal_zlib.decompress(data)


class Packing:
    """Packs records of the given kinds (property name prefix -> record dataclass) into
    bucket rows, and reads them back."""

    def __init__(self, kinds: Mapping[str, type]) -> None:
        self.kinds = dict(kinds)
        self._codecs = {kind: _Codec.of(record_type) for kind, record_type in kinds.items()}

    def columns(self, prefix: str) -> tuple[str, ...]:
        """The field names of a kind's records, in the order rows hold them."""
        return self._codecs[prefix].names

    def encode_rows(self, prefix: str, records: Iterable[Any]) -> bytes:
        """The records as one JSON array of rows, sorted by id. (orjson: several times faster
        than json here; times go through ``iso`` so that they read back exactly.)"""
        codec = self._codecs[prefix]
        rows = list(map(codec.getter, sorted(records, key=_ID)))
        return orjson.dumps(rows, default=_TimeTexts().text,
                            option=orjson.OPT_PASSTHROUGH_DATETIME)


    def bucket_entity(
        self, tenant_id: str, buckets: int, index: int, parts: Mapping[str, bytes]
    ) -> dict[str, Any]:
        """A bucket row from each kind's compressed rows."""
        entity: dict[str, Any] = {"PartitionKey": tenant_id, "RowKey": row_key(buckets, index)}
        for kind, data in parts.items():
            entity[f"{kind}Columns"] = ",".join(self._codecs[kind].names)
            for n, start in enumerate(range(0, max(len(data), 1), CHUNK_BYTES)):
                entity[f"{kind}{n}"] = data[start:start + CHUNK_BYTES]
        return entity


    def decode_entity(self, prefix: str, entity: Mapping[str, Any]) -> list[Any]:
        """One kind's records in a bucket row, in id order. Columns the record type no longer
        has are dropped; columns it gained since read back as their defaults (or None)."""
        codec, record_type = self._codecs[prefix], self.kinds[prefix]
        chunks: list[bytes] = []
        while f"{prefix}{len(chunks)}" in entity:
            chunks.append(bytes(entity[f"{prefix}{len(chunks)}"]))
        data = b"".join(chunks)
        rows = orjson.loads(decompress(data)) if data else []
        columns = tuple(str(entity.get(f"{prefix}Columns", "")).split(","))
        records = []
        if columns == codec.names:
            for row in rows:
                for i in codec.times:
                    row[i] = parse_time(row[i])
                for i in codec.tuples:
                    row[i] = frozen(row[i])
                records.append(record_type(*row))
            return records
        for row in rows:
            values = dict(codec.defaults)
            values.update((c, v) for c, v in zip(columns, row, strict=False) if c in values)
            for i in codec.times:
                name = codec.names[i]
                values[name] = parse_time(values[name])
            for i in codec.tuples:
                name = codec.names[i]
                values[name] = frozen(values[name])
            records.append(record_type(**values))
        return records


    def layout_buckets(
        self, records: Records, current: int, changed: Iterable[str] | None = None
    ) -> tuple[int, dict[int, dict[str, bytes]]]:
        """The bucket count for a tenant's ``records`` and the compressed rows of the buckets
        to write: those holding a ``changed`` id, or every bucket when the count changes (or
        ``changed`` is None).

        Keeps ``current`` (a tenant's layout never shrinks, so stored rows stay where they are)
        unless a bucket would outgrow ``MAX_BUCKET_BYTES`` (only a rewritten bucket can have
        grown); a first layout (``current`` 0) aims at ``TARGET_BYTES`` of JSON a bucket.
        """
        changed_ids = None if changed is None else set(changed)
        buckets = max(1, current)
        if buckets == 1:
            # A first layout clearly larger than one bucket is not encoded whole just to
            # learn its size (a 500-device tenant's first sync: ~2 ms): a sample tells.
            size = 0 if current else _clearly_over(self, records)
            if not size:
                texts = {kind: self.encode_rows(kind, group.values())
                         for kind, group in records.items()}
                size = sum(map(len, texts.values()))
                if current or size <= TARGET_BYTES:
                    whole = {kind: compress(text) for kind, text in texts.items()}
                    if sum(map(len, whole.values())) <= MAX_BUCKET_BYTES:
                        return 1, {0: whole}
            while buckets < MAX_BUCKETS and size / buckets > TARGET_BYTES:
                buckets *= 2
            buckets = max(buckets, 2)
        while True:
            wanted = (None if changed_ids is None or buckets != current
                      else {bucket_of(i, buckets) for i in changed_ids})
            data: dict[int, dict[str, bytes]] = {}
            for kind, group in records.items():
                for index, members in group_by_bucket(group, buckets).items():
                    if wanted is None or index in wanted:
                        rows = compress(self.encode_rows(kind, members))
                        data.setdefault(index, {})[kind] = rows
            largest = max((sum(map(len, parts.values())) for parts in data.values()), default=0)
            if buckets >= MAX_BUCKETS or largest <= MAX_BUCKET_BYTES:
                return buckets, data
            buckets *= 2


SAMPLE = 64  # records of each kind encoded to estimate a first layout's size


def _clearly_over(packing: Packing, records: Records) -> int:
    """The estimated JSON size of ``records`` when it is clearly more than twice
    ``TARGET_BYTES`` (records of each kind in their order, scaled up), else 0."""
    estimate = 0.0
    for kind, group in records.items():
        if len(group) <= SAMPLE:
            estimate += len(packing.encode_rows(kind, group.values()))
            continue
        sample = [record for _, record in zip(range(SAMPLE), group.values(), strict=False)]
        estimate += len(packing.encode_rows(kind, sample)) * len(group) / SAMPLE
    return int(estimate) if estimate > 2 * TARGET_BYTES else 0


def group_by_bucket(records: Mapping[str, Any], buckets: int) -> dict[int, list[Any]]:
    """The records by bucket (``bucket_of``)."""
    groups: dict[int, list[Any]] = {}
    for record_id, record in records.items():
        groups.setdefault(bucket_of(record_id, buckets), []).append(record)
    return groups
