"""An ordered, read-only collection of rendered items that pages in O(page size).

Handlers take a reference to a Collection under the state lock and render outside it: a
Collection is never changed after it is built (control calls replace it whole), so no lock
is needed to read it. Each item's JSON is encoded once, the first time a page holds it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson


class Collection:
    """Items (dicts with an `id`) in a fixed order, with lookup by lower-case id."""

    __slots__ = ("_encoded", "_index", "_items", "_projected", "_selected")

    def __init__(self, items: Iterable[dict[str, Any]]) -> None:
        self._items: list[dict[str, Any]] = list(items)
        self._index = {str(item["id"]).lower(): pos for pos, item in enumerate(self._items)}
        self._encoded: list[bytes | None] = [None] * len(self._items)
        # (offset, size, $select) -> that page's projected items as JSON, once asked for.
        self._selected: dict[tuple[int, int, tuple[str, ...]], tuple[bytes, int]] = {}
        # $select -> each item's projection as JSON (by position), once asked for.
        self._projected: dict[tuple[str, ...], list[bytes | None]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Any:
        return iter(self._items)

    def get(self, item_id: str) -> dict[str, Any] | None:
        pos = self._index.get(item_id.lower())
        return None if pos is None else self._items[pos]

    def page(self, offset: int, size: int) -> list[dict[str, Any]]:
        """The items at offset..offset+size (a slice: O(size), whatever the length)."""
        return self._items[offset : offset + size]

    def position(self, item_id: str) -> int | None:
        """The position of the item with this id (compared without regard to case)."""
        return self._index.get(item_id.lower())

    def at(self, pos: int) -> dict[str, Any]:
        """The item at position `pos`."""
        return self._items[pos]

    def encoded_page(self, offset: int, size: int) -> list[bytes]:
        """The JSON of the items at offset..offset+size, cached per item."""
        return self.encoded_at(range(offset, min(offset + size, len(self._items))))

    def encoded_at(self, positions: Iterable[int]) -> list[bytes]:
        """The JSON of the items at `positions`, cached per item.

        Concurrent callers may encode the same item twice; both results are equal, so the
        race is harmless and needs no lock.
        """
        out: list[bytes] = []
        for pos in positions:
            cached = self._encoded[pos]
            if cached is None:
                cached = json.dumps(self._items[pos]).encode("utf-8")
                self._encoded[pos] = cached
            out.append(cached)
        return out

    def encoded_selected(
        self, offset: int, size: int, select: list[str],
        project: Callable[[dict[str, Any], list[str]], dict[str, Any]],
    ) -> tuple[bytes, int]:
        """The items at offset..offset+size reduced by ``project`` to ``select``, as the
        JSON of a list without its brackets, and how many there are; cached per page.

        Items are never changed in place (an edit builds a new collection), so a cached
        page cannot go stale. (Racing callers may both encode it; the results are equal.)
        """
        key = (offset, size, tuple(select))
        cached = self._selected.get(key)
        if cached is None:
            page = [project(item, select) for item in self._items[offset:offset + size]]
            # orjson: the simulator shares the benchmark's cores, so its encoding is kept cheap.
            cached = orjson.dumps(page)[1:-1], len(page)
            self._selected[key] = cached
        return cached

    def projected_at(
        self, positions: Iterable[int], select: list[str],
        project: Callable[[dict[str, Any], list[str]], dict[str, Any]],
    ) -> list[bytes]:
        """The JSON of the items at `positions` reduced by ``project`` to ``select``, cached
        per item: a subset's pages (an app's devices) share the items' projections.
        (Racing callers may both encode an item; the results are equal.)"""
        cache = self._projected.get(tuple(select))
        if cache is None:
            cache = self._projected.setdefault(tuple(select), [None] * len(self._items))
        out: list[bytes] = []
        for pos in positions:
            cached = cache[pos]
            if cached is None:
                cached = orjson.dumps(project(self._items[pos], select))
                cache[pos] = cached
            out.append(cached)
        return out

    def where(self, name: str, value: object) -> Collection:
        """A new collection of the items whose `name` equals `value` (same order)."""
        return Collection(item for item in self._items if item.get(name) == value)


class Subset:
    """Some items of a Collection (by position, in the given order), paged like one.

    The positions are typically an array slice (see inventory.py); the items and their
    cached JSON stay the Collection's, so a subset costs only its positions.
    """

    __slots__ = ("_base", "_positions")

    def __init__(self, base: Collection, positions: Sequence[int]) -> None:
        self._base = base
        self._positions = positions

    def __len__(self) -> int:
        return len(self._positions)

    def encoded_page(self, offset: int, size: int) -> list[bytes]:
        return self._base.encoded_at(self._positions[offset : offset + size])

    def encoded_selected(
        self, offset: int, size: int, select: list[str],
        project: Callable[[dict[str, Any], list[str]], dict[str, Any]],
    ) -> tuple[bytes, int]:
        """Like Collection.encoded_selected, from the base's per-item cache."""
        chunk = self._positions[offset : offset + size]
        return b",".join(self._base.projected_at(chunk, select, project)), len(chunk)
