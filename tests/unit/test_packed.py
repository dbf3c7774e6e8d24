"""The inventory table's packed layout and the Graph -> record mapping (pure functions)."""

from __future__ import annotations

import random
import string
import zlib
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from functions.devices.model import (
    DEVICE_FIELDS,
    DetectedAppRecord,
    DeviceRecord,
    DeviceSoftware,
    ManagedAppRecord,
    device_from_graph,
)
from functions.devices.store import PACKING
from functions.storage import packed
from functions.storage.entities import iso
from functions.storage.tables import MAX_BATCH, _batches, entity_chars


def a_device(i: int, **changes: object) -> DeviceRecord:
    record = DeviceRecord(
        f"{i:08d}-dev", f"PC-{i}", f"SN{i}", "Contoso", "Laptop", "Windows", "10.0", "company",
        "2026-01-05T10:00:00Z", "2026-11-20T08:00:00Z", "compliant", "mdm", None, f"user-{i}",
        f"u{i}@x.example", None, "Ünïcödé Üser 😀", None, None, "A0B1", None, 256_000_000_000,
        1, True)
    return replace(record, **changes)  # type: ignore[arg-type]


def test_device_from_graph_puts_every_graph_property_in_its_own_field() -> None:
    texts = [p for p in DEVICE_FIELDS if p not in (
        "serialNumber", "isEncrypted", "totalStorageSpaceInBytes", "freeStorageSpaceInBytes",
        "userId", "azureADDeviceId")]
    item: dict[str, object] = {p: f"value of {p}" for p in texts}
    item |= {"serialNumber": " ab12 ", "isEncrypted": False, "totalStorageSpaceInBytes": 7,
             "freeStorageSpaceInBytes": 3, "userId": "A-USER", "azureADDeviceId": "AN-AAD-ID"}
    record = device_from_graph(item)
    for prop in texts:
        assert getattr(record, DEVICE_FIELDS[prop]) == f"value of {prop}", prop
    assert (record.serial_number, record.is_encrypted) == ("AB12", False)
    assert (record.total_storage_bytes, record.free_storage_bytes) == (7, 3)
    assert (record.user_id, record.azure_ad_device_id) == ("a-user", "an-aad-id")
    assert not record.retired and record.retired_at is None
    # Empty strings and all-zero ids are "none", as Graph means them.
    no_user = "00000000-0000-0000-0000-000000000000"
    blank = device_from_graph({"id": "x", "model": "", "userId": no_user})
    assert (blank.model, blank.user_id, blank.name) == (None, None, "")


@pytest.mark.parametrize("kind", list(PACKING.kinds))
def test_a_bucket_round_trips_every_record_exactly(kind: str) -> None:
    when = datetime(2026, 11, 21, 8, 30, 15, 123456, tzinfo=UTC)
    by_kind: dict[str, list[Any]] = {
        "devices": [a_device(i) for i in range(5)] + [a_device(9, retired=True, retired_at=when)],
        "detectedapps": [DetectedAppRecord("b", "Zoom", "5.1", None, "windows", 3, None),
                         DetectedAppRecord("a", "7-Zip \"quoted\"", None, "Igor", None, None, 10,
                                           removed=True, removed_at=when)],
        "managedapps": [ManagedAppRecord("m1", "Teams", "win32LobApp", "Microsoft")],
        "software": [DeviceSoftware("d2", ("a", "b")),
                     DeviceSoftware("d1", ("c",), (("a", "2026-11-21T08:30:15Z"),)),
                     DeviceSoftware("d3")],
    }
    records = by_kind[kind]
    entity = PACKING.bucket_entity("tenant", 4, 3,
                                  {kind: packed.compress(PACKING.encode_rows(kind, records))})
    assert entity["RowKey"] == "00004-00003"
    assert packed.parse_row_key(entity["RowKey"]) == (4, 3)
    assert isinstance(entity[f"{kind}0"], bytes)
    back = PACKING.decode_entity(kind, entity)
    assert back == sorted(records, key=lambda r: r.id)  # tuples come back as tuples
    others = [k for k in PACKING.kinds if k != kind]
    assert all(PACKING.decode_entity(other, entity) == [] for other in others)


def test_times_are_written_as_their_iso_texts_and_other_objects_are_refused() -> None:
    run = datetime(2026, 11, 21, 8, 30, 15, 123456, tzinfo=UTC)
    same_instant = run.astimezone(timezone(timedelta(hours=2)))
    apps = [DetectedAppRecord("a", "A", None, None, None, None, None, changed_at=run),
            DetectedAppRecord("b", "B", None, None, None, None, None, removed=True,
                              removed_at=run - timedelta(days=1), changed_at=run),
            DetectedAppRecord("c", "C", None, None, None, None, None, changed_at=same_instant)]
    rows = orjson.loads(PACKING.encode_rows("detectedapps", apps))
    at = {name: n for n, name in enumerate(PACKING.columns("detectedapps"))}
    assert [row[at["changed_at"]] for row in rows] == [iso(run)] * 3
    assert [row[at["removed_at"]] for row in rows] == [None, iso(run - timedelta(days=1)), None]
    with pytest.raises(TypeError):  # orjson.JSONEncodeError
        PACKING.encode_rows("detectedapps", [replace(apps[0], name={"not", "json"})])


def test_rows_compressed_by_zlib_as_earlier_releases_did_read_back_alike() -> None:
    devices = [a_device(i) for i in range(3)]
    text = PACKING.encode_rows("devices", devices)
    for data in (zlib.compress(text, 1), zlib.compress(text, 9), packed.compress(text)):
        entity = PACKING.bucket_entity("tenant", 1, 0, {"devices": data})
        assert PACKING.decode_entity("devices", entity) == devices
    assert zlib.decompress(packed.compress(text)) == text  # and zlib reads ours


def test_rows_written_with_other_columns_read_back_by_name() -> None:
    # A row from a version with a column since dropped, and without one since added.
    names = [f.name for f in fields(ManagedAppRecord)
             if f.name not in ("publisher", "changed_at")] + ["legacy"]
    text = '[["m1","Teams","win32LobApp",false,null,"old value"]]'
    entity = {"managedappsColumns": ",".join(names), "managedapps0": packed.compress(text.encode())}
    [app] = PACKING.decode_entity("managedapps", entity)
    assert app == ManagedAppRecord("m1", "Teams", "win32LobApp", None)


def test_other_row_keys_are_not_buckets() -> None:
    for key in ("layout", "00001", "0001-00001", "00001-x0000", "devices-00001-00000"):
        assert packed.parse_row_key(key) is None


def test_bucket_of_is_stable_and_in_range() -> None:
    # crc32 of the id: the same in every process (hash() of a str is not).
    assert packed.bucket_of("abc", 1 << 20) == 0x352441C2 & ((1 << 20) - 1)
    assert {packed.bucket_of(f"id-{i}", 8) for i in range(200)} == set(range(8))


def _tenant(devices: int, apps: int = 0) -> dict[str, dict[str, Any]]:
    return {"devices": {d.id: d for d in (a_device(i) for i in range(devices))},
            "detectedapps": {f"app{i}": DetectedAppRecord(f"app{i}", f"App {i}", "1.0", "F",
                                                          "windows", i, None)
                             for i in range(apps)},
            "managedapps": {}}


def _decoded(buckets: int, data: dict[int, dict[str, bytes]], kind: str) -> dict[int, list[Any]]:
    return {i: PACKING.decode_entity(kind, PACKING.bucket_entity("t", buckets, i, parts))
            for i, parts in data.items()}


def test_a_small_tenant_is_one_bucket_and_a_large_one_spreads() -> None:
    buckets, data = PACKING.layout_buckets(_tenant(50, 30), 0)
    assert (buckets, set(data)) == (1, {0})
    assert len(_decoded(1, data, "devices")[0]) == 50
    assert len(_decoded(1, data, "detectedapps")[0]) == 30
    buckets, data = PACKING.layout_buckets(_tenant(3000, 800), 0)
    assert buckets > 1 and buckets & (buckets - 1) == 0  # a power of two
    assert set(data) == set(range(buckets))
    for kind, total in (("devices", 3000), ("detectedapps", 800)):
        decoded = _decoded(buckets, data, kind)
        for index, records in decoded.items():
            assert all(packed.bucket_of(r.id, buckets) == index for r in records)
        assert sum(map(len, decoded.values())) == total


def test_a_layout_is_kept_until_a_bucket_would_outgrow_an_entity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    records = _tenant(400)
    assert PACKING.layout_buckets(records, 4)[0] == 4  # kept, though 1 would do
    # Only the buckets of changed records are encoded again.
    one = next(iter(records["devices"]))
    assert set(PACKING.layout_buckets(records, 4, [one])[1]) == {packed.bucket_of(one, 4)}
    monkeypatch.setattr(packed, "MAX_BUCKET_BYTES", 1_000)  # every bucket of 4 is larger
    buckets, data = PACKING.layout_buckets(records, 4, [one])
    assert buckets > 4
    assert set(data) == set(range(buckets))  # a new layout rewrites every bucket
    assert max(sum(map(len, parts.values())) for parts in data.values()) <= 1_000


def test_big_buckets_are_split_over_binary_properties_under_64_kib() -> None:
    rng = random.Random(5)
    noisy = {str(i): a_device(i, id=str(i), name="".join(
        rng.choices(string.ascii_letters, k=400))) for i in range(600)}
    _, data = PACKING.layout_buckets({"devices": noisy}, 1)
    entity = PACKING.bucket_entity("t", 1, 0, data[0])
    chunks = [k for k in entity if k.startswith("devices") and k != "devicesColumns"]
    assert len(chunks) > 1
    assert all(len(entity[k]) <= packed.CHUNK_BYTES < 64 * 1024 for k in chunks)
    assert len(PACKING.decode_entity("devices", entity)) == 600


def test_transactions_are_cut_by_count_and_by_size() -> None:
    rows = [{"PartitionKey": "p", "RowKey": str(i), "Data": b"x" * 3000} for i in range(250)]
    assert [len(b) for b in _batches(rows, None)] == [MAX_BATCH, MAX_BATCH, 50]
    per_row = entity_chars(rows[0])
    assert per_row > 4000  # binary counts as base64
    sized = list(_batches(rows, per_row * 10))
    assert all(len(b) <= 10 for b in sized)
    assert [r["RowKey"] for b in sized for r in b] == [str(i) for i in range(250)]


def test_transactions_never_mix_partitions_and_keep_each_partitions_order() -> None:
    rows = [{"PartitionKey": f"p{i % 3}", "RowKey": f"{i:04d}"} for i in range(450)]
    batches = list(_batches(iter(rows), None))  # a stream: cut as it comes
    assert all(len({r["PartitionKey"] for r in b}) == 1 for b in batches)
    assert all(len(b) <= MAX_BATCH for b in batches)
    for partition in ("p0", "p1", "p2"):
        keys = [r["RowKey"] for b in batches for r in b if r["PartitionKey"] == partition]
        assert keys == [r["RowKey"] for r in rows if r["PartitionKey"] == partition]


def test_a_first_layout_estimated_from_a_sample_aims_as_the_whole_would() -> None:
    records = _tenant(3000, 800)
    whole = sum(len(PACKING.encode_rows(kind, group.values())) for kind, group in
                records.items())
    assert whole > 2 * packed.TARGET_BYTES  # clearly over: only a sample is encoded
    exact = 1
    while whole / exact > packed.TARGET_BYTES:
        exact *= 2
    assert PACKING.layout_buckets(records, 0)[0] == exact
    # Near one bucket, the size is the whole encoding's, not an estimate.
    assert packed._clearly_over(PACKING, _tenant(50, 30)) == 0
