"""Transactions of inserts, ETag-checked replaces and deletes encoded by tenantsync
(functions/storage/changesets.py), against Azurite: each operation does what the SDK's does,
the ETags returned are those stored, and a refusal names the operation's status with
nothing of the transaction written."""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import HttpResponseError

from functions.storage import meter
from functions.storage.changesets import CREATE, DELETE, REPLACE, submit_changeset
from functions.storage.tables import TableStore


def _row(pk: str, rk: str, **values: object) -> dict[str, object]:
    return {"PartitionKey": pk, "RowKey": rk, **values}


def test_a_changeset_inserts_replaces_if_unchanged_and_deletes_at_once(
        store: TableStore) -> None:
    pk = str(uuid.uuid4())
    store.upsert("rows", _row(pk, "head", Seq=1))
    store.upsert("rows", _row(pk, "intent-x", Count=2))
    head, etag = store.get_versioned("rows", pk, "head") or ({}, "")
    sent = meter.storage_operations()
    etags = submit_changeset(store.table("rows"), [
        (CREATE, _row(pk, "000000000002", Blob=b"\x00\xffdata", Text="it's é"), None),
        (DELETE, _row(pk, "intent-x"), "*"),
        (REPLACE, {**head, "Seq": 3}, etag)])
    assert meter.storage_operations() == sent + 1  # one request, counted by the meter
    assert store.get("rows", pk, "intent-x") is None
    block = store.get("rows", pk, "000000000002")
    assert block is not None and bytes(block["Blob"]) == b"\x00\xffdata"
    assert block["Text"] == "it's é"
    now = store.get_versioned("rows", pk, "head")
    assert now is not None and now[0]["Seq"] == 3
    assert etags[1] == "" and etags[2] == now[1] != etag  # the head's new ETag, as stored
    assert etags[0] == (store.get_versioned("rows", pk, "000000000002") or ({}, ""))[1]


@pytest.mark.parametrize(("operation", "status"), [
    ("replace a changed row", 412), ("insert a row that exists", 409),
    ("delete a row that is gone", 404)])
def test_a_refused_operation_fails_the_whole_changeset_with_its_status(
        store: TableStore, operation: str, status: int) -> None:
    pk = str(uuid.uuid4())
    store.upsert("rows", _row(pk, "head", Seq=1))
    _, etag = store.get_versioned("rows", pk, "head") or ({}, "")
    store.upsert("rows", _row(pk, "head", Seq=2))  # changed since that ETag
    refused = {412: (REPLACE, _row(pk, "head", Seq=9), etag),
               409: (CREATE, _row(pk, "head", Seq=9), None),
               404: (DELETE, _row(pk, "gone"), "*")}[status]
    with pytest.raises(HttpResponseError) as failed:
        submit_changeset(store.table("rows"), [(CREATE, _row(pk, "new"), None), refused])
    assert failed.value.status_code == status, operation
    assert store.get("rows", pk, "new") is None  # atomic: nothing of it was written
    assert (store.get("rows", pk, "head") or {})["Seq"] == 2
