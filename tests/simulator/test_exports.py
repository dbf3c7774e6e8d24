"""Intune report export jobs: permissions, lifecycle, the zip, and the storage host's rules."""

from __future__ import annotations

import csv
import io
import json
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from simulator import FixtureError, Simulator

from .conftest import http
from .inventory import APPS, DEVICES, LINKS, build_inventory_fixture
from .partners import CUSTOMER, CUSTOMER_ROLES, DEVICES_ONLY_APP, UNLICENSED, get, token

JOBS_URL = "/v1.0/deviceManagement/reports/exportJobs"
APP_INV_COLUMNS = [
    "ApplicationKey",
    "ApplicationName",
    "ApplicationPublisher",
    "ApplicationShortVersion",
    "ApplicationVersion",
    "DeviceId",
    "DeviceName",
    "OSDescription",
    "OSVersion",
    "Platform",
    "UserId",
    "EmailAddress",
    "UserName",
]


@pytest.fixture(scope="module")
def writer(inventory_sim: Simulator) -> str:
    """A token of an app with a ReadWrite permission, as creating a job needs."""
    roles = [*CUSTOMER_ROLES, "DeviceManagementManagedDevices.ReadWrite.All"]
    inventory_sim.set_roles(CUSTOMER, DEVICES_ONLY_APP, roles)
    return token(inventory_sim, CUSTOMER, DEVICES_ONLY_APP)


@pytest.fixture(autouse=True)
def default_settings(inventory_sim: Simulator) -> Iterator[None]:
    yield
    inventory_sim.set_export_jobs({})
    inventory_sim.clear_faults()


def create(sim: Simulator, bearer: str, body: dict[str, Any]) -> requests.Response:
    return http(sim).post(
        f"{sim.base_url}{JOBS_URL}",
        json=body,
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=10,
    )


def until_done(sim: Simulator, bearer: str, job_id: str) -> dict[str, Any]:
    for _ in range(20):
        job = get(sim, f"{JOBS_URL}/{job_id}", bearer).json()
        if job["status"] in ("completed", "failed"):
            return dict(job)
    raise AssertionError("the job never finished")


def download(sim: Simulator, url: str, **headers: str) -> requests.Response:
    return http(sim).get(url, headers=headers, timeout=10)


def unzip(response: requests.Response) -> tuple[str, str]:
    assert response.status_code == 200, response.text
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        (name,) = archive.namelist()
        return name, archive.read(name).decode("utf-8")


def test_creating_a_job_needs_a_readwrite_permission(inventory_sim: Simulator) -> None:
    reader = token(inventory_sim, CUSTOMER)  # Read.All permissions only
    denied = create(inventory_sim, reader, {"reportName": "AppInvRawData"})
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "Forbidden"
    wrapped = json.loads(denied.json()["error"]["message"])
    assert wrapped["Message"].startswith(
        "Application is not authorized to perform this operation. Application must have one "
        "of the following scopes: DeviceManagementConfiguration.ReadWrite.All, "
        "DeviceManagementApps.ReadWrite.All, DeviceManagementManagedDevices.ReadWrite.All - "
    )
    # as the real service once did (and may still do): Read.All accepted when so configured
    inventory_sim.set_export_jobs({"read_permissions_create": True})
    assert create(inventory_sim, reader, {"reportName": "AppInvRawData"}).status_code == 201
    unlicensed = create(inventory_sim, token(inventory_sim, UNLICENSED), {"reportName": "x"})
    assert unlicensed.status_code == 400


def test_job_lifecycle_by_polls_and_the_app_inventory_zip(
    inventory_sim: Simulator, writer: str
) -> None:
    inventory_sim.reset_stats()
    created = create(inventory_sim, writer, {"reportName": "AppInvRawData", "format": "csv"})
    assert created.status_code == 201
    job = created.json()
    assert job["id"].startswith("AppInvRawData_")
    assert (job["status"], job["url"], job["expirationDateTime"]) == (
        "notStarted",
        None,
        "0001-01-01T00:00:00Z",
    )
    assert (job["filter"], job["select"], job["format"]) == ("", [], "csv")
    polled = get(inventory_sim, f"{JOBS_URL}('{job['id']}')", writer).json()
    assert polled["status"] == "inProgress"
    assert polled["url"] is None
    done = get(inventory_sim, f"{JOBS_URL}/{job['id']}", writer).json()
    assert done["status"] == "completed"
    assert done["expirationDateTime"] != "0001-01-01T00:00:00Z"
    url = urlsplit(done["url"])
    assert url.hostname == "localhost"  # another host than Graph's 127.0.0.1
    assert f"{url.scheme}://{url.netloc}" == inventory_sim.storage_url
    assert url.path == f"/{url.path.split('/')[1]}/{job['id']}.zip"
    assert "sig=" in url.query
    assert "sp=r" in url.query
    name, text = unzip(download(inventory_sim, done["url"]))
    assert name == f"{job['id']}.csv"
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == APP_INV_COLUMNS
    links = {(row[5], row[0]) for row in table[1:]}
    assert links == {(device, app) for device, apps in LINKS.items() for app in apps}
    assert len(table) - 1 == sum(len(apps) for apps in LINKS.values())
    first = next(row for row in table[1:] if (row[5], row[0]) == (DEVICES[0], APPS[2]))
    assert first == [
        APPS[2],
        "Tool 3",
        "Contoso Tools",
        "3.0.1",
        "3.0.1",
        DEVICES[0],
        "DESK-001",
        "Windows 11 Enterprise",
        "10.0.22631.3447",
        "Windows",
        "u0000000-0000-4000-8000-000000000001",
        "user1@contoso.example",
        "User 1",
    ]
    assert text.startswith('"ApplicationKey","ApplicationName"')  # every value quoted
    kinds = inventory_sim.stats()["by_path_kind"]
    assert kinds["POST graph.exportJobs"] == 1
    assert kinds["GET graph.exportJobs"] == 2
    assert kinds["GET storage.export"] == 1


@pytest.mark.slow
def test_the_storage_host_refuses_a_bearer_token_a_forged_url_and_expired_ones(
    inventory_sim: Simulator, writer: str
) -> None:
    inventory_sim.set_export_jobs({"in_progress": 0, "url_lifetime_seconds": 1})
    job = create(inventory_sim, writer, {"reportName": "AppInvRawData"}).json()
    url = until_done(inventory_sim, writer, job["id"])["url"]
    bearer = download(inventory_sim, url, Authorization=f"Bearer {writer}")
    assert bearer.status_code == 400
    assert bearer.headers["x-ms-error-code"] == "InvalidAuthenticationInfo"
    assert bearer.headers["Content-Type"] == "application/xml"
    assert "<Code>InvalidAuthenticationInfo</Code>" in bearer.text
    forged = download(inventory_sim, url.replace("sp=r", "sp=rw"))
    assert forged.status_code == 403
    assert "<Code>AuthenticationFailed</Code>" in forged.text
    unsigned = download(inventory_sim, url.split("?")[0])
    assert unsigned.status_code == 404
    assert http(inventory_sim).delete(url, timeout=10).status_code == 403
    assert download(inventory_sim, url).status_code == 200
    # Past the URL's own expiry (whole seconds), however long the requests above took.
    expiry = datetime.strptime(parse_qs(urlsplit(url).query)["se"][0], "%Y-%m-%dT%H:%M:%SZ")
    time.sleep(max(0.0, (expiry.replace(tzinfo=UTC) - datetime.now(UTC)).total_seconds()) + 0.1)
    expired = download(inventory_sim, url)
    assert expired.status_code == 403
    assert expired.headers["x-ms-error-code"] == "AuthenticationFailed"
    assert "Signature not valid in the specified time frame" in expired.text


@pytest.mark.slow
def test_jobs_can_be_made_to_fail_or_to_advance_with_time(
    inventory_sim: Simulator, writer: str
) -> None:
    inventory_sim.set_export_jobs({"outcome": "failed"})
    failed = create(inventory_sim, writer, {"reportName": "DevicesWithInventory"}).json()
    done = until_done(inventory_sim, writer, failed["id"])
    assert (done["status"], done["url"]) == ("failed", None)
    inventory_sim.set_export_jobs({"advance": "seconds", "not_started": 0.3, "in_progress": 0.3})
    job = create(inventory_sim, writer, {"reportName": "DevicesWithInventory"}).json()
    statuses = []
    for _ in range(3):
        statuses.append(get(inventory_sim, f"{JOBS_URL}/{job['id']}", writer).json()["status"])
        time.sleep(0.35)
    assert statuses == ["notStarted", "inProgress", "completed"]


def test_devices_with_inventory_as_json_with_select_filter_and_aliases(
    inventory_sim: Simulator, writer: str
) -> None:
    body = {
        "reportName": "DevicesWithInventory",
        "format": "json",
        "select": [
            "DeviceId",
            "DeviceName",
            "EthernetMAC",
            "ProcessorArchitecture",
            "OS",
            "TPMManufacturerId",
        ],
        "filter": "(DeviceType eq 'Windows')",
    }
    job = create(inventory_sim, writer, body).json()
    done = until_done(inventory_sim, writer, job["id"])
    name, text = unzip(download(inventory_sim, done["url"]))
    assert name == f"{job['id']}.json"
    rows = json.loads(text)
    assert [row["Device ID"] for row in rows] == DEVICES
    assert rows[0] == {
        "Device ID": DEVICES[0],
        "Device name": "DESK-001",
        "EthernetMAC": "00155D0000AA",
        "ProcessorArchitecture": "x64",
        "OS": "Windows",
        "TPMManufacturerId": "1229346816",
    }
    assert rows[1]["ProcessorArchitecture"] == ""  # no report_columns for this device
    nothing = dict(body, filter="DeviceType eq 'iOS'", format="csv")
    empty = until_done(inventory_sim, writer, create(inventory_sim, writer, nothing).json()["id"])
    assert unzip(download(inventory_sim, empty["url"]))[1].splitlines() == [
        '"Device ID","Device name","EthernetMAC","ProcessorArchitecture","OS","TPMManufacturerId"'
    ]


def test_a_filtered_app_inventory_and_a_snapshot_taken_at_creation(
    inventory_sim: Simulator, writer: str
) -> None:
    body = {
        "reportName": "AppInvRawData",
        "select": ["DeviceName", "ApplicationVersion"],
        "filter": "ApplicationName eq 'Tool 3' and Platform eq 'Windows'",
    }
    job = create(inventory_sim, writer, body).json()
    inventory_sim.delete_object(CUSTOMER, "detected_apps", APPS[2])  # after the job began
    try:
        done = until_done(inventory_sim, writer, job["id"])
        rows = list(csv.reader(io.StringIO(unzip(download(inventory_sim, done["url"]))[1])))
    finally:
        intune = build_inventory_fixture()["tenants"][CUSTOMER]["intune"]
        inventory_sim.update_tenant(CUSTOMER, {"intune": intune})
    assert rows == [
        ["DeviceName", "ApplicationVersion"],
        ["DESK-001", "3.0.1"],
        ["DESK-005", "3.0.1"],
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"reportName": "Devices"}, "The report 'Devices' is not simulated"),
        (
            {"reportName": "AppInvRawData", "select": ["CpuName"]},
            "Invalid select column 'CpuName' for report 'AppInvRawData'.",
        ),
        (
            {"reportName": "AppInvRawData", "filter": "ApplicationKey eq 'x'"},
            "The report cannot be filtered on 'ApplicationKey'.",
        ),
        (
            {"reportName": "AppInvRawData", "filter": "DeviceName ne 'x'"},
            "The filter 'DeviceName ne 'x'' is not simulated",
        ),
        ({"reportName": "AppInvRawData", "format": "pdf"}, "The format 'pdf' is not simulated"),
        (
            {"reportName": "AppInvRawData", "top": 5},
            "The property 'top' does not exist on type "
            "'microsoft.graph.deviceManagementExportJob'.",
        ),
        ({}, "reportName is required."),
    ],
)
def test_invalid_job_requests_are_400(
    inventory_sim: Simulator, writer: str, body: dict[str, Any], message: str
) -> None:
    response = create(inventory_sim, writer, body)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(message)


def test_unknown_jobs_listing_and_settings(inventory_sim: Simulator, writer: str) -> None:
    assert get(inventory_sim, f"{JOBS_URL}/AppInvRawData_nope", writer).status_code == 404
    listing = get(inventory_sim, JOBS_URL, writer)
    assert listing.status_code == 400
    assert listing.json()["error"]["message"] == "No method match route template"
    bad = http(inventory_sim).put(
        f"{inventory_sim.base_url}/_sim/export_jobs", json={"advance": "never"}, timeout=10
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == "export_jobs.advance: must be 'polls' or 'seconds'"
    fixture = build_inventory_fixture()
    fixture["export_jobs"] = {"outcome": "done"}
    with pytest.raises(FixtureError, match=r"^export_jobs.outcome: must be 'completed'"):
        Simulator(fixture)
    fixture["export_jobs"] = {"url_lifetime_seconds": 60, "advance": "seconds"}
    config = Simulator(fixture).state.exports.config
    assert (config.url_lifetime_seconds, config.advance, config.in_progress) == (60, "seconds", 1)
