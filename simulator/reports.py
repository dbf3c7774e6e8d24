"""Intune export reports: the columns of AppInvRawData and DevicesWithInventory, and the zip.

Column lists are those of Microsoft's "Intune reports and properties available using Graph
API" page (memdocs, reports-export-graph-available-reports.md). What a report row holds is
read from the tenant's Intune section: managed devices, detected apps and their links.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import orjson

from .model import Intune

# AppInvRawData: one row per (app, device) link. (column, source) where the source is
# "app.<prop>", "device.<prop>" or "report.<column>" (a device's fixture report_columns).
_APP_INV: list[tuple[str, str]] = [
    ("ApplicationKey", "app.id"),
    ("ApplicationName", "app.displayName"),
    ("ApplicationPublisher", "app.publisher"),
    ("ApplicationShortVersion", "app.version"),
    ("ApplicationVersion", "app.version"),
    ("DeviceId", "device.id"),
    ("DeviceName", "device.deviceName"),
    ("OSDescription", "report.OSDescription"),
    ("OSVersion", "device.osVersion"),
    ("Platform", "device.operatingSystem"),
    ("UserId", "device.userId"),
    ("EmailAddress", "device.emailAddress"),
    ("UserName", "device.userDisplayName"),
]
# DevicesWithInventory: (requestable column, column received, source). Its page lists the
# received names; a column without a managedDevice property comes from report_columns.
_DEVICES_INV: list[tuple[str, str, str]] = [
    ("DeviceId", "Device ID", "device.id"),
    ("DeviceName", "Device name", "device.deviceName"),
    ("CreatedDate", "Enrollment date", "device.enrolledDateTime"),
    ("LastContact", "Last check-in", "device.lastSyncDateTime"),
    ("ReferenceId", "Microsoft Entra Device ID", "device.azureADDeviceId"),
    ("OSVersion", "OS version", "device.osVersion"),
    ("GraphDeviceIsManaged", "Microsoft Entra registered", "device.azureADRegistered"),
    ("EasID", "EAS activation ID", "device.easDeviceId"),
    ("SerialNumber", "Serial number", "device.serialNumber"),
    ("Manufacturer", "Manufacturer", "device.manufacturer"),
    ("Model", "Model", "device.model"),
    ("EasActivationStatus", "EAS activated", "device.easActivated"),
    ("IMEI", "IMEI", "device.imei"),
    ("EasLastSyncSuccessUtc", "Last EAS sync time", "device.exchangeLastSuccessfulSyncDateTime"),
    ("EasStateReason", "EAS reason", "device.exchangeAccessStateReason"),
    ("EasAccessState", "EAS status", "device.exchangeAccessState"),
    (
        "InGracePeriodUntil",
        "Compliance grace period expiration",
        "device.complianceGracePeriodExpirationDateTime",
    ),
    ("AndroidPatchLevel", "Security patch level", "device.androidSecurityPatchLevel"),
    ("WifiMacAddress", "Wi-Fi MAC", "device.wiFiMacAddress"),
    ("MEID", "MEID", "device.meid"),
    ("SubscriberCarrierNetwork", "Subscriber carrier", "device.subscriberCarrier"),
    ("StorageTotal", "Total storage", "device.totalStorageSpaceInBytes"),
    ("StorageFree", "Free storage", "device.freeStorageSpaceInBytes"),
    ("ManagedDeviceName", "Management name", "device.managedDeviceName"),
    ("CategoryName", "Category", "device.deviceCategoryDisplayName"),
    ("UserId", "UserId", "device.userId"),
    ("UPN", "Primary user UPN", "device.userPrincipalName"),
    ("UserEmail", "Primary user email address", "device.emailAddress"),
    ("UserName", "Primary user display name", "device.userDisplayName"),
    ("WiFiIPv4Address", "WiFiIPv4Address", "report.WiFiIPv4Address"),
    ("WiFiSubnetID", "WiFiSubnetID", "report.WiFiSubnetID"),
    ("CompliantState", "Compliance", "device.complianceState"),
    ("ManagementAgent", "Managed by", "device.managementAgent"),
    ("OwnerType", "Ownership", "device.managedDeviceOwnerType"),
    ("ManagementState", "Device state", "report.ManagementState"),
    ("DeviceRegistrationState", "Intune registered", "device.deviceRegistrationState"),
    ("IsSupervised", "Supervised", "device.isSupervised"),
    ("IsEncrypted", "Encrypted", "device.isEncrypted"),
    ("DeviceType", "OS", "device.operatingSystem"),
    ("SkuFamily", "SkuFamily", "report.SkuFamily"),
    ("JoinType", "JoinType", "report.JoinType"),
    ("PhoneNumber", "Phone number", "device.phoneNumber"),
    ("JailBroken", "Jailbroken", "device.jailBroken"),
    ("ICCID", "ICCID", "device.iccid"),
    ("EthernetMAC", "EthernetMAC", "device.ethernetMacAddress"),
    ("CellularTechnology", "CellularTechnology", "report.CellularTechnology"),
    ("ProcessorArchitecture", "ProcessorArchitecture", "report.ProcessorArchitecture"),
    ("EID", "EID", "report.EID"),
    ("EnrollmentType", "EnrollmentType", "device.deviceEnrollmentType"),
    ("PartnerFeaturesBitmask", "PartnerFeaturesBitmask", "report.PartnerFeaturesBitmask"),
    ("ManagementAgents", "ManagementAgents", "report.ManagementAgents"),
    ("CertExpirationDate", "CertExpirationDate", "device.managementCertificateExpirationDate"),
    ("IsManaged", "IsManaged", "report.IsManaged"),
    (
        "SystemManagementBIOSVersion",
        "SystemManagementBIOSVersion",
        "report.SystemManagementBIOSVersion",
    ),
    ("TPMManufacturerId", "TPMManufacturerId", "report.TPMManufacturerId"),
    ("TPMManufacturerVersion", "TPMManufacturerVersion", "report.TPMManufacturerVersion"),
]
# Exported only when selected (the report page's note on DevicesWithInventory).
_SELECT_ONLY = (
    "EnrollmentType",
    "PartnerFeaturesBitmask",
    "ManagementAgents",
    "CertExpirationDate",
    "IsManaged",
)
_DEVICES_ALIASES = {"ComplianceState": "CompliantState", "OS": "DeviceType"}
_DEVICES_FILTERS = (
    "CategoryName",
    "CompliantState",
    "CreatedDate",
    "DeviceType",
    "EnrollmentType",
    "JailBroken",
    "LastContact",
    "ManagementAgents",
    "ManagementState",
    "OwnerType",
    "PartnerFeaturesBitmask",
)

# Columns a device's fixture `report_columns` may set: those with no managedDevice property.
REPORT_ONLY_COLUMNS = frozenset(
    source.split(".", 1)[1]
    for source in [s for _c, s in _APP_INV] + [s for _c, _r, s in _DEVICES_INV]
    if source.startswith("report.")
)
REPORT_NAMES = ("AppInvRawData", "DevicesWithInventory")
_TERM = re.compile(r"^\(*\s*([A-Za-z]+)\s+eq\s+'((?:[^']|'')*)'\s*\)*$")


@dataclass(frozen=True)
class ReportPlan:
    """What one export job renders: its columns (requestable name, header, source) and the
    `eq` conditions of its filter (requestable name -> value)."""

    name: str
    columns: tuple[tuple[str, str, str], ...]
    where: tuple[tuple[str, str], ...]


def plan(name: str, select: list[str] | None, filter_text: str | None) -> ReportPlan | str:
    """The plan of a report request, or a one-line reason it is refused."""
    if name == "AppInvRawData":
        table = [(column, column, source) for column, source in _APP_INV]
        defaults = [column for column, _source in _APP_INV]
        filters: tuple[str, ...] = tuple(column for column, _s in _APP_INV[1:])
        aliases: dict[str, str] = {}
    elif name == "DevicesWithInventory":
        table = list(_DEVICES_INV)
        defaults = [column for column, _r, _s in _DEVICES_INV if column not in _SELECT_ONLY]
        filters, aliases = _DEVICES_FILTERS, _DEVICES_ALIASES
    else:
        return f"The report '{name}' is not simulated (simulated: {', '.join(REPORT_NAMES)})."
    by_name = {column: (column, header, source) for column, header, source in table}
    chosen: list[tuple[str, str, str]] = []
    for column in select if select else defaults:
        entry = by_name.get(aliases.get(column, column))
        if entry is None:
            return f"Invalid select column '{column}' for report '{name}'."
        chosen.append(entry)
    where = _parse_filter(filter_text or "", filters)
    if isinstance(where, str):
        return where
    return ReportPlan(name=name, columns=tuple(chosen), where=where)


def _parse_filter(text: str, allowed: tuple[str, ...]) -> tuple[tuple[str, str], ...] | str:
    """`Column eq 'value'` terms joined by `and` (parentheses allowed), or the refusal."""
    if not text.strip():
        return ()
    terms: list[tuple[str, str]] = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        matched = _TERM.match(part.strip())
        if matched is None:
            return f"The filter '{text}' is not simulated (only: Column eq 'value' [and ...])."
        if matched.group(1) not in allowed:
            return f"The report cannot be filtered on '{matched.group(1)}'."
        terms.append((matched.group(1), matched.group(2).replace("''", "'")))
    return tuple(terms)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def _cell(scope: str, name: str, device: dict[str, Any], extra: dict[str, str]) -> str:
    return extra.get(name, "") if scope == "report" else _text(device.get(name))


def _same(value: str) -> str:
    return value


def csv_quoted(value: str) -> str:
    """A CSV field, quoted (the export quotes every value (?)), quotes doubled."""
    return '"' + value.replace('"', '""') + '"'


def rows(
    intune: Intune, report: ReportPlan, cell: Callable[[str], str] = _same
) -> Iterator[tuple[str, ...]]:
    """The report's rows (values in column order, each passed through `cell`), in device
    order, then app order.

    AppInvRawData has a row per link (a million in a large tenant), so each device's and
    each app's cells are worked out (and encoded by `cell`) once, and a row is their
    concatenation reordered.
    """
    table = {column: source for column, _h, source in _full_table(report.name)}
    cells = [tuple(source.split(".", 1)) for _c, _h, source in report.columns]
    device_cells = [cell for cell in cells if cell[0] != "app"]
    app_cells = [cell[1] for cell in cells if cell[0] == "app"]
    order, seen_device, seen_app = [], 0, 0
    for scope, _name in cells:
        if scope == "app":
            order.append(len(device_cells) + seen_app)
            seen_app += 1
        else:
            order.append(seen_device)
            seen_device += 1
    pick = itemgetter(*order) if len(order) > 1 else (lambda values: (values[order[0]],))
    conditions = [(tuple(table[column].split(".", 1)), value) for column, value in report.where]
    device_tests = [(cell, value) for cell, value in conditions if cell[0] != "app"]
    app_tests = [(cell[1], value) for cell, value in conditions if cell[0] == "app"]
    app_rows: list[list[str] | None] = [
        [cell(_text(app.get(name))) for name in app_cells]
        if all(_text(app.get(name)) == value for name, value in app_tests)
        else None
        for app in intune.detected_apps
    ]
    per_link = report.name == "AppInvRawData"
    for position, listed in enumerate(intune.devices):
        device = {**listed, **intune.hidden.get(str(listed["id"]), {})}
        extra = intune.report_columns.get(str(listed["id"]), {})
        if not all(_cell(s, n, device, extra) == value for (s, n), value in device_tests):
            continue
        values = [cell(_cell(scope, name, device, extra)) for scope, name in device_cells]
        if not per_link:
            yield pick(values)
            continue
        for app_position in intune.links.apps_of(position):
            app_values = app_rows[app_position]
            if app_values is not None:
                yield pick(values + app_values)


def _full_table(name: str) -> list[tuple[str, str, str]]:
    if name == "AppInvRawData":
        return [(column, column, source) for column, source in _APP_INV]
    return list(_DEVICES_INV)


def render_zip(entry_name: str, intune: Intune, report: ReportPlan, fmt: str) -> bytes:
    """The zip an export job's URL serves: one file, `{entry_name}.csv` (or `.json`)."""
    buffer = io.BytesIO()
    # compresslevel 1: the simulator shares the benchmark's cores; the zip is just as valid.
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open(f"{entry_name}.{fmt}", "w") as member,
    ):
        if fmt == "json":
            _write_json(member, intune, report)
        else:
            _write_csv(member, intune, report)
    return buffer.getvalue()


def _write_csv(member: Any, intune: Intune, report: ReportPlan) -> None:
    """CSV with every field quoted and CRLF line ends, written a few thousand rows at a
    time (the csv module would quote each of a million rows' fields again)."""
    headers = [csv_quoted(header) for _column, header, _source in report.columns]
    lines = [",".join(headers)]
    for row in rows(intune, report, csv_quoted):
        lines.append(",".join(row))
        if len(lines) >= 4096:
            member.write(("\r\n".join(lines) + "\r\n").encode("utf-8"))
            lines.clear()
    if lines:
        member.write(("\r\n".join(lines) + "\r\n").encode("utf-8"))


def _write_json(member: Any, intune: Intune, report: ReportPlan) -> None:
    headers = [header for _column, header, _source in report.columns]
    member.write(b"[")
    for index, row in enumerate(rows(intune, report)):
        item = orjson.dumps(dict(zip(headers, row, strict=True)))
        member.write((b",\n" if index else b"\n") + item)
    member.write(b"\n]\n")
