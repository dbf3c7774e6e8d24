"""A tenant's devices, detected apps and managed apps in Table Storage (packed)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from functions.core.errors import InputError
from functions.devices.model import (
    DetectedAppRecord,
    DeviceRecord,
    DeviceSoftware,
    ManagedAppRecord,
)
from functions.devices.plan import InventoryChanges, StoredInventory
from functions.devices.staging import CHECKPOINT_TABLE
from functions.storage.entities import Entity
from functions.storage.packed import LAYOUT_ROW, Packing, bucket_of, parse_row_key, row_key
from functions.storage.tables import MAX_BATCH, TableStore, WriteStats, entity_chars

# The kinds packed into a tenant's inventory rows (property name prefix -> record type).
# (A device's software is keyed by the device's id, so it lives in the device's bucket.)
PACKING = Packing({
    "devices": DeviceRecord, "detectedapps": DetectedAppRecord, "managedapps": ManagedAppRecord,
    "software": DeviceSoftware,
})


@dataclass
class DeviceFilter:
    retired: bool | None = None  # None: both
    compliance_state: str | None = None
    operating_system: str | None = None
    user_ids: set[str] | None = None  # only devices whose primary user is one of these
    apps: frozenset[str] | None = None  # only devices that have one of these apps now

    def matches(self, device: DeviceRecord) -> bool:
        """Whether ``device`` passes every filter but ``apps`` (texts compared in any case)."""
        return ((self.retired is None or device.retired == self.retired)
                and _same(self.compliance_state, device.compliance_state)
                and _same(self.operating_system, device.operating_system)
                and (self.user_ids is None or device.user_id in self.user_ids))

    def has_apps(self, device: DeviceRecord, software: DeviceSoftware | None) -> bool:
        """Whether the device has one of ``apps`` now (always, without an app filter)."""
        return self.apps is None or (software is not None
                                     and not self.apps.isdisjoint(software.apps))


def _same(wanted: str | None, value: str | None) -> bool:
    return not wanted or (value or "").casefold() == wanted.casefold()


INVENTORY_TABLE = "inventory"


class InventoryTables:
    """A tenant's devices, detected apps and managed apps, packed (see ``packed``)."""

    def __init__(self, store: TableStore) -> None:
        self._store = store

    def load(self, tenant_id: str) -> StoredInventory:
        """Everything stored for the tenant, with its layout: one partition query."""
        stored = StoredInventory()
        rows = self._store.query(INVENTORY_TABLE, "PartitionKey eq @pk", {"pk": tenant_id})
        self._fill(stored, rows, _ATTRS)
        return stored

    def details_as_of(self, tenant_id: str) -> dict[str, str | None]:
        """Each stored device's ``details_as_of`` (the check-in its details were read at):
        the devices kind only, read from the rows without their other kinds.

        Raises:
            StorageError: storage did not answer.
        """
        stored = StoredInventory()
        rows = self._store.query(INVENTORY_TABLE, "PartitionKey eq @pk", {"pk": tenant_id},
                                 select=kind_columns("devices"))
        self._fill(stored, rows, {"devices": "devices"})
        return {d.id: d.details_as_of for d in stored.devices.values()}

    def _fill(self, stored: StoredInventory, found: Iterable[Entity],
              kinds: Mapping[str, str]) -> None:
        rows = list(found)
        layout = next((r for r in rows if r["RowKey"] == LAYOUT_ROW), None)
        buckets = _buckets(layout)
        if layout is not None:
            stored.buckets = buckets
        for row in rows:
            key = parse_row_key(row["RowKey"])
            if key is None:
                continue
            if key[0] != buckets:
                stored.stale_rows.append(row["RowKey"])
                continue
            stored.buckets = buckets
            for kind, attr in kinds.items():
                target = getattr(stored, attr)
                for record in PACKING.decode_entity(kind, row):
                    target[record.id] = record

    def write(
        self, tenant_id: str, stored: StoredInventory, changes: InventoryChanges
    ) -> WriteStats:
        """Store the changed records: rewrite the buckets they fall in (every bucket when
        the tenant outgrows its layout), then the layout, then drop left-over rows.

        A failure part-way leaves every bucket either as it was or as it is now: the
        layout row moves to a new bucket count only after the new buckets are written.

        Raises:
            StorageError: a transaction failed.
        """
        changed = {kind: getattr(changes, attr) for kind, attr in _ATTRS.items()}
        if not any(changed.values()):
            # Nothing new, but rows left over from an earlier layout (a write cut short
            # between the new layout and the old rows' deletion) go now.
            self._drop(tenant_id, stored.stale_rows)
            return WriteStats()
        merged = {kind: {**getattr(stored, attr), **{r.id: r for r in changed[kind]}}
                  for kind, attr in _ATTRS.items()}
        changed_ids = (r.id for records in changed.values() for r in records)
        buckets, data = PACKING.layout_buckets(merged, stored.buckets, changed_ids)
        rows = [PACKING.bucket_entity(tenant_id, buckets, i, data[i]) for i in sorted(data)]
        relaid = buckets != max(stored.buckets, 1)
        if relaid and _fits_one_transaction(rows):
            # All in one transaction, atomic: the layout moves with its buckets.
            rows.append(_layout_entity(tenant_id, buckets))
        stats = self._store.write(INVENTORY_TABLE, rows, max_chars=TRANSACTION_CHARS)
        if relaid and rows[-1]["RowKey"] != LAYOUT_ROW:
            stats.add(self._store.write(INVENTORY_TABLE, [_layout_entity(tenant_id, buckets)]))
        stale = list(stored.stale_rows)
        if stored.buckets and buckets != stored.buckets:
            stale += [row_key(stored.buckets, i) for i in range(stored.buckets)]
        self._drop(tenant_id, stale)
        return stats

    def _drop(self, tenant_id: str, row_keys: list[str]) -> None:
        for key in row_keys:
            self._store.delete(INVENTORY_TABLE, tenant_id, key)

    def _buckets_now(self, tenant_id: str) -> int:
        return _buckets(self._store.get(INVENTORY_TABLE, tenant_id, LAYOUT_ROW))

    def _kind(self, tenant_id: str, prefix: str) -> Iterator[Any]:
        buckets = self._buckets_now(tenant_id)
        for index in range(buckets):
            yield from self._bucket(tenant_id, prefix, buckets, index)

    def _bucket(self, tenant_id: str, prefix: str, buckets: int, index: int) -> list[Any]:
        row = self._store.get(INVENTORY_TABLE, tenant_id, row_key(buckets, index))
        return PACKING.decode_entity(prefix, row) if row else []

    def _joined(self, tenant_id: str, buckets: int, index: int
                ) -> tuple[list[DeviceRecord], dict[str, DeviceSoftware]]:
        """A bucket's devices and their software."""
        row = self._store.get(INVENTORY_TABLE, tenant_id, row_key(buckets, index))
        if not row:
            return [], {}
        software = {s.id: s for s in PACKING.decode_entity("software", row)}
        return PACKING.decode_entity("devices", row), software

    def _page(
        self, tenant_id: str, prefix: str, keep: Callable[[Any], bool], page_size: int,
        continuation: str | None,
        joined: Callable[[Any, DeviceSoftware | None], bool] | None = None,
    ) -> tuple[list[Any], str | None]:
        """One page of a kind's records that ``keep`` accepts, in storage order (bucket by
        bucket, by id within one), and the next page's token.

        Raises:
            InputError: ``invalid_continuation`` for a token this listing did not issue, or
            one from before the tenant's records were re-laid out.
        """
        buckets = self._buckets_now(tenant_id)
        start, after = 0, ""
        if continuation:
            start, after = _read_token(continuation, buckets)
        found: list[Any] = []
        for index in range(start, buckets):
            software: dict[str, DeviceSoftware] = {}
            if joined is None:
                records = self._bucket(tenant_id, prefix, buckets, index)
            else:
                records, software = self._joined(tenant_id, buckets, index)
            for n, record in enumerate(records):
                if index == start and after and record.id <= after:
                    continue
                if not keep(record) or (joined and not joined(record, software.get(record.id))):
                    continue
                found.append(record)
                if len(found) == page_size:
                    last = index == buckets - 1 and n == len(records) - 1
                    return found, None if last else _token(buckets, index, record.id)
        return found, None

    def devices(self, tenant_id: str, flt: DeviceFilter) -> Iterator[DeviceRecord]:
        if flt.apps is None:
            yield from (d for d in self._kind(tenant_id, "devices") if flt.matches(d))
            return
        buckets = self._buckets_now(tenant_id)
        for index in range(buckets):
            devices, software = self._joined(tenant_id, buckets, index)
            yield from (d for d in devices
                        if flt.matches(d) and flt.has_apps(d, software.get(d.id)))

    def device(self, tenant_id: str, device_id: str
               ) -> tuple[DeviceRecord, DeviceSoftware | None] | None:
        """One device and its software (one read: the device's bucket); None if unknown."""
        buckets = self._buckets_now(tenant_id)
        devices, software = self._joined(tenant_id, buckets, bucket_of(device_id, buckets))
        found = next((d for d in devices if d.id == device_id), None)
        return None if found is None else (found, software.get(device_id))

    def detected_app(self, tenant_id: str, app_id: str) -> DetectedAppRecord | None:
        """One detected app by id (one read: its bucket); None if unknown."""
        buckets = self._buckets_now(tenant_id)
        apps = self._bucket(tenant_id, "detectedapps", buckets, bucket_of(app_id, buckets))
        return next((a for a in apps if a.id == app_id), None)

    def detected_apps_by_id(self, tenant_id: str) -> dict[str, DetectedAppRecord]:
        """Every detected app of the tenant: one query that reads only that kind of each
        bucket row (a tenant's apps are a small part of its inventory)."""
        stored = StoredInventory()
        rows = self._store.query(INVENTORY_TABLE, "PartitionKey eq @pk", {"pk": tenant_id},
                                 select=kind_columns("detectedapps"))
        self._fill(stored, rows, {"detectedapps": "detected_apps"})
        return stored.detected_apps

    def apps_named(self, tenant_id: str, name_prefix: str,
                   version: str | None = None) -> frozenset[str]:
        """The ids of the detected apps whose name starts with ``name_prefix`` and whose
        version is ``version`` (if given), both in any case."""
        prefix, wanted = name_prefix.casefold(), version.casefold() if version else None
        return frozenset(
            a.id for a in self.detected_apps_by_id(tenant_id).values()
            if a.name.casefold().startswith(prefix)
            and (wanted is None or (a.version or "").casefold() == wanted))

    def devices_page(
        self, tenant_id: str, flt: DeviceFilter, *, page_size: int,
        continuation: str | None = None,
    ) -> tuple[list[DeviceRecord], str | None]:
        """One page of a tenant's devices matching ``flt`` and the next page's token.

        Raises:
            InputError: ``invalid_continuation`` for a token this query did not issue.
        """
        joined = flt.has_apps if flt.apps is not None else None
        return self._page(tenant_id, "devices", flt.matches, page_size, continuation, joined)

    def detected_apps_page(
        self, tenant_id: str, *, removed: bool | None = None, page_size: int,
        continuation: str | None = None,
    ) -> tuple[list[DetectedAppRecord], str | None]:
        """One page of a tenant's detected apps and the next page's token."""
        return self._page(tenant_id, "detectedapps", _removed(removed), page_size, continuation)

    def managed_apps_page(
        self, tenant_id: str, *, removed: bool | None = None, page_size: int,
        continuation: str | None = None,
    ) -> tuple[list[ManagedAppRecord], str | None]:
        """One page of a tenant's managed apps and the next page's token."""
        return self._page(tenant_id, "managedapps", _removed(removed), page_size, continuation)

    def purge(self, tenant_id: str) -> int:
        """Hard-delete a tenant's stored devices and software, and any read of them in
        progress; returns how many inventory rows."""
        self._store.delete_partition(CHECKPOINT_TABLE, tenant_id)
        return self._store.delete_partition(INVENTORY_TABLE, tenant_id)

    def detected_apps(self, tenant_id: str) -> Iterator[DetectedAppRecord]:
        return self._kind(tenant_id, "detectedapps")

    def managed_apps(self, tenant_id: str) -> Iterator[ManagedAppRecord]:
        return self._kind(tenant_id, "managedapps")

    def software(self, tenant_id: str) -> Iterator[DeviceSoftware]:
        """Every device's software (bucket by bucket)."""
        return self._kind(tenant_id, "software")


# Kind -> the attribute of StoredInventory / InventoryChanges holding it.
_ATTRS = {"devices": "devices", "detectedapps": "detected_apps", "managedapps": "managed_apps",
          "software": "software"}
MAX_CHUNKS = 10  # a bucket holds at most 600 KB compressed: ten 60,000-byte properties


def kind_columns(prefix: str) -> list[str]:
    """The properties of a bucket row that hold one kind of record (read alone by ``select``)."""
    return ["RowKey", "Buckets", f"{prefix}Columns",
            *(f"{prefix}{n}" for n in range(MAX_CHUNKS))]


# A transaction's body holds at most 4 MiB; leave room for the multipart framing.
TRANSACTION_CHARS = 3_000_000


_TOKEN_AFTER = re.compile(r"^[\x21-\x7e]{1,256}$")


def _buckets(layout: Entity | None) -> int:
    """The bucket count a layout row gives; without one, 1."""
    value = layout.get("Buckets") if layout else None
    return value if isinstance(value, int) and value > 0 else 1


def _fits_one_transaction(rows: list[Entity]) -> bool:
    return len(rows) < MAX_BATCH and sum(map(entity_chars, rows)) < TRANSACTION_CHARS


def _layout_entity(tenant_id: str, buckets: int) -> Entity:
    return {"PartitionKey": tenant_id, "RowKey": LAYOUT_ROW, "Buckets": buckets}


def _removed(removed: bool | None) -> Callable[[Any], bool]:
    return lambda app: removed is None or app.removed == removed


def _token(buckets: int, index: int, after: str) -> str:
    raw = json.dumps({"b": buckets, "i": index, "a": after}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _read_token(token: str, buckets: int) -> tuple[int, str]:
    invalid = InputError("continuation token is not valid", code="invalid_continuation")
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, UnicodeDecodeError):
        raise invalid from None
    if not (isinstance(data, dict) and set(data) == {"b", "i", "a"}
            and all(isinstance(data[k], int) and not isinstance(data[k], bool) for k in "bi")
            and isinstance(data["a"], str) and _TOKEN_AFTER.match(data["a"])
            and 0 <= data["i"] < data["b"]):
        raise invalid
    if data["b"] != buckets:
        raise InputError("the tenant's inventory was reorganised since the first page "
                         "(it outgrew its layout): start again without a continuation token",
                         code="invalid_continuation")
    return int(data["i"]), str(data["a"])
