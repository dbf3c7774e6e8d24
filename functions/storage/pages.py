"""Query pages (Query Entities), requested by us through the table client's own pipeline
and decoded with orjson: the SDK decodes each page twice (the pipeline's JSON decoding,
then msrest's model deserialisation), about 2.5x the CPU of this for a page of 1,000
entities (docs/benchmarks.md). Each entity is then typed by the SDK's own converter, so a
page holds the very values ``TableClient.query_entities`` yields.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import orjson
from azure.core.rest import HttpRequest
from azure.data.tables import TableClient, TableEntity
from azure.data.tables._deserialize import _convert_to_entity
from azure.data.tables._serialize import _parameter_filter_substitution

from functions.storage.points import send
from functions.storage.transport import request_id

# Query Entities answers with the next page's keys in these headers, none on the last page.
_NEXT_PARTITION = "x-ms-continuation-NextPartitionKey"
_NEXT_ROW = "x-ms-continuation-NextRowKey"


def query_page(client: TableClient, filter: str, parameters: Mapping[str, Any], *,
               page_size: int, select: Sequence[str] | None = None,
               continuation: Mapping[str, str] | None = None,
               ) -> tuple[list[dict[str, Any]], dict[str, str] | None]:
    """One page of entities (see ``_page``) and where the next page starts."""
    found, after = _page(client, filter, parameters, page_size=page_size, select=select,
                         continuation=continuation)
    return [dict(entity) for entity in found], after


def query_versioned(client: TableClient, filter: str, parameters: Mapping[str, Any], *,
                    page_size: int = 1000) -> Iterator[tuple[dict[str, Any], str]]:
    """Every entity matching the filter, each with its ETag, page after page (raises as
    ``_page``)."""
    after: dict[str, str] | None = None
    while True:
        found, after = _page(client, filter, parameters, page_size=page_size,
                             continuation=after)
        for entity in found:
            yield dict(entity), str(entity.metadata.get("etag") or "")
        if after is None:
            return


def _page(client: TableClient, filter: str, parameters: Mapping[str, Any], *,
          page_size: int, select: Sequence[str] | None = None,
          continuation: Mapping[str, str] | None = None,
          ) -> tuple[list[TableEntity], dict[str, str] | None]:
    """One page of entities matching a filter whose ``@name``s are ``parameters`` (quoted
    as the SDK quotes them), and where the next page starts (the keys the SDK's pager calls
    its continuation token), None after the last.

    Raises:
        ResourceNotFoundError: no such table.
        HttpResponseError: the service refused the query (400 for a bad filter or token).
        AzureError: the request failed on the way (after the pipeline's retries).
    """
    params = {"$top": str(page_size)}
    if filter:
        params["$filter"] = _parameter_filter_substitution(dict(parameters), filter)
    if select:
        params["$select"] = ",".join(select)
    if continuation:
        if continuation.get("PartitionKey"):
            params["NextPartitionKey"] = continuation["PartitionKey"]
        if continuation.get("RowKey"):
            params["NextRowKey"] = continuation["RowKey"]
    # Each value percent-encoded whole, as the SDK's serializer does (a quote, &, + or space
    # inside a filter's string literal must reach the service as it is).
    query = "&".join(f"{name}={quote(value, safe='')}" for name, value in params.items())
    request = HttpRequest(
        "GET", f"{client.scheme}://{client._primary_hostname}/{client.table_name}()?{query}",
        headers={"x-ms-version": client.api_version, "DataServiceVersion": "3.0",
                 "Accept": "application/json;odata=minimalmetadata",
                 "x-ms-client-request-id": request_id()})
    response = send(client, request, 200)
    entities = [_convert_to_entity(e) for e in orjson.loads(response.content)["value"]]
    headers = response.headers
    after = {key: value for key, value in (("PartitionKey", headers.get(_NEXT_PARTITION)),
                                           ("RowKey", headers.get(_NEXT_ROW))) if value}
    return entities, after or None
