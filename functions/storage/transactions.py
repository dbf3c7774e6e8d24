"""Batch transactions (upserts, and any mix of inserts, ETag-checked updates and deletes),
encoded by us and sent through the table client's own pipeline (its credential, retries
and request hooks).

azure-data-tables builds a transaction as one azure-core request object per entity, encodes
them with the standard library's ``email`` package and parses the answer the same way: about
0.7 ms of CPU an entity, most of a first directory sync's time (docs/benchmarks.md). Here the
entity JSON is encoded once with orjson and the multipart body is plain bytes; the answer's
parts are read for their status lines only (a write answers 204 with no body).
"""

from __future__ import annotations

import base64
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import orjson
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.data.tables import TableClient, UpdateMode
from azure.data.tables._serialize import _add_entity_properties

from functions.storage.transport import request_id

_INT32 = 2**31
# The answer of each operation of a changeset starts with its status line.
_STATUS_LINE = re.compile(rb"^HTTP/1\.1 (\d{3})", re.MULTILINE)
_ETAG = re.compile(rb"^etag:[ \t]*([^\r\n]+)", re.MULTILINE | re.IGNORECASE)


def entity_json(entity: Mapping[str, Any]) -> bytes:
    """An entity as Table Storage's JSON, the same properties and types the SDK sends.

    Strings, booleans, 32-bit integers and binary values are encoded here; an entity with
    any other value (datetimes, GUIDs, typed tuples, 64-bit integers, ...) goes through the
    SDK's own conversion, so that every type keeps the SDK's meaning.
    """
    body: dict[str, Any] = {}
    for name, value in entity.items():
        kind = type(value)
        if kind is str or kind is bool or (kind is int and -_INT32 <= value < _INT32):
            body[name] = value
        elif kind is bytes:
            # Table Storage's JSON carries binary properties base64-encoded, typed Edm.Binary.
            body[name] = base64.b64encode(value).decode()
            body[name + "@odata.type"] = "Edm.Binary"
        elif value is None:
            continue  # as the SDK: a None property is not sent
        elif kind is float and math.isfinite(value):
            body[name] = value
            body[name + "@odata.type"] = "Edm.Double"
        else:
            return orjson.dumps(_add_entity_properties(entity))
    return orjson.dumps(body)


def _entity_url(base: str, entity: Mapping[str, Any]) -> str:
    # OData key syntax: quotes doubled inside the literal, then the literal URL-encoded.
    pk = quote(str(entity["PartitionKey"]).replace("'", "''"), safe="")
    rk = quote(str(entity["RowKey"]).replace("'", "''"), safe="")
    return f"{base}(PartitionKey='{pk}',RowKey='{rk}')"


_REPLACE = {"mode": UpdateMode.REPLACE}
# One operation of a changeset, as ``TableClient.submit_transaction`` takes it: ("create",
# entity), ("upsert", entity[, {"mode"}]), ("update", entity[, {"mode", "etag"}]) or
# ("delete", keys[, {"etag"}]).
Operation = tuple[Any, ...]


def _request_line(table_url: str, operation: Operation) -> tuple[str, str | None, bool]:
    """An operation's method and URL, its If-Match (None: insert or write whatever is
    stored) and whether it sends the entity."""
    kind, entity = operation[0], operation[1]
    options: Mapping[str, Any] = operation[2] if len(operation) > 2 else {}
    merge = UpdateMode(options.get("mode", UpdateMode.MERGE)) == UpdateMode.MERGE  # SDK default
    url = _entity_url(table_url, entity)
    if kind == "create":
        return f"POST {table_url}", None, True
    if kind == "upsert":  # Insert Or Replace (PUT) / Insert Or Merge (PATCH): no If-Match
        return f"{'PATCH' if merge else 'PUT'} {url}", None, True
    if kind == "update":  # the stored entity must exist (and have ``etag``, if given)
        return f"{'PATCH' if merge else 'PUT'} {url}", options.get("etag") or "*", True
    if kind == "delete":
        return f"DELETE {url}", options.get("etag") or "*", False
    raise ValueError(f"unknown transaction operation {kind!r}")


def changeset_body(table_url: str, operations: Sequence[Operation], version: str,
                   batch: str, changeset: str) -> bytes:
    """The ``$batch`` body of one changeset of ``operations``, each as the SDK sends it
    (an insert asks for no echo of the entity: Prefer: return-no-content)."""
    head = (f"Content-Type: application/json\r\nx-ms-version: {version}\r\n"
            "DataServiceVersion: 3.0\r\nAccept: application/json\r\n")
    parts = [f"--{batch}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n".encode()]
    for n, operation in enumerate(operations):
        line, if_match, sends = _request_line(table_url, operation)
        data = entity_json(operation[1]) if sends else b""
        extra = f"If-Match: {if_match}\r\n" if if_match else ""
        if operation[0] == "create":
            extra += "Prefer: return-no-content\r\n"
        parts.append(
            f"--{changeset}\r\nContent-Type: application/http\r\n"
            f"Content-Transfer-Encoding: binary\r\nContent-ID: {n}\r\n\r\n"
            f"{line} HTTP/1.1\r\n{head}{extra}"
            f"Content-Length: {len(data)}\r\n\r\n".encode())
        parts.append(data)
        parts.append(b"\r\n")
    parts.append(f"--{changeset}--\r\n\r\n--{batch}--\r\n".encode())
    return b"".join(parts)


def submit_upserts(client: TableClient, entities: Sequence[Mapping[str, Any]],
                   **pipeline: Any) -> None:
    """Replace-or-insert ``entities`` (one partition, at most 100) in one transaction
    (raises as :func:`submit`)."""
    submit(client, [("upsert", entity, _REPLACE) for entity in entities], **pipeline)


def submit(client: TableClient, operations: Sequence[Operation], **pipeline: Any) -> list[str]:
    """Apply ``operations`` (one partition, at most 100) in one transaction: all or none.
    Returns the new ETag of each operation (empty for a delete).

    Raises:
        HttpResponseError: the service refused the transaction (``status_code`` is that of
        the operation that failed: 404 gone, 409 exists, 412 changed); nothing of it was
        written.
        AzureError: the request failed on the way (after the pipeline's retries).
    """
    # The table client's own account URL and service version (private in 12.x; the tests
    # in tests/test_storage_transactions.py pin them against Azurite).
    account_url = f"{client.scheme}://{client._primary_hostname}"
    version = client.api_version
    batch, changeset = f"batch_{uuid.uuid4()}", f"changeset_{uuid.uuid4()}"
    body = changeset_body(f"{account_url}/{client.table_name}", operations, version, batch,
                          changeset)
    request = HttpRequest(
        "POST", f"{account_url}/$batch", content=body,
        headers={"x-ms-version": version, "DataServiceVersion": "3.0",
                 "MaxDataServiceVersion": "3.0;NetFx",
                 "Content-Type": f"multipart/mixed; boundary={batch}",
                 "Accept": "application/json", "x-ms-client-request-id": request_id()},
    )
    # Streamed: the pipeline would otherwise try to decode a multipart answer as JSON.
    response = client._client.send_request(request, stream=True, **pipeline)
    answer = response.read()
    if response.status_code != 202:
        raise HttpResponseError(response=response)
    starts = [m.start() for m in _STATUS_LINE.finditer(answer)]
    statuses = [int(answer[s + 9:s + 12]) for s in starts]
    failed = next((s for s in statuses if not 200 <= s < 300), None)
    if failed is not None or len(statuses) != len(operations):
        # A refused changeset answers with the one operation that failed.
        error = HttpResponseError(
            message=f"Table Storage refused the transaction (HTTP {failed})", response=response)
        error.status_code = failed or response.status_code
        raise error
    # Each operation's answer, from its status line to the next, carries its new ETag.
    etags = []
    for start, end in zip(starts, [*starts[1:], len(answer)], strict=True):
        found = _ETAG.search(answer, start, end)
        etags.append(found.group(1).decode().strip() if found else "")
    return etags
