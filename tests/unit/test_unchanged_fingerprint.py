"""The inventory read's fingerprint: any differing link, column or listing changes it; only
a fingerprint of this format says how the devices (and the three listings) were listed; and
the apps' devices a read holds become exactly the links it would have made at once."""

from __future__ import annotations

from array import array
from typing import Any

import pytest

from functions.devices.parts import HeldLinks, links_from_ids
from functions.devices.unchanged import (
    FORMAT,
    SOFTWARE,
    devices_as_read,
    fingerprint,
    ids_as_read,
    known_device_listing,
    listings_digest,
    may_be_unchanged,
    software_digest,
)

LISTINGS = {"devices": "d" * 64, "detected_apps": "a" * 64, "managed_apps": "m" * 64}
APPS: dict[int, list[str]] = {0: ["dev-b", "dev-a"], 1: ["dev-c"]}


def read(apps: dict[int, list[str]]) -> dict[int, bytes]:
    return {app: devices_as_read(ids) for app, ids in apps.items()}


def digests(apps: dict[int, list[str]] | None = None, **listings: str) -> dict[str, str]:
    return {**LISTINGS, **listings,
            SOFTWARE: software_digest("", read(APPS if apps is None else apps))}


def parts(*, column: str = "x64") -> dict[str, Any]:
    return {"extras": [{2: (column, "1.0")}]}


def test_equal_reads_have_equal_fingerprints_of_this_format() -> None:
    found = fingerprint(parts(), digests())
    assert found == fingerprint(parts(), dict(digests()))
    assert found.startswith(f"{FORMAT}.")
    assert known_device_listing(found) == LISTINGS["devices"]
    assert may_be_unchanged(found, digests())


def test_one_link_one_column_or_one_listing_changes_the_fingerprint() -> None:
    found = fingerprint(parts(), digests())
    assert fingerprint(parts(), digests({0: ["dev-b", "dev-a"], 1: ["dev-d"]})) != found
    assert fingerprint(parts(), digests({0: ["dev-b", "dev-a"], 1: []})) != found
    assert fingerprint(parts(), digests({0: ["dev-b", "dev-a"]})) != found
    assert fingerprint(parts(column="arm64"), digests()) != found
    assert fingerprint(parts(), digests(managed_apps="n" * 64)) != found
    moved = fingerprint(parts(), digests(devices="e" * 64))
    assert moved != found and known_device_listing(moved) == "e" * 64


def test_the_apps_devices_digest_goes_on_chunk_by_chunk_and_any_difference_shows() -> None:
    whole = software_digest("", read(APPS))
    # A resumed read goes on from the digest its checkpoint kept, whatever the chunks.
    first = software_digest("", read({0: ["dev-b", "dev-a"]}))
    assert software_digest(first, read({1: ["dev-c"]})) == whole
    # Batch answers come in any order: the apps are taken in their order.
    assert software_digest("", read({1: ["dev-c"], 0: ["dev-b", "dev-a"]})) == whole
    # Devices listed in another order: another digest (a full comparison, never a skip).
    assert software_digest("", read({0: ["dev-a", "dev-b"], 1: ["dev-c"]})) != whole
    assert software_digest("", read({0: ["dev-b", "dev-a"], 2: ["dev-c"]})) != whole
    assert software_digest("", read({0: ["dev-b"], 1: ["dev-a", "dev-c"]})) != whole
    # The export path's positions are digested as the ids are.
    assert devices_as_read(array("I", [3, 1])) == devices_as_read([3, 1])  # type: ignore[list-item]


@pytest.mark.parametrize("ids", [
    ["1b7e0c52-3f7a-4c2e-9a53-0d2f6f0e3c11", "0a6c2d3e-9f1b-4a8e-b7c5-2e4d6f8a1b3c"], ["x"],
    [], [""], ["a", ""], ["", "a"], ["a\nb"], ["a", "b\n"], ["[1]", "b"], ["b", "[1]"]])
def test_held_devices_come_back_exactly_and_differ_whenever_the_lists_do(ids: list[str]) -> None:
    held = devices_as_read(ids)
    assert ids_as_read(held) == ids
    # Lines are ambiguous only where JSON is kept: two lists never make the same bytes.
    others = [["a", "b"], ["a\nb"], ["ab"], [], [""], ["a"], ["[1]", "b"], ["[1]\nb"]]
    assert all(devices_as_read(o) != held for o in others if o != ids)


def test_only_a_read_listed_exactly_as_the_known_one_may_be_unchanged() -> None:
    found = fingerprint(parts(), digests())
    assert not may_be_unchanged(found, digests(detected_apps="b" * 64))
    assert not may_be_unchanged(found, {"devices": "d" * 64, "detected_apps": "a" * 64})
    assert not may_be_unchanged("", digests())
    assert listings_digest({"devices": "d" * 64}) == ""  # a listing not read: nothing


def test_another_format_an_older_digest_or_none_says_nothing_of_the_listing() -> None:
    found = fingerprint(parts(), digests())
    older = found.replace(f"{FORMAT}.", "inv0.", 1)
    assert known_device_listing(older) == "" and not may_be_unchanged(older, digests())
    assert known_device_listing("f" * 64) == ""  # as versions before the format kept it
    assert known_device_listing("") == ""
    assert known_device_listing(f"{FORMAT}..{'d' * 64}.{'l' * 64}") == ""
    inv1 = f"inv1.{'r' * 64}.{'d' * 64}"  # the format before this one: three parts
    assert known_device_listing(inv1) == "" and not may_be_unchanged(inv1, digests())


def test_held_devices_become_the_links_made_at_once_and_unlisted_ones_are_left_out() -> None:
    positions = {"dev-a": 0, "dev-b": 1, "dev-c": 2}
    found = {0: ["dev-b", "dev-a", "dev-new"], 1: ["dev-c"], 2: [], 3: ["dev-a"]}
    held = HeldLinks()
    held.hold(read({0: found[0], 1: found[1]}))
    held.hold(read({2: found[2], 3: found[3]}))
    released = held.release(positions, 2)
    assert [{a: list(p) for a, p in part.items()} for part in released] == [
        {0: [0, 1], 1: [2]}, {3: [0]}]
    assert {a: list(p) for a, p in links_from_ids(found, positions).items()} == {
        0: [0, 1], 1: [2], 3: [0]}
    assert held.release(positions, 2) == []  # released once: nothing is held any more
    held.hold(read({1: ["dev-a"]}))
    then = held.release(positions, 2, {5: ["dev-c", "dev-gone"], 6: []})
    assert [{a: list(p) for a, p in part.items()} for part in then] == [{1: [0]}, {5: [2]}]


def test_holding_more_than_the_limit_asks_for_a_release() -> None:
    held = HeldLinks()
    held.hold({0: b"x" * HeldLinks.LIMIT})
    assert not held.full
    held.hold({1: b"x"})
    assert held.full
    held.drop()
    assert not held.full and held.release({"dev": 0}, 10) == []
