"""Point operations on one entity (insert, replace, merge, read, delete), encoded by us and
sent through the table client's own pipeline (its credential, retries and request hooks).

azure-data-tables spends most of a point operation's CPU outside the wire: msrest's
serialisation of the entity, the generated operation's request builder, its JSON decoding
of the answer and the tracing decorator around every call (about 1.3-2 ms an operation,
docs/benchmarks.md). Here an entity is encoded once with orjson (``entity_json``, as for
transactions), a write asks for no answer body, and a read is decoded with orjson and then
converted by the SDK's own converter, so that every value has the SDK's type.

Failures raise what the SDK raises for the same answer: ``ResourceNotFoundError`` (404),
``ResourceExistsError`` (409), ``ResourceModifiedError`` (412), ``HttpResponseError``
(any other refusal), so callers map them as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import orjson
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.core.rest import HttpRequest, HttpResponse
from azure.data.tables import TableClient
from azure.data.tables._deserialize import _convert_to_entity

from functions.storage.transactions import entity_json
from functions.storage.transport import request_id

# The answer statuses that mean what the SDK raises these for (azure-core's map_error and
# azure-data-tables' _decode_error: 409 on an insert, 412 on an If-Match that failed).
_REFUSALS: dict[int, type[HttpResponseError]] = {
    404: ResourceNotFoundError, 409: ResourceExistsError, 412: ResourceModifiedError}


def _headers(client: TableClient, accept: str) -> dict[str, str]:
    return {"x-ms-version": client.api_version, "DataServiceVersion": "3.0", "Accept": accept,
            "x-ms-client-request-id": request_id()}


def _entity_url(client: TableClient, partition: str, row: str) -> str:
    # OData key syntax (Table Storage, "Addressing table resources"): a quote inside a key
    # literal is doubled, then the literal is URL-encoded.
    pk = quote(partition.replace("'", "''"), safe="")
    rk = quote(row.replace("'", "''"), safe="")
    return (f"{client.scheme}://{client._primary_hostname}/{client.table_name}"
            f"(PartitionKey='{pk}',RowKey='{rk}')")


def send(client: TableClient, request: HttpRequest, expected: int,
         **pipeline: Any) -> HttpResponse:
    # Streamed: the pipeline's decode policy would otherwise parse every answer as JSON.
    response = client._client.send_request(request, stream=True, **pipeline)
    response.read()
    if response.status_code != expected:
        error = _REFUSALS.get(response.status_code, HttpResponseError)
        raise error(message=f"Table Storage answered HTTP {response.status_code}",
                    response=response)
    return response


def _etag(response: HttpResponse) -> str:
    return str(response.headers.get("ETag", ""))


def create(client: TableClient, entity: Mapping[str, Any], **pipeline: Any) -> str:
    """Insert an entity (Insert Entity: fails with 409 if its keys are taken); its ETag.
    ``pipeline``: keywords for this request's pipeline (``retry_on_methods``)."""
    headers = _headers(client, "application/json;odata=nometadata")
    headers["Content-Type"] = "application/json;odata=nometadata"
    # Insert Entity answers 204 without echoing the entity when asked (Prefer header).
    headers["Prefer"] = "return-no-content"
    url = f"{client.scheme}://{client._primary_hostname}/{client.table_name}"
    request = HttpRequest("POST", url, headers=headers, content=entity_json(entity))
    return _etag(send(client, request, 204, **pipeline))


def update(client: TableClient, entity: Mapping[str, Any], *, merge: bool,
           if_match: str | None) -> str:
    """Replace (PUT) or merge (PATCH) an entity; its new ETag.

    ``if_match``: an ETag that the stored entity must still have (412 if not), ``"*"`` for
    any stored entity (404 if there is none), or None to insert it if it is missing (Insert
    Or Replace / Insert Or Merge Entity).
    """
    headers = _headers(client, "application/json")
    headers["Content-Type"] = "application/json"
    if if_match is not None:
        headers["If-Match"] = if_match
    url = _entity_url(client, str(entity["PartitionKey"]), str(entity["RowKey"]))
    request = HttpRequest("PATCH" if merge else "PUT", url, headers=headers,
                          content=entity_json(entity))
    return _etag(send(client, request, 204))


def read(client: TableClient, partition: str, row: str) -> tuple[dict[str, Any], str]:
    """An entity, typed as the SDK's ``get_entity`` types it, and its ETag."""
    request = HttpRequest("GET", _entity_url(client, partition, row),
                          headers=_headers(client, "application/json;odata=minimalmetadata"))
    response = send(client, request, 200)
    entity = _convert_to_entity(orjson.loads(response.content))
    return dict(entity), str(entity.metadata["etag"] or _etag(response))


def delete(client: TableClient, partition: str, row: str, *, if_match: str = "*") -> None:
    """Delete an entity: one that still has ``if_match`` (412 if not), or any (``"*"``)."""
    headers = _headers(client, "application/json;odata=minimalmetadata")
    headers["If-Match"] = if_match
    request = HttpRequest("DELETE", _entity_url(client, partition, row), headers=headers)
    send(client, request, 204)
