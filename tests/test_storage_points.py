"""Point operations encoded by tenantsync (functions/storage/points.py) and the job queue's
hand-built Put Message, against Azurite: a read gives the very values and types the SDK's
read gives, for every kind of entity tenantsync stores; a write stores what the SDK's write
stores; each refusal means what it meant through the SDK."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.data.tables import EdmType, EntityProperty, UpdateMode
from azure.storage.queue import QueueClient

from devstack.stack import AzuriteProcess
from functions.core.errors import StorageError
from functions.core.model import RunOptions, RunStatus, SyncKind, Trigger
from functions.storage import meter
from functions.storage.queues import JobQueue, SyncJob
from functions.storage.tables import TableStore
from tests.conftest import Harness
from tests.test_devices import connect, sync
from tests.world import Partner, World


def _typed(entity: dict[str, Any]) -> dict[str, tuple[type, Any]]:
    """Each value with its exact type: equal values of other types must not pass."""
    return {name: (type(value), value) for name, value in entity.items()}


def _every_kind(partition: str, n: int) -> dict[str, Any]:
    return {
        "PartitionKey": partition, "RowKey": f"r'{n} x é%20+&_{n:03d}",  # quote, %, UTF-8
        "Text": f"Zoë «{n}» \"quoted\" \\ \n line", "Empty": "", "Flag": n % 2 == 0,
        "Small": -n, "Limit": 2**31 - 1, "Big": EntityProperty(2**40 + n, EdmType.INT64),
        "Ratio": n / 7, "Whole": 2.0, "Blob": bytes(range(256)), "Missing": None,
        "When": datetime(2026, 12, 7, 17, 0, n % 60, 123456, tzinfo=UTC),
        "Typed": EntityProperty(str(uuid.UUID(int=n)), EdmType.GUID),
    }


def test_a_read_gives_every_value_and_type_the_sdk_read_gives(store: TableStore) -> None:
    partition = str(uuid.uuid4())
    sdk = store.table("rows")
    for n in range(3):
        sdk.create_entity(_every_kind(partition, n))
    for n in range(3):
        key = _every_kind(partition, n)["RowKey"]
        theirs = sdk.get_entity(partition, key)
        ours = store.get("rows", partition, key)
        assert ours is not None and _typed(ours) == _typed(dict(theirs))
        versioned = store.get_versioned("rows", partition, key)
        assert versioned is not None and versioned[1] == theirs.metadata["etag"]
        assert versioned[0]["When"] == datetime(2026, 12, 7, 17, 0, n, 123456, tzinfo=UTC)
        assert versioned[0]["Blob"] == bytes(range(256)) and versioned[0]["Big"].value == 2**40 + n


def test_every_entity_tenantsync_stores_reads_as_the_sdk_reads_it(
        harness: Harness, world: World) -> None:
    # A synced directory tenant and a synced device customer: tenants, runs, claims, states,
    # users, groups, devices, software, health, feed, budgets... whatever a sync stores.
    partner = Partner(world)
    customer = partner.customer("Beta", devices=3, detected=2, mobile=1)
    tenant = harness.start_onboarded()
    assert harness.sync(tenant).status == RunStatus.SUCCEEDED
    connect(harness, partner)
    harness.services.partners.discover(partner.id)
    assert sync(harness, customer).status == RunStatus.SUCCEEDED
    store = harness.services.tables
    rows = harness.entities()
    tables = {row["_table"] for row in rows}
    assert {harness.prefix + name for name in ("tenants", "runs", "claims")} <= tables
    assert len(tables) >= 8
    for row in rows:
        name = row.pop("_table")[len(harness.prefix):]
        etag = row.pop("_etag")
        ours = store.get_versioned(name, row["PartitionKey"], row["RowKey"])
        assert ours is not None, (name, row["RowKey"])
        assert _typed(ours[0]) == _typed(row), name
        assert ours[1] == etag


def test_writes_store_what_the_sdk_writes(store: TableStore) -> None:
    partition = str(uuid.uuid4())
    sdk = store.table("sdk")
    first, second = _every_kind(partition, 1), _every_kind(partition, 2)
    etag = store.insert_versioned("rows", first)
    sdk.create_entity(first)
    assert store.insert("rows", second) is True
    sdk.create_entity(second)
    changed = {**first, "Text": "changed", "Big": EntityProperty(-5, EdmType.INT64)}
    assert etag is not None
    new_etag = store.update_if_unchanged("rows", changed, etag)
    sdk.update_entity(changed, mode=UpdateMode.REPLACE)
    lease = {"PartitionKey": partition, "RowKey": first["RowKey"], "Lease": "soon"}
    assert new_etag is not None and store.update_if_unchanged("rows", lease, new_etag,
                                                              merge=True) is not None
    sdk.update_entity(lease, mode=UpdateMode.MERGE)
    assert store.merge("rows", {**lease, "Other": 7}) is True
    sdk.update_entity({**lease, "Other": 7}, mode=UpdateMode.MERGE)
    third = {**_every_kind(partition, 3), "Small": 9}
    store.upsert("rows", third)
    sdk.upsert_entity(third, mode=UpdateMode.REPLACE)
    ours = {e["RowKey"]: _typed(dict(e)) for e in store.table("rows").list_entities()}
    theirs = {e["RowKey"]: _typed(dict(e)) for e in sdk.list_entities()}
    assert len(ours) == 3 and ours == theirs
    # The ETag a write returns is the one the service holds now.
    latest = store.get_versioned("rows", partition, third["RowKey"])
    assert latest is not None
    assert store.update_if_unchanged("rows", third, latest[1]) is not None


def test_each_refusal_means_what_it_meant_through_the_sdk(store: TableStore) -> None:
    partition = str(uuid.uuid4())
    row = {"PartitionKey": partition, "RowKey": "a", "N": 1}
    etag = store.insert_versioned("rows", row)
    assert etag is not None
    assert store.insert_versioned("rows", row) is None  # 409: keys taken, nothing written
    assert store.insert("rows", {**row, "N": 2}) is False
    fresh = store.update_if_unchanged("rows", {**row, "N": 3}, etag)
    assert fresh is not None
    assert store.update_if_unchanged("rows", {**row, "N": 4}, etag) is None  # 412: stale
    assert store.delete_if_unchanged("rows", partition, "a", etag) is False
    stored = store.get("rows", partition, "a")
    assert stored is not None and stored["N"] == 3
    missing = {"PartitionKey": partition, "RowKey": "none", "N": 1}
    assert store.update_if_unchanged("rows", missing, fresh) is None  # 404
    assert store.merge("rows", missing) is False
    assert store.get("rows", partition, "none") is None
    assert store.get_versioned("rows", partition, "none") is None
    store.delete("rows", partition, "none")  # already gone: no error
    assert store.delete_if_unchanged("rows", partition, "a", fresh) is True
    assert store.get("rows", partition, "a") is None
    assert store.delete_if_unchanged("rows", partition, "a", fresh) is True  # gone counts
    # A table that does not exist: reads find nothing, writes fail with the status only.
    assert store.get("nosuchtable", partition, "a") is None
    with pytest.raises(StorageError) as refused:
        store.insert_versioned("nosuchtable", row)
    assert str(refused.value) == ("Table Storage could not write nosuchtable (HTTP 404); "
                                  "will retry on the next run")
    with pytest.raises(StorageError, match=r"could not write rows \(HTTP 400\)"):
        store.upsert("rows", {**row, "Text": "x" * 70_000})  # over 64 KiB: refused


def test_each_point_operation_is_one_metered_request_against_its_table(
        store: TableStore) -> None:
    partition, table = str(uuid.uuid4()), store._prefix + "rows"

    def sent() -> dict[str, int]:
        return {method: n for (method, name), n in meter.operations_by_table().items()
                if name == table}

    before = sent()
    row = {"PartitionKey": partition, "RowKey": "a"}
    etag = store.insert_versioned("rows", row)
    assert etag is not None
    store.get_versioned("rows", partition, "a")
    store.update_if_unchanged("rows", row, etag)
    store.merge("rows", row)
    store.delete("rows", partition, "a")
    after = sent()
    assert {m: after.get(m, 0) - before.get(m, 0) for m in after} == {
        "POST": 1, "GET": 1, "PUT": 1, "PATCH": 1, "DELETE": 1}


def test_a_query_gives_what_the_sdks_query_gives_page_by_page(store: TableStore) -> None:
    partition, other = str(uuid.uuid4()), str(uuid.uuid4())
    rows = [_every_kind(partition, n) for n in range(25)] + [_every_kind(other, 1)]
    rows[7]["Text"] = "it's a & b + c é"
    store.write("rows", rows)
    sdk = store.table("rows")
    where = {"pk": partition}
    theirs = [_typed(dict(e)) for e in sdk.query_entities(
        "PartitionKey eq @pk", parameters=where, results_per_page=10)]
    assert len(theirs) == 25
    assert [_typed(e) for e in store.query("rows", "PartitionKey eq @pk", where,
                                           page_size=10)] == theirs
    columns = ("RowKey", "Text", "Big")
    assert [_typed(e) for e in store.query("rows", "PartitionKey eq @pk", where,
                                           select=columns)] == [
        _typed(dict(e)) for e in sdk.query_entities(
            "PartitionKey eq @pk", parameters=where, select=list(columns))]
    # A string literal with a quote, &, + and UTF-8 reaches the service as it is.
    found = list(store.query("rows", "Text eq @t", {"t": "it's a & b + c é"}))
    assert [e["RowKey"] for e in found] == [rows[7]["RowKey"]]
    before = meter.operations_by_table().get(("GET", store._prefix + "rows"), 0)
    keys, token, pages = [], None, 0
    while True:
        page, token = store.query_page("rows", "PartitionKey eq @pk", where, page_size=10,
                                       continuation=token)
        keys.extend(e["RowKey"] for e in page)
        pages += 1
        if token is None:
            break
    assert keys == [t["RowKey"][1] for t in theirs] and pages == 3
    assert meter.operations_by_table()[("GET", store._prefix + "rows")] - before == 3
    assert list(store.query("nosuchtable", "PartitionKey eq @pk", where)) == []


@pytest.fixture
def queue(azurite: AzuriteProcess) -> Iterator[JobQueue]:
    name = "p" + uuid.uuid4().hex[:10]
    jobs = JobQueue.from_connection_string(azurite.connection_string, name)
    jobs.ensure()
    yield jobs
    jobs._client.delete_queue()


def test_a_job_is_put_as_the_sdk_puts_it_base64_for_the_functions_host(
        azurite: AzuriteProcess, queue: JobQueue) -> None:
    job = SyncJob(str(uuid.uuid4()), SyncKind.DEVICES, Trigger.TIMER, "0000000000001-ab12cd34",
                  RunOptions(full=True))
    queue.put(job)
    queue.send("Zoë «x» <&>")
    queue.send("later", delay_seconds=60)  # not visible before its delay
    # Read raw, without the SDK's decoding: the text on the queue is base64 of UTF-8.
    raw = QueueClient.from_connection_string(azurite.connection_string, queue._client.queue_name)
    texts = [m.content for m in raw.receive_messages(max_messages=10, visibility_timeout=5)]
    assert [base64.b64decode(t).decode() for t in texts] == [job.to_json(), "Zoë «x» <&>"]
    assert SyncJob.from_json(base64.b64decode(texts[0]).decode()) == job


def test_a_delivered_job_is_deleted_once_and_a_second_delete_is_no_error(
        queue: JobQueue) -> None:
    for n in range(3):
        queue.send(f"job {n}")
    delivered = queue.receive(visibility_seconds=30, max_messages=3)
    assert sorted(d.text for d in delivered) == ["job 0", "job 1", "job 2"]
    for delivery in delivered[:2]:
        queue.delete(delivery)
        queue.delete(delivery)  # already gone: fine
    assert queue.peek_count() == 1  # the third, still hidden, still there


def test_a_job_put_on_a_missing_queue_fails_with_a_clear_error(
        azurite: AzuriteProcess) -> None:
    missing = JobQueue.from_connection_string(azurite.connection_string, "nosuchqueue")
    job = SyncJob(str(uuid.uuid4()), SyncKind.DIRECTORY, Trigger.TIMER)
    with pytest.raises(StorageError) as refused:
        missing.put(job)
    assert str(refused.value) == "could not enqueue a sync job (ResourceNotFoundError)"



def test_every_request_we_build_carries_its_own_client_request_id_never_a_uuid1(
        store: TableStore, queue: JobQueue, monkeypatch: pytest.MonkeyPatch) -> None:
    # azure-core makes a missing id with uuid1, which asks the uuidd daemon over a socket
    # each time: every request tenantsync builds brings its own, so uuid1 is never reached.
    def refused() -> uuid.UUID:
        raise AssertionError("uuid1 was called")

    monkeypatch.setattr(uuid, "uuid1", refused)
    partition = str(uuid.uuid4())
    rows = [{"PartitionKey": partition, "RowKey": f"r{n}", "N": n} for n in range(3)]
    etag = store.insert_versioned("rows", rows[0])
    store.update_if_unchanged("rows", {**rows[0], "N": 9}, str(etag))
    assert store.get("rows", partition, "r0") == {**rows[0], "N": 9}
    assert store.write("rows", rows[1:]).entities == 2  # one transaction
    assert len(list(store.query("rows", "PartitionKey eq @p", {"p": partition}))) == 3
    store.delete("rows", partition, "r1")
    queue.put(SyncJob(str(uuid.uuid4()), SyncKind.DEVICES, Trigger.TIMER,
                      "0000000000001-ab12cd34", RunOptions()))
    monkeypatch.undo()  # the SDK's own calls (the peek below) still make theirs
    assert queue.peek_count() == 1
