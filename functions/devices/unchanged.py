"""The fingerprint of a whole inventory read, and what a read that finds it again may leave
out (pure functions; see docs/inventory.md, "An unchanged tenant").

The fingerprint is kept in the tenant's device state by the engine once a complete read was
fully written. It is ``<format>.<digest of the read>.<digest of the device listing>``:

- the read's digest covers the three listings' pages as Graph sent them, every app's
  devices and the export columns (details are re-read only when a device's check-in time,
  which is in the device listing, changes);
- the device listing's digest alone tells the next read that no device checked in since
  the last written read, so that it needs no stored check-in times to know that no details
  are due;
- the format changes whenever what the digests cover, how Graph items become records or how
  records are stored changes: a fingerprint of another format matches nothing, so the first
  sync after an upgrade compares in full.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

FORMAT = "inv1"
_LISTINGS = ("devices", "detected_apps", "managed_apps")


def fingerprint(parts: Mapping[str, Sequence[Any]], listing_digests: Mapping[str, str]) -> str:
    """The fingerprint of a whole read from its parts (``links`` and ``extras``, as the
    cycle keeps them) and its listings' digests."""
    digest = hashlib.sha256("|".join(listing_digests.get(n, "") for n in _LISTINGS).encode())
    for links in parts.get("links", ()):
        for app in sorted(links):
            digest.update(app.to_bytes(4, "little") + links[app].tobytes())
    for rows in parts.get("extras", ()):
        for position in sorted(rows):
            digest.update(orjson.dumps([position, *rows[position]]))
    return f"{FORMAT}.{digest.hexdigest()}.{listing_digests.get('devices', '')}"


def known_device_listing(known: str) -> str:
    """The device listing's digest in a fingerprint of this format (else empty: nothing is
    known, and every check-in time is compared with the stored ones)."""
    found = known.split(".")
    if len(found) != 3 or found[0] != FORMAT or not found[1] or not found[2]:
        return ""
    return found[2]
