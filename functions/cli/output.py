"""How the command line prints: the API's records as JSON, and text for people.

The JSON is the API's: a record is its pydantic model dumped in JSON mode, exactly what the
API answers; a list is the array of the items of every page, streamed as the pages come.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from functions.api.paging import MAX_PAGE_SIZE, PageRequest


class Paged(Protocol):
    """An API list's page: its items and the token of the next (None on the last)."""

    @property
    def continuationToken(self) -> str | None: ...  # the API's field name


P = TypeVar("P", bound=Paged)
R = TypeVar("R", bound=BaseModel)


def as_json(record: BaseModel) -> Any:
    """What the API's JSON answer holds for ``record``."""
    return record.model_dump(mode="json")


def print_record(record: BaseModel) -> None:
    print(json.dumps(as_json(record), indent=2), flush=True)


def print_line(record: BaseModel) -> None:
    """One record on one line, at once (for output read as it comes)."""
    print(json.dumps(as_json(record)), flush=True)


def print_items(items: Iterable[BaseModel]) -> int:
    """A JSON array of ``items``, written as they come (one item a line); returns how many."""
    count = 0
    out = sys.stdout
    out.write("[")
    for item in items:
        out.write(",\n " if count else "\n ")
        out.write(json.dumps(as_json(item)))
        count += 1
    out.write("\n]\n" if count else "]\n")
    out.flush()
    return count


def pages(list_page: Callable[..., P], **params: Any) -> Iterator[Any]:
    """Every item of an API list operation, page after page (the largest pages).

    The first page is read at once: an error is raised before anything is printed.
    """
    first = list_page(page=PageRequest(MAX_PAGE_SIZE, None), **params)
    return _following(first, list_page, params)


def _following(page: P, list_page: Callable[..., P], params: dict[str, Any]) -> Iterator[Any]:
    while True:
        yield from page.items  # type: ignore[attr-defined]
        if not page.continuationToken:
            return
        page = list_page(page=PageRequest(MAX_PAGE_SIZE, page.continuationToken), **params)


def when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else ""


@dataclass(frozen=True)
class Column:
    header: str
    width: int  # 0: as wide as it needs (the last column)


class Table:
    """Rows printed as they come, in columns of fixed width (longer cells are cut)."""

    def __init__(self, *columns: Column) -> None:
        self.columns = columns
        self.rows = 0
        self._line([c.header for c in columns])

    def row(self, *cells: object) -> None:
        self._line(["" if c is None else str(c) for c in cells])
        self.rows += 1

    def _line(self, cells: list[str]) -> None:
        parts = []
        for column, cell in zip(self.columns, cells, strict=True):
            if column.width:
                cut = cell if len(cell) <= column.width else cell[: column.width - 1] + "…"
                parts.append(cut.ljust(column.width))
            else:
                parts.append(cell)
        print("  ".join(parts).rstrip())


def plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"
