"""The inventory read's fingerprint: any differing link, column or listing changes it, and
only a fingerprint of this format says how the devices were listed."""

from __future__ import annotations

from array import array
from typing import Any

from functions.devices.unchanged import FORMAT, fingerprint, known_device_listing

LISTINGS = {"devices": "d" * 64, "detected_apps": "a" * 64, "managed_apps": "m" * 64}


def parts(*, position: int = 7, column: str = "x64") -> dict[str, Any]:
    return {"links": [{0: array("I", [1, 2, position]), 1: array("I", [3])}],
            "extras": [{2: (column, "1.0")}]}


def test_equal_reads_have_equal_fingerprints_of_this_format() -> None:
    found = fingerprint(parts(), LISTINGS)
    assert found == fingerprint(parts(), dict(LISTINGS))
    assert found.startswith(f"{FORMAT}.")
    assert known_device_listing(found) == LISTINGS["devices"]


def test_one_link_one_column_or_one_listing_changes_the_fingerprint() -> None:
    found = fingerprint(parts(), LISTINGS)
    assert fingerprint(parts(position=8), LISTINGS) != found
    assert fingerprint(parts(column="arm64"), LISTINGS) != found
    assert fingerprint(parts(), {**LISTINGS, "managed_apps": "n" * 64}) != found
    moved = fingerprint(parts(), {**LISTINGS, "devices": "e" * 64})
    assert moved != found and known_device_listing(moved) == "e" * 64


def test_another_format_an_older_digest_or_none_says_nothing_of_the_listing() -> None:
    found = fingerprint(parts(), LISTINGS)
    assert known_device_listing(found.replace(f"{FORMAT}.", "inv0.", 1)) == ""
    assert known_device_listing("f" * 64) == ""  # as versions before the format kept it
    assert known_device_listing("") == ""
    assert known_device_listing(f"{FORMAT}..{'d' * 64}") == ""
