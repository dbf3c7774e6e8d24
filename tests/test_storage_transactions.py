"""Transactions of upserts encoded by tenantsync (functions/storage/transactions.py), against
Azurite: what is read back is what the SDK's own transactions store, and a refusal is an
error that names the table, with nothing of that transaction written."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trustme
from azure.core import MatchConditions
from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError
from azure.data.tables import (
    EdmType,
    EntityProperty,
    TableClient,
    TableServiceClient,
    UpdateMode,
)

from devstack.stack import AZURITE, free_port
from functions.core.errors import StorageError
from functions.storage import meter
from functions.storage.tables import TableStore
from functions.storage.transactions import entity_json, submit, submit_upserts


def _every_kind(partition: str, n: int) -> dict[str, object]:
    return {
        "PartitionKey": partition, "RowKey": f"r'{n} x é_{n:03d}",  # a quote, a space, UTF-8
        "Text": f"Zoë «{n}» \"quoted\" \\ \n line", "Empty": "", "Flag": n % 2 == 0,
        "Small": -n, "Limit": 2**31 - 1, "Big": EntityProperty(2**40 + n, EdmType.INT64),
        "Ratio": n / 7, "Blob": bytes(range(256)) * 3, "Missing": None,
        "When": datetime(2026, 12, 7, 17, 0, n % 60, tzinfo=UTC),
        "Typed": EntityProperty(str(uuid.UUID(int=n)), EdmType.GUID),
    }


def test_a_transaction_stores_every_value_as_the_sdk_transaction_does(store: TableStore) -> None:
    partition = str(uuid.uuid4())
    entities = [_every_kind(partition, n) for n in range(100)]
    stats = store.write("rows", entities)
    assert (stats.entities, stats.transactions) == (100, 1)

    sdk = store.table("sdk")
    sdk.submit_transaction([("upsert", e, {"mode": UpdateMode.REPLACE}) for e in entities])
    ours = {e["RowKey"]: dict(e) for e in store.table("rows").list_entities()}
    theirs = {e["RowKey"]: dict(e) for e in sdk.list_entities()}
    assert len(ours) == 100
    assert ours == theirs
    one = ours[entities[7]["RowKey"]]
    assert one["Text"] == entities[7]["Text"] and one["Blob"] == entities[7]["Blob"]
    assert "Missing" not in one and one["Flag"] is False and one["Small"] == -7


def test_an_upsert_replaces_the_stored_entity_whole(store: TableStore) -> None:
    partition = str(uuid.uuid4())
    store.write("rows", [{"PartitionKey": partition, "RowKey": f"r{n}", "Old": "x", "N": n}
                         for n in range(3)])
    store.write("rows", [{"PartitionKey": partition, "RowKey": f"r{n}", "N": n + 10}
                         for n in range(3)])
    rows = sorted(store.query("rows", "PartitionKey eq @pk", {"pk": partition}),
                  key=lambda e: e["RowKey"])
    assert [(r["RowKey"], r["N"], "Old" in r) for r in rows] == [
        ("r0", 10, False), ("r1", 11, False), ("r2", 12, False)]


def test_a_refused_transaction_writes_none_of_it_and_names_the_table(store: TableStore) -> None:
    partition = str(uuid.uuid4())
    good = [{"PartitionKey": partition, "RowKey": f"ok{n}", "N": n} for n in range(100)]
    # Table Storage: a string property holds at most 64 KiB; the service refuses the changeset.
    bad = [{"PartitionKey": partition, "RowKey": f"bad{n}", "N": n} for n in range(50)]
    bad[20]["Text"] = "x" * 70_000
    with pytest.raises(StorageError) as refused:
        store.write("rows", [*good, *bad])
    assert "could not write rows (HTTP 400)" in str(refused.value)
    keys = {e["RowKey"] for e in store.query("rows", "PartitionKey eq @pk", {"pk": partition})}
    assert keys == {f"ok{n}" for n in range(100)}  # the first transaction stays, none of bad


def test_each_transaction_goes_through_the_clients_pipeline_once(store: TableStore) -> None:
    partition = str(uuid.uuid4())
    before = meter.storage_operations()
    store.write("rows", [{"PartitionKey": partition, "RowKey": f"r{n:03d}"} for n in range(250)])
    assert meter.storage_operations() - before == 3  # 100 + 100 + 50, each one request


def test_the_meter_counts_each_transaction_against_its_table(store: TableStore) -> None:
    partition = str(uuid.uuid4())
    rows, sdk = store._prefix + "rows", store._prefix + "sdk"

    def sent(table: str) -> int:
        return sum(n for (_, name), n in meter.operations_by_table().items() if name == table)

    before = sent(rows), sent(sdk)
    store.write("rows", [{"PartitionKey": partition, "RowKey": f"r{n:03d}"} for n in range(150)])
    store.table("sdk").submit_transaction([("create", {"PartitionKey": partition, "RowKey": "a"}),
                                           ("upsert", {"PartitionKey": partition, "RowKey": "b"})])
    assert (sent(rows) - before[0], sent(sdk) - before[1]) == (2, 1)


def test_submit_upserts_reports_the_failed_operations_status(store: TableStore) -> None:
    partition = str(uuid.uuid4())
    rows = [{"PartitionKey": partition, "RowKey": "a"},
            {"PartitionKey": partition, "RowKey": "b", "Text": "x" * 70_000}]
    with pytest.raises(HttpResponseError) as refused:
        submit_upserts(store.table("rows"), rows)
    assert refused.value.status_code == 400
    assert list(store.query("rows", "PartitionKey eq @pk", {"pk": partition})) == []


def test_a_mixed_transaction_stores_what_the_sdks_stores(store: TableStore) -> None:
    # Inserts, both upsert modes, ETag-checked and unconditional updates, deletes: the
    # change feed's transactions (functions/storage/feed.py) mix them.
    partition = str(uuid.uuid4())
    ours, sdk = store.table("rows"), store.table("sdk")
    base = [{"PartitionKey": partition, "RowKey": f"k{n}", "Old": "x", "N": n} for n in range(5)]
    for client in (ours, sdk):
        submit(client, [("create", row) for row in base])
    etags = {name: client.get_entity(partition, "k2").metadata["etag"]
             for name, client in (("ours", ours), ("sdk", sdk))}

    def operations(etag: str) -> list[tuple[Any, ...]]:
        return [
            ("create", _every_kind(partition, 5)),
            ("upsert", {"PartitionKey": partition, "RowKey": "k0", "N": 10},
             {"mode": UpdateMode.REPLACE}),
            ("upsert", {"PartitionKey": partition, "RowKey": "k1", "N": 11}),  # merge
            ("update", {"PartitionKey": partition, "RowKey": "k2", "N": 12},
             {"mode": UpdateMode.REPLACE, "etag": etag,
              "match_condition": MatchConditions.IfNotModified}),
            ("update", {"PartitionKey": partition, "RowKey": "k3", "N": 13},
             {"mode": UpdateMode.MERGE}),
            ("delete", {"PartitionKey": partition, "RowKey": "k4"}),
        ]

    submit(ours, operations(etags["ours"]))
    sdk.submit_transaction(operations(etags["sdk"]))  # type: ignore[arg-type]
    mine = {e["RowKey"]: dict(e) for e in ours.list_entities()}
    theirs = {e["RowKey"]: dict(e) for e in sdk.list_entities()}
    assert mine == theirs and len(mine) == 5
    assert mine["k0"] == {"PartitionKey": partition, "RowKey": "k0", "N": 10}
    assert mine["k1"]["Old"] == "x" and mine["k2"].get("Old") is None


def test_a_transaction_refused_by_one_operation_names_its_status(store: TableStore) -> None:
    partition = str(uuid.uuid4())
    rows = store.table("rows")
    submit(rows, [("create", {"PartitionKey": partition, "RowKey": "a", "N": 1})])
    stale = rows.get_entity(partition, "a").metadata["etag"]
    submit(rows, [("update", {"PartitionKey": partition, "RowKey": "a", "N": 2},
                   {"mode": UpdateMode.REPLACE, "etag": stale})])
    refusals = {
        412: [("update", {"PartitionKey": partition, "RowKey": "a", "N": 3},
               {"mode": UpdateMode.REPLACE, "etag": stale})],
        409: [("create", {"PartitionKey": partition, "RowKey": "a"})],
        404: [("delete", {"PartitionKey": partition, "RowKey": "gone"})],
    }
    for status, operations in refusals.items():
        with pytest.raises(HttpResponseError) as refused:
            submit(rows, [("create", {"PartitionKey": partition, "RowKey": f"new{status}"}),
                          *operations])
        assert refused.value.status_code == status
    keys = {e["RowKey"]: e.get("N") for e in store.query("rows", "PartitionKey eq @pk",
                                                          {"pk": partition})}
    assert keys == {"a": 2}  # none of the refused transactions wrote anything


def test_entity_json_types_what_json_alone_would_lose() -> None:
    body = entity_json({"PartitionKey": "p", "RowKey": "r", "B": b"\x00\xff", "D": 1.5,
                        "I": 3, "T": True, "S": "s", "N": None})
    assert body == (b'{"PartitionKey":"p","RowKey":"r","B":"AP8=","B@odata.type":"Edm.Binary",'
                    b'"D":1.5,"D@odata.type":"Edm.Double","I":3,"T":true,"S":"s"}')


class _StorageToken:
    """An Entra-shaped access token for Azurite's ``--oauth basic`` (it checks the issuer,
    the audience and the times, not the signature): stands in for azure-identity."""

    def __init__(self) -> None:
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **_: object) -> AccessToken:
        self.scopes.extend(scopes)
        now = int(time.time())

        def part(value: dict[str, object]) -> str:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

        claims = {"aud": "https://storage.azure.com", "iat": now - 60, "nbf": now - 60,
                  "exp": now + 3600, "iss": f"https://sts.windows.net/{uuid.uuid4()}/"}
        return AccessToken(f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2ln",
                           now + 3600)


def test_a_token_credential_signs_the_transaction_over_https(tmp_path: Path) -> None:
    # Production reaches storage with a managed identity (TableStore.from_endpoint): the
    # transaction goes through the client's pipeline, so its bearer token goes with it.
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    port = free_port()
    azurite = subprocess.Popen(
        [str(AZURITE), "--inMemoryPersistence", "--disableTelemetry", "--silent",
         "--skipApiVersionCheck", "--oauth", "basic", "--cert", str(tmp_path / "cert.pem"),
         "--key", str(tmp_path / "key.pem"), "--tablePort", str(port),
         "--blobPort", str(free_port()), "--queuePort", str(free_port())],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        token = _StorageToken()
        service = TableServiceClient(endpoint=f"https://127.0.0.1:{port}/devstoreaccount1",
                                     credential=token, connection_verify=str(tmp_path / "ca.pem"))
        store = TableStore(service, "tok")
        store.ensure_tables()
        sent: list[str] = []
        partition = str(uuid.uuid4())
        stats = store.write("users", [{"PartitionKey": partition, "RowKey": f"r{n:03d}", "N": n}
                                      for n in range(150)])
        assert (stats.entities, stats.transactions) == (150, 2)
        assert token.scopes and all(s == "https://storage.azure.com/.default"
                                    for s in token.scopes)
        stored = store.query("users", "PartitionKey eq @pk", {"pk": partition})
        assert sorted(e["N"] for e in stored) == list(range(150))
        # Without a token Azurite's OAuth refuses: the credential is what let them in.
        anonymous = TableClient(endpoint=f"https://127.0.0.1:{port}/devstoreaccount1",
                                table_name="tokusers", credential=_NoToken(),
                                connection_verify=str(tmp_path / "ca.pem"))
        with pytest.raises(HttpResponseError):
            submit_upserts(anonymous, [{"PartitionKey": partition, "RowKey": "x"},
                                       {"PartitionKey": partition, "RowKey": "y"}],
                           raw_request_hook=lambda r: sent.append(
                               r.http_request.headers.get("Authorization", "")))
        assert sent and sent[0].startswith("Bearer ")
        assert "x" not in {e["RowKey"] for e in store.query(
            "users", "PartitionKey eq @pk", {"pk": partition})}
    finally:
        azurite.terminate()
        azurite.wait(10)


class _NoToken(_StorageToken):
    """A token Azurite's OAuth refuses (another audience)."""

    def get_token(self, *scopes: str, **_: object) -> AccessToken:
        good = super().get_token(*scopes)
        header, claims, signature = good.token.split(".")
        body = json.loads(base64.urlsafe_b64decode(claims + "=="))
        body["aud"] = "https://vault.azure.net"
        wrong = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
        return AccessToken(f"{header}.{wrong}.{signature}", good.expires_on)
