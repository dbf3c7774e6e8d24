"""The export path: Intune's report export jobs instead of one read per detected app.

From the v1.0 ``deviceManagementExportJob`` pages and Intune's "Export Intune reports using
Graph APIs": ``POST /deviceManagement/reports/exportJobs`` with a ``reportName`` and the
columns to ``select`` creates a job (that needs a ReadWrite permission); reading the job
polls it through ``notStarted``, ``inProgress`` to ``completed`` (or ``failed``); a
completed job has a ``url``, a signed Azure Storage URL that expires, where a zip of one CSV
is downloaded without our bearer token. ``AppInvRawData`` has a row per device-app link;
``DevicesWithInventory`` a row per device, with columns no v1.0 property has.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator, Mapping
from typing import IO

from functions.clients.graph import GraphClient
from functions.devices.model import Details

# The Create deviceManagementExportJob page lists these application permissions.
EXPORT_ROLES = frozenset({
    "DeviceManagementConfiguration.ReadWrite.All", "DeviceManagementApps.ReadWrite.All",
    "DeviceManagementManagedDevices.ReadWrite.All",
})
APP_REPORT = "AppInvRawData"
DEVICE_REPORT = "DevicesWithInventory"
_JOBS = "/deviceManagement/reports/exportJobs"
# Requested columns; DevicesWithInventory's file names some of them otherwise (the report
# page's "Columns received": DeviceId arrives as "Device ID").
_SELECT = {
    APP_REPORT: ["ApplicationKey", "ApplicationName", "ApplicationVersion", "DeviceId"],
    DEVICE_REPORT: ["DeviceId", "ProcessorArchitecture", "TPMManufacturerId",
                    "TPMManufacturerVersion", "SystemManagementBIOSVersion"],
}
_DEVICE_ID = {APP_REPORT: "DeviceId", DEVICE_REPORT: "Device ID"}
# DevicesWithInventory column -> the EXTRA_FIELDS value at that position.
_EXTRA_COLUMNS = ("ProcessorArchitecture", "TPMManufacturerId", "TPMManufacturerVersion",
                  "SystemManagementBIOSVersion")
DONE, FAILED = "completed", "failed"


def submit(graph: GraphClient, report: str) -> str:
    """Create an export job of ``report`` (CSV, our columns); its id.

    Raises:
        GraphError: refused (403 without a ReadWrite permission) or failed.
    """
    body = graph.post(_JOBS, {"reportName": report, "select": _SELECT[report],
                              "format": "csv"})
    return str(body["id"])


def poll(graph: GraphClient, job_id: str) -> tuple[str, str | None]:
    """A job's status and, once completed, its download URL.

    Raises:
        GraphError: the job is unknown (404) or Graph failed.
    """
    # The key in parentheses, as Microsoft's example reads a job.
    body = graph.get(f"{_JOBS}('{job_id}')")
    url = body.get("url")
    return str(body.get("status") or ""), str(url) if url else None


def rows(graph: GraphClient, url: str) -> Iterator[dict[str, str]]:
    """The CSV rows of a completed job's zip (its one file), streamed.

    Raises:
        GraphError: the download failed (an expired URL answers 403).
    """
    spool: IO[bytes] = graph.download(url)
    with spool, zipfile.ZipFile(spool) as archive:
        name = next(n for n in archive.namelist() if n.lower().endswith(".csv"))
        with archive.open(name) as member:
            text = io.TextIOWrapper(member, encoding="utf-8-sig", newline="")
            yield from csv.DictReader(text)


def app_links(
    found: Iterator[dict[str, str]], device_positions: Mapping[str, int],
    app_positions: Mapping[str, int], app_by_name: Mapping[tuple[str, str], int],
) -> dict[int, list[int]]:
    """AppInvRawData rows as app position -> device positions. An app is matched by its
    key (the detected app's id), else by name and version; a device or app the listings do
    not have (enrolled or detected since) is left for the next read."""
    links: dict[int, list[int]] = {}
    for row in found:
        device = device_positions.get(row.get("DeviceId", "").lower())
        key = row.get("ApplicationKey", "")
        app = app_positions.get(key)
        if app is None:
            app = app_by_name.get((row.get("ApplicationName", ""),
                                   row.get("ApplicationVersion", "")))
        if device is not None and app is not None:
            links.setdefault(app, []).append(device)
    return links


def device_columns(found: Iterator[dict[str, str]],
                   device_positions: Mapping[str, int]) -> dict[int, Details]:
    """DevicesWithInventory rows as device position -> the export-only columns."""
    columns: dict[int, Details] = {}
    for row in found:
        device = device_positions.get(row.get(_DEVICE_ID[DEVICE_REPORT], "").lower())
        if device is not None:
            columns[device] = tuple(row.get(c) or None for c in _EXTRA_COLUMNS)
    return columns
