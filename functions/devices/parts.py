"""The parts of a read that is not whole yet: in memory as values, saved as compressed JSON
(pure functions).

- listings (``devices``, ``detectedapps``, ``managedapps``): lists of records, sorted by id,
  at most ``LISTING_PART`` a part; a device's or app's *position* is its index in its
  listing, parts taken in order; saved as the inventory table packs them;
- ``links``: app position -> the positions of the devices it is on (an ``array``: a tenant's
  million links cost 4 bytes each), saved sorted and delta-coded;
- ``details`` / ``extras``: device position -> values, saved as ``[position, value, ...]``.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import islice
from operator import itemgetter, le
from typing import Any, cast

import orjson

from functions.devices.model import Details, Inventory
from functions.devices.store import PACKING
from functions.devices.unchanged import ids_as_read
from functions.storage.packed import compress, decompress

LISTING_PART = 2_000  # records a listing part (2,000 devices: about 400 KB compressed)
LISTINGS = ("devices", "detectedapps", "managedapps")
Links = dict[int, "array[int]"]


def listing_parts(listing: str, records: Iterable[Any]) -> list[list[Any]]:
    """A listing's records sorted by id, cut into parts."""
    ordered = sorted(records, key=lambda r: r.id)
    return [ordered[i:i + LISTING_PART] for i in range(0, len(ordered), LISTING_PART)]


def links_of(devices_of: Mapping[int, Iterable[int]]) -> Links:
    """Apps (by position) and the device positions each is on, sorted, as a links part."""
    return {app: array("I", sorted(set(positions))) for app, positions in devices_of.items()
            if positions}


@dataclass
class Listed:
    """The device and app listings of a read, by position."""

    device_ids: list[str]
    last_sync: list[str | None]
    app_ids: list[str]
    app_names: list[tuple[str, str]]

    @cached_property
    def positions(self) -> dict[str, int]:
        return {device: n for n, device in enumerate(self.device_ids)}


def links_from_ids(devices_of: Mapping[int, Iterable[str]], positions: Mapping[str, int]
                   ) -> Links:
    """Apps (by position) and the ids of the devices each is on as a links part: a device
    the listing does not have (enrolled since) is left out: the next read lists it."""
    position_of = positions.get
    links: Links = {}
    for app, ids in devices_of.items():
        # A set of positions straight from the ids (no list a link first): C loops only.
        found: set[int | None] = set(map(position_of, ids))
        found.discard(None)
        if found:
            links[app] = array("I", sorted(cast("set[int]", found)))
    return links


class HeldLinks:
    """The apps' devices (app position -> device ids as read, ``unchanged.devices_as_read``)
    that a read holds while it may still turn out unchanged: then dropped unused, otherwise
    released as links."""

    LIMIT = 16 << 20  # bytes held at most (about 400,000 ids): beyond, released at once

    def __init__(self) -> None:
        self._held: dict[int, bytes] = {}
        self._bytes = 0

    def hold(self, devices_of: Mapping[int, bytes]) -> None:
        self._held.update(devices_of)
        self._bytes += sum(map(len, devices_of.values()))

    @property
    def full(self) -> bool:
        return self._bytes > self.LIMIT

    def release(self, positions: Mapping[str, int], apps_a_part: int,
                then: Mapping[int, list[str]] | None = None) -> list[Links]:
        """Every app held, as links parts of ``apps_a_part`` apps at most, in app order;
        then the apps of ``then`` (device ids just read, never held) as one more part."""
        apps = sorted(self._held)
        released = [links_from_ids({a: ids_as_read(self._held[a])
                                    for a in apps[i:i + apps_a_part]}, positions)
                    for i in range(0, len(apps), apps_a_part)]
        self.drop()
        return [links for links in [*released, links_from_ids(then or {}, positions)] if links]

    def drop(self) -> None:
        self._held, self._bytes = {}, 0


def encode(part_type: str, value: Any) -> bytes:
    """A part as saved (compressed as the inventory rows are: a 500-device listing part
    0.2 ms and 44 KB, where zlib's level 6 took 3 ms for the same size)."""
    if part_type in LISTINGS:
        return compress(PACKING.encode_rows(part_type, value))
    if part_type == "links":
        apps = sorted(value)
        coded = []
        for app in apps:
            previous, deltas = 0, []
            for position in value[app]:
                deltas.append(position - previous)
                previous = position
            coded.append(deltas)
        return compress(orjson.dumps({"a": apps, "d": coded}))
    rows = [[position, *values] for position, values in sorted(value.items())]
    return compress(orjson.dumps(rows))


def decode(part_type: str, data: bytes) -> Any:
    """A part as read back."""
    if part_type in LISTINGS:
        columns = ",".join(PACKING.columns(part_type))
        return PACKING.decode_entity(part_type, {f"{part_type}Columns": columns,
                                                 f"{part_type}0": data})
    part = orjson.loads(decompress(data))
    if part_type == "links":
        links: Links = {}
        for app, deltas in zip(part["a"], part["d"], strict=True):
            positions, current = array("I"), 0
            for delta in deltas:
                current += delta
                positions.append(current)
            links[app] = positions
        return links
    return {int(row[0]): tuple(row[1:]) for row in part}


def records(parts: Sequence[list[Any]]) -> list[Any]:
    """A listing's records from its parts, in position order."""
    return [record for part in parts for record in part]


def assemble(inventory: Inventory, parts: Mapping[str, Sequence[Any]]) -> None:
    """Fill ``inventory`` from a read's parts (its digest is the read's fingerprint, made by
    ``unchanged.fingerprint`` from what Graph sent)."""
    devices = records(parts.get("devices", ()))
    apps = records(parts.get("detectedapps", ()))
    inventory.devices = {d.id: d for d in devices}
    inventory.detected_apps = {a.id: a for a in apps}
    inventory.managed_apps = {m.id: m for m in records(parts.get("managedapps", ()))}
    found: list[list[str]] = [[] for _ in devices]  # by device position
    add_to = [apps_of.append for apps_of in found]  # bound once: a tenant has ~30,000 links
    # Every app's devices in app order (stable: an app in two parts keeps their order).
    ordered = sorted(((app, positions) for links in parts.get("links", ())
                      for app, positions in links.items()), key=itemgetter(0))
    for app, positions in ordered:
        app_id = apps[app].id
        for position in positions:
            add_to[position](app_id)
    # A listing is sorted by id, so apps added in app order are in id order already: each
    # device's ids need no sort of their own (unless the listing is not: then they do).
    in_order = all(map(le, (a.id for a in apps), (a.id for a in islice(apps, 1, None))))
    inventory.software = {devices[p].id: tuple(ids if in_order else sorted(ids))
                          for p, ids in enumerate(found) if ids}
    details: dict[str, Details] = inventory.details
    for rows in parts.get("details", ()):
        details.update((devices[p].id, values) for p, values in rows.items())
    for rows in parts.get("extras", ()):
        for position in sorted(rows):
            inventory.extras[devices[position].id] = rows[position]
