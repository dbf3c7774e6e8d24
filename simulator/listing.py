"""Paged Graph collections for the Intune, organization and GDAP endpoints.

A ListSpec says how one collection pages ($top default and limit, fixed page size, which
$filter it takes); `parse_query` validates the query options and `page_response` renders
one page in O(page size) from a Collection.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

from . import paging
from .collection import Collection, Subset
from .graph import next_link, select_of
from .state import SimState
from .wire import GRAPH_JSON, Request, Response, graph_error, raw_json

_REJECTED = ("$orderby", "$search", "$expand", "$count", "$skip")
_FILTER = re.compile(r"^\s*([A-Za-z]+)\s+eq\s+'([^']*)'\s*$")
# Properties kept in every item whatever $select says.
_ALWAYS = ("@odata.type", "@odata.etag", "id")


@dataclass(frozen=True)
class ListSpec:
    """How one Graph collection answers list requests."""

    entity_set: str  # e.g. "deviceManagement/managedDevices"
    type_name: str  # e.g. "microsoft.graph.managedDevice" (named by $select errors)
    properties: frozenset[str]  # what $select may name
    default_top: int
    max_top: int
    clamp_top: bool = True  # $top above max_top: a page of max_top (False: 400)
    fixed_page: int | None = None  # a page size that ignores $top (detectedApps: 50)
    metadata: str = "/v1.0/$metadata#"
    count: bool = False  # send @odata.count (the number of items in the page)
    filters: tuple[str, ...] = ()  # properties that `$filter=<name> eq '<value>'` may use
    select_error: str = "BadRequest"


@dataclass(frozen=True)
class ListQuery:
    top: int
    offset: int
    page: int
    select: list[str] | None
    filter: tuple[str, str] | None


def _unsupported(req: Request, message: str) -> Response:
    return graph_error(req, 400, "Request_UnsupportedQuery", message)


def parse_query(state: SimState, req: Request, spec: ListSpec) -> ListQuery | Response:
    """The validated query options of a list request, or the 400 Graph sends."""
    query = req.query
    for option in _REJECTED:
        if option in query:
            return _unsupported(
                req, f"The query option '{option}' is not supported by the simulator."
            )
    where: tuple[str, str] | None = None
    if "$filter" in query:
        matched = _FILTER.match(query["$filter"])
        if not spec.filters or matched is None or matched.group(1) not in spec.filters:
            return _unsupported(req, f"The $filter '{query['$filter']}' is not simulated.")
        where = (matched.group(1), matched.group(2))
    top = spec.default_top
    if "$top" in query:
        raw = query["$top"]
        if not raw.isdigit() or int(raw) < 1:
            return graph_error(req, 400, "BadRequest", f"Invalid $top query option value '{raw}'.")
        top = int(raw)
        if top > spec.max_top and not spec.clamp_top:
            message = (
                f"The limit of '{spec.max_top}' for Top query has been exceeded. "
                f"The value from the incoming request is '{raw}'."
            )
            return graph_error(req, 400, "BadRequest", message)
        top = min(top, spec.max_top)
    start = paging.start_of(state.marker, query.get("$skiptoken"))
    if start is None:
        return graph_error(req, 400, "BadRequest", "The $skiptoken is not valid.")
    offset, page = start.offset, start.page
    select = select_of(req)
    for name in select or []:
        if name not in spec.properties and name not in _ALWAYS:
            message = f"Could not find a property named '{name}' on type '{spec.type_name}'."
            return graph_error(req, 400, spec.select_error, message)
    return ListQuery(top=top, offset=offset, page=page, select=select, filter=where)


def context_url(req: Request, spec: ListSpec, select: list[str] | None, suffix: str = "") -> str:
    chosen = f"({','.join(select)})" if select else ""
    return f"{req.base_url}{spec.metadata}{spec.entity_set}{chosen}{suffix}"


def project(item: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
    """`item` reduced to its always-kept properties and the selected ones (in $select order)."""
    if select is None:
        return item
    out = {name: item[name] for name in _ALWAYS if name in item}
    out.update({name: item.get(name) for name in _selected_rest(tuple(select)) if name not in out})
    return out


@functools.lru_cache(maxsize=256)
def _selected_rest(select: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(select))  # in $select order, each once


def page_response(
    state: SimState, req: Request, spec: ListSpec, query: ListQuery, items: Collection | Subset
) -> Response:
    """One page of `items`, with @odata.nextLink unless it is the last."""
    size = spec.fixed_page or query.top
    if query.select is None:
        chunks = items.encoded_page(query.offset, size)
        values, count = b", ".join(chunks), len(chunks)
    else:
        values, count = items.encoded_selected(query.offset, size, query.select, project)
    head: dict[str, Any] = {"@odata.context": context_url(req, spec, query.select)}
    if spec.count:
        head["@odata.count"] = count
    if query.offset + size < len(items):
        cursor = paging.Cursor(offset=query.offset + size, page=query.page + 1)
        head["@odata.nextLink"] = next_link(req, state, cursor, ("$top", "$select", "$filter"))
    prefix = json.dumps(head)[:-1].encode("utf-8")
    body = prefix + b', "value": [' + values + b"]}"
    return raw_json(200, body, GRAPH_JSON)


def entity_response(
    req: Request, spec: ListSpec, item: dict[str, Any], select: list[str] | None
) -> Response:
    """A single item (GET .../{id}), with its $entity context."""
    body = {"@odata.context": context_url(req, spec, select, "/$entity")}
    body.update(project(item, select))
    return raw_json(200, json.dumps(body).encode("utf-8"), GRAPH_JSON)
