"""The parts a read keeps while it is not whole, as compressed JSON (pure functions).

- listings (``devices``, ``detectedapps``, ``managedapps``): the records as the inventory
  table packs them, sorted by id, at most ``LISTING_PART`` a part; a device's or app's
  *position* is its index in its listing, parts taken in order;
- ``links``: for some apps (by position), the positions of the devices each is on, sorted
  and delta-coded (a tenant's million links in a few MB);
- ``details`` / ``extras``: ``[device position, value, ...]`` rows.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from functions.devices.model import Details, Inventory
from functions.devices.store import PACKING

LISTING_PART = 2_000  # records a listing part (2,000 devices: about 400 KB compressed)
_KINDS = {"devices": "devices", "detected_apps": "detectedapps", "managed_apps": "managedapps"}


def _pack(value: Any) -> bytes:
    return zlib.compress(orjson.dumps(value), 6)


def _unpack(data: bytes) -> Any:
    return orjson.loads(zlib.decompress(data))


def listing_parts(name: str, records: Iterable[Any]) -> list[bytes]:
    """A listing (``devices``, ``detected_apps``, ``managed_apps``) as parts, sorted by id."""
    kind = _KINDS[name]
    ordered = sorted(records, key=lambda r: r.id)
    return [zlib.compress(PACKING.encode_rows(kind, ordered[i:i + LISTING_PART]), 6)
            for i in range(0, len(ordered), LISTING_PART)]


def listing_records(name: str, parts: Sequence[bytes]) -> list[Any]:
    """A listing's records back, in position order."""
    kind = _KINDS[name]
    columns = ",".join(PACKING.columns(kind))
    records: list[Any] = []
    for data in parts:
        records.extend(PACKING.decode_entity(kind, {f"{kind}Columns": columns, f"{kind}0": data}))
    return records


def links_part(devices_of: Mapping[int, Iterable[int]]) -> bytes:
    """Apps (by position) and the device positions each is on."""
    apps = sorted(devices_of)
    coded = []
    for app in apps:
        previous, deltas = 0, []
        for position in sorted(set(devices_of[app])):
            deltas.append(position - previous)
            previous = position
        coded.append(deltas)
    return _pack({"a": apps, "d": coded})


def read_links(data: bytes) -> Iterable[tuple[int, list[int]]]:
    """(app position, device positions) of a links part."""
    part = _unpack(data)
    for app, deltas in zip(part["a"], part["d"], strict=True):
        positions, current = [], 0
        for delta in deltas:
            current += delta
            positions.append(current)
        yield app, positions


def rows_part(rows: Mapping[int, Details]) -> bytes:
    """Details (or export columns) by device position."""
    return _pack([[position, *values] for position, values in sorted(rows.items())])


def read_rows(data: bytes) -> Iterable[tuple[int, Details]]:
    for row in _unpack(data):
        yield int(row[0]), tuple(row[1:])


def assemble(
    inventory: Inventory, parts: Mapping[str, Sequence[bytes]], listing_digests: Sequence[str]
) -> None:
    """Fill ``inventory`` from a read's parts and set its digest (of the listings as sent,
    every app's devices and the export columns; details are not in it: they are re-read only
    when the list's check-in time, which is in it, changes)."""
    devices = listing_records("devices", parts.get("devices", ()))
    apps = listing_records("detected_apps", parts.get("detectedapps", ()))
    inventory.devices = {d.id: d for d in devices}
    inventory.detected_apps = {a.id: a for a in apps}
    inventory.managed_apps = {m.id: m for m in
                              listing_records("managed_apps", parts.get("managedapps", ()))}
    digest = hashlib.sha256("|".join(listing_digests).encode())
    found: dict[int, list[str]] = {}
    for data in parts.get("links", ()):
        for app, positions in read_links(data):
            app_id = apps[app].id
            digest.update(f"{app}:{','.join(map(str, positions))};".encode())
            for position in positions:
                found.setdefault(position, []).append(app_id)
    inventory.software = {devices[p].id: tuple(sorted(ids)) for p, ids in found.items()}
    for kind, target in (("details", inventory.details), ("extras", inventory.extras)):
        for data in parts.get(kind, ()):
            for position, values in read_rows(data):
                target[devices[position].id] = values
    for position, values in sorted((p, v) for data in parts.get("extras", ())
                                   for p, v in read_rows(data)):
        digest.update(orjson.dumps([position, *values]))
    inventory.digest = digest.hexdigest()
