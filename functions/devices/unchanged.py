"""The fingerprint of a whole inventory read, and what a read that finds it again may leave
out (pure functions; see docs/inventory.md, "An unchanged tenant").

The fingerprint is kept in the tenant's device state by the engine once a complete read was
fully written. It is ``<format>.<digest of the read>.<digest of the device listing>.<digest
of the three listings>``:

- the read's digest covers the three listings' pages as Graph sent them, every app's devices
  as Graph listed them (``software_digest``) and the export columns (details are re-read
  only when a device's check-in time, which is in the device listing, changes);
- the device listing's digest alone tells the next read that no device checked in since
  the last written read, so that it needs no stored check-in times to know that no details
  are due;
- the three listings' digest tells the next read, as soon as it has listed, whether it may
  still turn out unchanged: only then does it put off turning the apps' devices into links;
- the format changes whenever what the digests cover, how Graph items become records or how
  records are stored changes: a fingerprint of another format matches nothing, so the first
  sync after an upgrade compares in full.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

FORMAT = "inv3"
SOFTWARE = "software"  # the key of the apps' devices' digest among a read's digests
_LISTINGS = ("devices", "detected_apps", "managed_apps")


def software_digest(previous: str, found: Mapping[int, bytes]) -> str:
    """``previous`` (a read's digest of the apps' devices so far) followed by more apps (by
    position) and their devices (``devices_as_read``), an app at a time in app order:
    however the apps were cut into chunks, the same apps make the same digest. A hex text:
    it is kept in the read's checkpoint, so a resumed read goes on with it. Devices listed
    in another order make another digest: a full comparison, never a wrong skip."""
    for app in sorted(found):
        previous = hashlib.sha256(
            f"{previous}|{app}|".encode() + found[app]).hexdigest()
    return previous


def add_software(digests: dict[str, str], found: Mapping[int, bytes]) -> None:
    """Go on with a read's digest of the apps' devices (kept among its ``digests``)."""
    digests[SOFTWARE] = software_digest(digests.get(SOFTWARE, ""), found)


def devices_as_read(devices: Sequence[str] | Sequence[int] | array[int]) -> bytes:
    """An app's devices as digested and held: the ids as read, one a line (or, on the export
    path, the device positions the report gave, as JSON). One bytes object, not thousands
    of strings: holding them does not keep the parser from reusing their memory.

    Lines, not JSON, for ids: ``orjson.dumps`` grows its buffer with ``realloc``, which in
    a worker process's fragmented heap cost 20% of an unchanged sync's CPU (py-spy and perf
    of the MSP benchmark); a join allocates once. A device id is a GUID; a list that lines
    could not give back exactly (an id that is empty, starts with ``[`` or holds a line
    break) is kept as JSON, which starts with ``[``."""
    if isinstance(devices, array):
        return orjson.dumps(devices.tolist())
    first = devices[0] if devices else None
    if isinstance(first, str) and first[:1] != "[":
        joined = "\n".join(devices)  # type: ignore[arg-type]  # the first is a str: all are
        if (joined and joined.count("\n") == len(devices) - 1 and "\n\n" not in joined
                and joined[0] != "\n" and joined[-1] != "\n"):
            return joined.encode()
    return orjson.dumps(list(devices))


def ids_as_read(held: bytes) -> list[str]:
    """The device ids ``devices_as_read`` kept, in their order."""
    if not held or held[:1] == b"[":
        found: list[str] = orjson.loads(held) if held else []
        return found
    return held.decode().split("\n")


def listings_digest(digests: Mapping[str, str]) -> str:
    """One digest of the three listings' (empty unless all three were read whole)."""
    found = [digests.get(name, "") for name in _LISTINGS]
    return hashlib.sha256("|".join(found).encode()).hexdigest() if all(found) else ""


def fingerprint(parts: Mapping[str, Sequence[Any]], digests: Mapping[str, str]) -> str:
    """The fingerprint of a whole read from its export columns (``extras`` parts, as the
    cycle keeps them) and its digests (the listings' and the apps' devices')."""
    found = [digests.get(n, "") for n in _LISTINGS]
    digest = hashlib.sha256("|".join([*found, digests.get(SOFTWARE, "")]).encode())
    for rows in parts.get("extras", ()):
        for position in sorted(rows):
            digest.update(orjson.dumps([position, *rows[position]]))
    return (f"{FORMAT}.{digest.hexdigest()}.{digests.get('devices', '')}."
            f"{listings_digest(digests)}")


def _known(known: str, index: int) -> str:
    found = known.split(".")
    if len(found) != 4 or found[0] != FORMAT or not all(found[1:]):
        return ""
    return found[index]


def known_device_listing(known: str) -> str:
    """The device listing's digest in a fingerprint of this format (else empty: nothing is
    known, and every check-in time is compared with the stored ones)."""
    return _known(known, 2)


def may_be_unchanged(known: str, digests: Mapping[str, str]) -> bool:
    """Whether a read whose listings have these ``digests`` may still find ``known`` again
    (listed exactly as then); if not, it turns the apps' devices into links as it reads."""
    listed = _known(known, 3)
    return bool(listed) and listed == listings_digest(digests)
