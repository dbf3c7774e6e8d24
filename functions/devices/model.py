"""Intune inventory as plain records, and Graph JSON turned into them (the one place)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from functions.core.records import record

# Serial numbers that firmware vendors leave in place of a real one: treated as none.
JUNK_SERIALS = frozenset({
    "TO BE FILLED BY O.E.M.", "DEFAULT STRING", "SYSTEM SERIAL NUMBER", "0123456789",
    "NONE", "N/A", "NOT APPLICABLE", "CHASSIS SERIAL NUMBER", "SERIAL NUMBER", "0",
    "00000000", "INVALID", "O.E.M.", "TO BE FILLED BY OEM", "123456789", "UNKNOWN",
})


def normalize_serial(value: object) -> str | None:
    """Trim and upper-case a serial number; None for empty or known junk values."""
    if not isinstance(value, str):
        return None
    serial = " ".join(value.split()).upper()
    if not serial.strip("0 ") or serial in JUNK_SERIALS:  # empty, zeros and spaces, or junk
        return None
    return serial


@record
class DeviceRecord:
    """A managed device (hardware asset), keyed by its Intune id."""

    id: str
    name: str
    serial_number: str | None
    manufacturer: str | None
    model: str | None
    operating_system: str | None
    os_version: str | None
    owner_type: str | None
    enrolled_at: str | None  # Graph's ISO text, kept as given
    last_sync_at: str | None
    compliance_state: str | None
    management_agent: str | None
    azure_ad_device_id: str | None
    user_id: str | None  # primary user's Entra object ID: joins the directory sync's users
    user_upn: str | None
    user_email: str | None
    user_display_name: str | None
    imei: str | None
    meid: str | None
    wifi_mac: str | None
    ethernet_mac: str | None
    total_storage_bytes: int | None
    free_storage_bytes: int | None
    is_encrypted: bool | None
    # Details: a single read of the device returns them (the list leaves them empty); kept
    # until the device checks in again. ``details_as_of``: the check-in they were read at.
    physical_memory_bytes: int | None = None
    udid: str | None = None
    iccid: str | None = None
    enrollment_profile: str | None = None
    tpm_version: str | None = None
    details_as_of: str | None = None
    # Only the DevicesWithInventory export has these (the export path); null otherwise.
    processor_architecture: str | None = None
    tpm_manufacturer_id: str | None = None
    tpm_manufacturer_version: str | None = None
    bios_version: str | None = None
    retired: bool = False
    retired_at: datetime | None = None
    # When a run last wrote a change of it (not compared: an unchanged read keeps it).
    changed_at: datetime | None = field(default=None, compare=False)


# The details a single read gives (``ethernet_mac`` too: the list leaves it null), and the
# export-only columns, as DeviceRecord fields in the order they are staged.
DETAIL_FIELDS = ("physical_memory_bytes", "ethernet_mac", "iccid", "udid",
                 "enrollment_profile", "tpm_version")
EXTRA_FIELDS = ("processor_architecture", "tpm_manufacturer_id", "tpm_manufacturer_version",
                "bios_version")
Details = tuple[Any, ...]  # values of DETAIL_FIELDS (or EXTRA_FIELDS), in that order


@record
class DeviceSoftware:
    """The detected apps on one device: those found on it now (ids, sorted) and those that
    ended on it, each with the time it was no longer found (kept, never deleted).

    A detected app's id names one version of one app, so an id carries the version."""

    id: str  # the device's Intune id
    apps: tuple[str, ...] = ()
    ended: tuple[tuple[str, str], ...] = ()  # (app id, ISO time), sorted


@record
class DetectedAppRecord:
    """Software found on devices (Intune detected apps), with its device count."""

    id: str
    name: str
    version: str | None
    publisher: str | None
    platform: str | None
    device_count: int | None
    size_bytes: int | None
    removed: bool = False
    removed_at: datetime | None = None
    changed_at: datetime | None = field(default=None, compare=False)


@record
class ManagedAppRecord:
    """An app Intune manages (deviceAppManagement/mobileApps); type from @odata.type."""

    id: str
    name: str
    app_type: str
    publisher: str | None
    removed: bool = False
    removed_at: datetime | None = None
    changed_at: datetime | None = field(default=None, compare=False)


@dataclass
class Organization:
    display_name: str
    default_domain: str
    verified_domains: tuple[str, ...]


@dataclass(frozen=True)
class SavedRead:
    """A read's saved progress: its checkpoint row's version and its cycle (docs/inventory.md)."""

    etag: str
    cycle: str


@dataclass
class Inventory:
    """What one read of a tenant's Intune data found; ``complete`` per part.

    Devices are as the list gives them; their details (and export columns) read this time
    are apart, by device id, so that the plan can keep the stored ones of the others.
    ``in_progress``: the read stopped part-way with its progress saved (``error`` says how
    far); nothing of it is to be compared or written yet.
    """

    organization: Organization | None = None
    devices: dict[str, DeviceRecord] = field(default_factory=dict)
    detected_apps: dict[str, DetectedAppRecord] = field(default_factory=dict)
    managed_apps: dict[str, ManagedAppRecord] = field(default_factory=dict)
    software: dict[str, tuple[str, ...]] = field(default_factory=dict)  # device -> app ids
    details: dict[str, Details] = field(default_factory=dict)
    extras: dict[str, Details] = field(default_factory=dict)
    devices_complete: bool = False
    detected_apps_complete: bool = False
    managed_apps_complete: bool = False
    software_complete: bool = False  # every app's devices were read
    details_complete: bool = False  # every wanted detail read had an answer
    in_progress: bool = False
    error_code: str = ""
    error: str = ""
    digest: str = ""  # of the whole read; empty unless it is complete
    devices_listed: int = 0  # ``devices`` are left empty by a read found unchanged
    # The progress this read saved (dropped once it was applied); None: it saved none.
    saved: SavedRead | None = None

    @property
    def complete(self) -> bool:
        return (self.devices_complete and self.detected_apps_complete
                and self.managed_apps_complete and self.software_complete
                and self.details_complete)


# Graph property -> DeviceRecord field, for $select and for parsing.
DEVICE_FIELDS = {
    "id": "id", "deviceName": "name", "serialNumber": "serial_number",
    "manufacturer": "manufacturer", "model": "model", "operatingSystem": "operating_system",
    "osVersion": "os_version", "managedDeviceOwnerType": "owner_type",
    "enrolledDateTime": "enrolled_at", "lastSyncDateTime": "last_sync_at",
    "complianceState": "compliance_state", "managementAgent": "management_agent",
    "azureADDeviceId": "azure_ad_device_id", "userId": "user_id",
    "userPrincipalName": "user_upn", "emailAddress": "user_email",
    "userDisplayName": "user_display_name", "imei": "imei", "meid": "meid",
    "wiFiMacAddress": "wifi_mac",
    "totalStorageSpaceInBytes": "total_storage_bytes",
    "freeStorageSpaceInBytes": "free_storage_bytes", "isEncrypted": "is_encrypted",
}
# What a single read of a device selects: the v1.0 managedDevice page says these come back
# at their default in List managedDevices, "an individual GET call with select query
# options is needed to retrieve actual values". (activationLockBypassCode is one too; it
# unlocks the device, so it is never read.)
DETAIL_SELECT = ("id,physicalMemoryInBytes,ethernetMacAddress,iccid,udid,"
                 "enrollmentProfileName,deviceHealthAttestationState")
DETECTED_APP_SELECT = "id,displayName,version,publisher,platform,deviceCount,sizeInByte"
MOBILE_APP_SELECT = "id,displayName,publisher"


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = value.strip() if isinstance(value, str) else str(value)
    return text or None


def _int(value: Any) -> int | None:
    kind = type(value)
    if kind is int:
        return value
    return int(value) if kind is float or (isinstance(value, int) and kind is not bool) else None


def _object_id(value: Any) -> str | None:
    text = _text(value)
    # Intune reports "no user" as an all-zero GUID (or an empty string).
    return None if text is None or not text.strip("0-") else text.lower()


def device_from_graph(item: dict[str, Any]) -> DeviceRecord:
    """One managedDevice as a record (a hot path: hundreds of thousands per sync, so the
    record is built positionally, in DeviceRecord's field order)."""
    get = item.get
    encrypted = get("isEncrypted")
    # Graph sends the texts as strings, "" meaning none.
    return DeviceRecord(
        str(get("id") or ""), str(get("deviceName") or ""),
        normalize_serial(get("serialNumber")),
        get("manufacturer") or None, get("model") or None, get("operatingSystem") or None,
        get("osVersion") or None, get("managedDeviceOwnerType") or None,
        get("enrolledDateTime") or None, get("lastSyncDateTime") or None,
        get("complianceState") or None, get("managementAgent") or None,
        _object_id(get("azureADDeviceId")), _object_id(get("userId")),
        get("userPrincipalName") or None, get("emailAddress") or None,
        get("userDisplayName") or None, get("imei") or None, get("meid") or None,
        get("wiFiMacAddress") or None, None,  # ethernetMacAddress: a detail (see below)
        _int(get("totalStorageSpaceInBytes")), _int(get("freeStorageSpaceInBytes")),
        encrypted if isinstance(encrypted, bool) else None,
    )


def device_key(item: dict[str, Any]) -> tuple[str, str | None]:
    """A listed managedDevice's id and check-in time, as ``device_from_graph`` makes them."""
    return str(item.get("id") or ""), item.get("lastSyncDateTime") or None


def details_from_graph(item: dict[str, Any]) -> Details:
    """The details of one device as a single read with ``DETAIL_SELECT`` gives them."""
    health = item.get("deviceHealthAttestationState")
    tpm = health.get("tpmVersion") if isinstance(health, dict) else None
    memory = _int(item.get("physicalMemoryInBytes"))
    return (memory or None, _text(item.get("ethernetMacAddress")), _text(item.get("iccid")),
            _text(item.get("udid")), _text(item.get("enrollmentProfileName")), _text(tpm))


def detected_app_from_graph(item: dict[str, Any]) -> DetectedAppRecord:
    return DetectedAppRecord(
        id=str(item["id"]), name=str(item.get("displayName") or ""),
        version=_text(item.get("version")), publisher=_text(item.get("publisher")),
        platform=_text(item.get("platform")), device_count=_int(item.get("deviceCount")),
        size_bytes=_int(item.get("sizeInByte")),
    )


def managed_app_from_graph(item: dict[str, Any]) -> ManagedAppRecord:
    odata_type = str(item.get("@odata.type") or "")
    return ManagedAppRecord(
        id=str(item["id"]), name=str(item.get("displayName") or ""),
        app_type=odata_type.removeprefix("#microsoft.graph."),
        publisher=_text(item.get("publisher")),
    )


def organization_from_graph(item: dict[str, Any]) -> Organization:
    domains = [d for d in item.get("verifiedDomains") or [] if isinstance(d, dict)]
    default = next((d.get("name") for d in domains if d.get("isDefault")), "") or ""
    return Organization(
        display_name=str(item.get("displayName") or ""),
        default_domain=str(default),
        verified_domains=tuple(sorted(str(d.get("name")) for d in domains if d.get("name"))),
    )
