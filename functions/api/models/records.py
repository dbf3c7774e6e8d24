"""What the API answers: tenants, runs, users, groups, devices, software, partners,
pages and errors. Field names are camelCase, as portals expect in JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from functions.api.models.fields import Kind
from functions.core.model import Health, RunStatus


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable error code (see docs/api.md)")
    message: str = Field(description="What went wrong and how to fix it")
    runId: str | None = Field(default=None, description="The run in the way (409 only)")


class ErrorBody(BaseModel):
    error: ErrorDetail


class DirectoryConnectionOut(BaseModel):
    clientId: str
    groupId: str | None = Field(description="null while the tenant awaits its level-0 group "
                                            "(consented without one)")
    scope: str
    credentialType: str = Field(description="secret, certificate or federated")


class DeviceSide(BaseModel):
    """A tenant's device connection (through a partner) and the device sync's state."""

    partnerTenantId: str | None = Field(
        description="The partner connection it comes from; null for a tenant connected "
                    "directly by an admin-consent link")
    credentialType: str = Field(description="How the inventory app signs in: secret, "
                                            "certificate or federated")
    active: bool = Field(description="false once the partner relationship ended (data kept)")
    excluded: bool = Field(description="The partner connection excludes it: never queried")
    unsupportedReason: str | None = Field(description="Why its devices cannot be read")
    organization: str | None = Field(description="Organization name, from the device sync")
    defaultDomain: str | None
    verifiedDomains: list[str]
    health: Health
    healthSince: datetime | None
    lastErrorCode: str | None
    lastError: str | None
    consecutiveFailures: int
    quarantinedUntil: datetime | None = Field(
        description="Scheduled syncs skip the tenant until then")
    secretExpiresOn: datetime | None = Field(description="Of the partner's inventory app")


class Tenant(BaseModel):
    tenantId: str
    displayName: str = Field(description="Name of the level-0 group")
    enabled: bool
    health: Health
    healthSince: datetime | None
    secretExpiresOn: datetime | None
    lastErrorCode: str | None
    lastError: str | None
    consecutiveFailures: int
    createdAt: datetime | None
    directory: DirectoryConnectionOut | None
    devices: DeviceSide | None = Field(
        description="Device connection and sync state; null without a device connection")


class Counts(BaseModel):
    created: int
    updated: int
    unchanged: int
    markedDeleted: int
    restored: int


class DeviceCounts(BaseModel):
    created: int
    updated: int
    unchanged: int
    retired: int = Field(description="Gone from Intune: kept, marked retired")
    restored: int


class AppCounts(BaseModel):
    created: int
    updated: int
    unchanged: int
    removed: int = Field(description="Gone from Intune: kept, marked removed")
    restored: int


class RunOut(BaseModel):
    runId: str
    tenantId: str
    kind: Kind
    trigger: str
    status: RunStatus
    startedAt: datetime
    endedAt: datetime | None
    users: Counts
    groups: Counts
    membershipsAdded: int
    membershipsRemoved: int
    devices: DeviceCounts = Field(description="Device runs: managed devices")
    apps: AppCounts = Field(description="Device runs: detected and managed apps")
    ignored: dict[str, int] = Field(description="Members not imported, by reason")
    graphRequests: int
    throttled: int
    entitiesWritten: int
    transactions: int
    cpuMs: int = Field(
        description="CPU milliseconds its threads used (what the instance is billed for); "
        "0 for a run recorded before this was measured")
    storageOperations: int = Field(
        description="Table and queue requests it sent, up to the save of its record")
    errorCode: str | None
    error: str | None
    changesFrom: str | None = Field(
        description="Change-feed cursor before the changes this run recorded (null: none)")
    changesTo: str | None = Field(
        description="Change-feed cursor after the changes this run recorded (null: none)")


class User(BaseModel):
    id: str = Field(description="Entra object ID")
    displayName: str
    email: str | None = Field(description="Entra `mail`; null for an anonymous user")
    upn: str
    anonymous: bool
    direct: bool = Field(description="A direct member of the level-0 group")
    azureIdDeleted: bool = Field(description='"Azure ID: deleted": left the level-0 group')
    deletedAt: datetime | None
    groupIds: list[str] = Field(description="The level-1 groups it is an active member of")
    changedAt: datetime | None = Field(
        description="When a sync last changed it (null: before change times were kept)")


class Group(BaseModel):
    id: str = Field(description="Entra object ID of a level-1 group")
    displayName: str
    azureIdDeleted: bool
    deletedAt: datetime | None
    memberCount: int = Field(description="Its active user members")
    changedAt: datetime | None = Field(description="When a sync last changed it")


class Device(BaseModel):
    """A managed device as the last device sync stored it (all of its fields)."""

    model_config = ConfigDict(extra="forbid")  # device_out fails loudly on a new field

    id: str = Field(description="Intune managed device ID")
    name: str
    serialNumber: str | None = Field(
        description="Trimmed and upper-cased; null when empty or a placeholder like "
                    "'To Be Filled By O.E.M.'")
    manufacturer: str | None
    model: str | None
    operatingSystem: str | None
    osVersion: str | None
    ownerType: str | None = Field(description="company or personal")
    enrolledAt: datetime | None = Field(description="Enrolment time, as Intune gives it")
    lastSyncAt: datetime | None = Field(description="Last check-in, as Intune gives it")
    complianceState: str | None
    managementAgent: str | None
    azureAdDeviceId: str | None
    userId: str | None = Field(description="Primary user's Entra object ID")
    userUpn: str | None
    userEmail: str | None
    userDisplayName: str | None
    imei: str | None
    meid: str | None
    wifiMac: str | None
    ethernetMac: str | None
    totalStorageBytes: int | None
    freeStorageBytes: int | None
    isEncrypted: bool | None
    physicalMemoryBytes: int | None = Field(
        description="Memory: a single read of the device gives it (the list does not)")
    udid: str | None = Field(description="Unique Device Identifier (iOS, macOS)")
    iccid: str | None = Field(description="The SIM card's identifier")
    enrollmentProfile: str | None
    tpmVersion: str | None = Field(description="From the device's health attestation")
    detailsAsOf: str | None = Field(
        description="The check-in (lastSyncAt) whose details these are: they are read again "
                    "only after the device checks in again")
    processorArchitecture: str | None = Field(
        description="Export path only (DevicesWithInventory): null on the read-only path")
    tpmManufacturerId: str | None = Field(description="Export path only")
    tpmManufacturerVersion: str | None = Field(description="Export path only")
    biosVersion: str | None = Field(description="Export path only")
    retired: bool = Field(description="Gone from Intune (kept, never deleted)")
    retiredAt: datetime | None
    changedAt: datetime | None = Field(description="When a sync last changed it")


class DeviceApp(BaseModel):
    """A detected app on a device (its id names one version of one app)."""

    appId: str
    name: str | None = Field(description="null for an app no longer stored")
    version: str | None
    publisher: str | None
    platform: str | None
    removed: bool = Field(description="No longer found on the device (kept)")
    removedAt: datetime | None


class DeviceDetail(Device):
    """One device with every field and its software: the apps on it now, then those that
    ended on it."""

    software: list[DeviceApp]


class DetectedApp(BaseModel):
    id: str = Field(description="Intune detected app ID")
    name: str
    version: str | None
    publisher: str | None
    platform: str | None
    deviceCount: int | None = Field(description="Devices it was detected on")
    sizeBytes: int | None
    removed: bool = Field(description="No longer detected (kept)")
    removedAt: datetime | None
    changedAt: datetime | None = Field(description="When a sync last changed it")


class ManagedApp(BaseModel):
    id: str = Field(description="Intune mobile app ID")
    name: str
    type: str = Field(description="App type, e.g. win32LobApp, iosStoreApp")
    publisher: str | None
    removed: bool = Field(description="No longer in Intune (kept)")
    removedAt: datetime | None
    changedAt: datetime | None = Field(description="When a sync last changed it")


class Partner(BaseModel):
    """A partner connection (never its secrets)."""

    partnerTenantId: str
    partnerClientId: str
    partnerCredentialType: str = Field(description="secret, certificate or federated")
    inventoryClientId: str
    inventoryCredentialType: str = Field(description="secret, certificate or federated")
    source: str = Field(description="gdap, partner-center or list")
    customers: list[str] = Field(description="The typed list (source `list`)")
    includePartnerTenant: bool
    excluded: list[str]
    createdAt: datetime | None


class Customer(BaseModel):
    tenantId: str
    name: str
    unsupportedReason: str | None


class Problem(BaseModel):
    code: str
    message: str


class Page(BaseModel):
    continuationToken: str | None = Field(
        description="Pass it back to get the next page; null on the last page. A page can "
                    "hold fewer items than pageSize while more follow."
    )


class TenantPage(Page):
    items: list[Tenant]


class RunPage(Page):
    items: list[RunOut]


class UserPage(Page):
    items: list[User]


class GroupPage(Page):
    items: list[Group]


class DevicePage(Page):
    items: list[Device]


class DetectedAppPage(Page):
    items: list[DetectedApp]


class ManagedAppPage(Page):
    items: list[ManagedApp]


class PartnerPage(Page):
    items: list[Partner]


class SyncStarted(BaseModel):
    runId: str
    tenantId: str
    kind: Kind
    status: RunStatus
    statusUrl: str = Field(description="GET it for the run's status and counts")


class DiscoveryOut(BaseModel):
    """What a discovery found and did, and the device syncs it queued."""

    partnerTenantId: str
    found: list[Customer] = Field(description="Customers the source lists now")
    new: list[str] = Field(description="New customers: a first device sync is queued")
    reactivated: list[str]
    inactive: list[str] = Field(description="No longer listed: kept, no longer synced")
    excluded: list[str]
    unsupported: list[str]
    queued: list[SyncStarted] = Field(
        description="The device sync of each new customer (or the one already under way)")


class PartnerSaved(Partner):
    """A saved partner connection and what the discovery that followed found and queued."""

    discovery: DiscoveryOut | None = Field(description="Null when the discovery failed")
    discoveryError: Problem | None = Field(
        description="Why the discovery failed (the connection is saved: fix it, then POST "
                    "/partners/{partnerTenantId}/discover)")


class ComponentHealth(BaseModel):
    status: Literal["ok", "unavailable"]
    code: str | None = Field(default=None, description="Error code when unavailable")


class HealthReport(BaseModel):
    status: Literal["ok", "unavailable"]
    storage: ComponentHealth
    keyVault: ComponentHealth

    @property
    def http_status(self) -> int:
        return 200 if self.status == "ok" else 503


class ChangeOut(BaseModel):
    """One change a sync wrote, at its position in the tenant's change feed."""

    sequence: int = Field(description="Its position in the feed (1, 2, 3, ...)")
    entity: str = Field(description="user, group, membership, device, detectedApp, "
                                    "managedApp; health (its id: the side that changed)")
    entityId: str = Field(description="The record's id (membership: <groupId>_<userId>)")
    change: str = Field(description="created, updated, deleted, restored (users, groups); "
                                    "added, ended (memberships); created, updated, retired, "
                                    "restored (devices); detected, changed, removed, restored "
                                    "(apps); changed (health)")
    name: str = Field(description="The record's display name, if any (health: the new one)")
    runId: str
    syncKind: str = Field(description="directory or devices")
    changedAt: datetime


class ChangePage(BaseModel):
    items: list[ChangeOut]
    cursor: str | None = Field(
        description="Pass it as `cursor` to read on: the position after the last item (null "
                    "while the feed is empty). Durable: keep it between sessions.")
    more: bool = Field(description="More changes follow now; false: you are at the end")


class HeldCounts(BaseModel):
    usersDeleted: int = Field(description="Users it would mark \"Azure ID: deleted\"")
    groupsDeleted: int
    membershipsEnded: int
    changes: int = Field(description="Every change it would write")


class HeldSync(BaseModel):
    """A sync the deletion guard held back, and a page of what it would write."""

    tenantId: str
    kind: Kind
    runId: str = Field(description="The run that was held")
    heldAt: datetime
    reason: str
    counts: HeldCounts
    changes: list[ChangeOut] = Field(
        description="The changes it would write (sequence: their order in the plan)")
    continuationToken: str | None = Field(
        description="Pass it back for the next page of changes; null on the last")
