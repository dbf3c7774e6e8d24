"""Shapes of the Intune, organization, GDAP and Partner Center items the simulator returns.

Each table lists the properties in the order the real service sends them, with the value it
sends when the property is not set. Sources (see docs/simulator.md): the v1.0 managedDevice
resource page and real list responses published in public repositories and issues; the
GDAP list examples of microsoft-graph-docs-contrib; Partner Center's "Get a list of
customers" examples.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

NO_DATE = "0001-01-01T00:00:00Z"  # what Intune sends for a date it does not have

# managedDevice (v1.0): (property, value when unset, JSON type checked in the fixture).
# Real list responses send "" for unset strings such as imei or userId, null for the
# properties below that have no value and 0001-01-01T00:00:00Z for dates.
DEVICE_PROPERTIES: list[tuple[str, Any, str]] = [
    ("id", None, "str"),
    ("userId", "", "str"),
    ("deviceName", "", "str"),
    ("managedDeviceOwnerType", "unknown", "str"),
    ("enrolledDateTime", NO_DATE, "str"),
    ("lastSyncDateTime", NO_DATE, "str"),
    ("operatingSystem", "", "str"),
    ("complianceState", "unknown", "str"),
    ("jailBroken", "Unknown", "str"),
    ("managementAgent", "mdm", "str"),
    ("osVersion", "", "str"),
    ("easActivated", False, "bool"),
    ("easDeviceId", "", "str"),
    ("easActivationDateTime", NO_DATE, "str"),
    ("azureADRegistered", False, "bool"),
    ("deviceEnrollmentType", "unknown", "str"),
    ("activationLockBypassCode", None, "str"),
    ("emailAddress", "", "str"),
    ("azureADDeviceId", "", "str"),
    ("deviceRegistrationState", "unknown", "str"),
    ("deviceCategoryDisplayName", "Unknown", "str"),
    ("isSupervised", False, "bool"),
    ("exchangeLastSuccessfulSyncDateTime", NO_DATE, "str"),
    ("exchangeAccessState", "none", "str"),
    ("exchangeAccessStateReason", "none", "str"),
    ("remoteAssistanceSessionUrl", None, "str"),
    ("remoteAssistanceSessionErrorDetails", None, "str"),
    ("isEncrypted", False, "bool"),
    ("userPrincipalName", "", "str"),
    ("model", "", "str"),
    ("manufacturer", "", "str"),
    ("imei", "", "str"),
    ("complianceGracePeriodExpirationDateTime", "9999-12-31T23:59:59Z", "str"),
    ("serialNumber", "", "str"),
    ("phoneNumber", "", "str"),
    ("androidSecurityPatchLevel", "", "str"),
    ("userDisplayName", "", "str"),
    ("configurationManagerClientEnabledFeatures", None, "object"),
    ("wiFiMacAddress", "", "str"),
    ("deviceHealthAttestationState", None, "object"),
    ("subscriberCarrier", "", "str"),
    ("meid", "", "str"),
    ("totalStorageSpaceInBytes", 0, "int"),
    ("freeStorageSpaceInBytes", 0, "int"),
    ("managedDeviceName", "", "str"),
    ("partnerReportedThreatState", "unknown", "str"),
    ("requireUserEnrollmentApproval", None, "bool"),
    ("managementCertificateExpirationDate", NO_DATE, "str"),
    ("iccid", None, "str"),
    ("udid", None, "str"),
    ("notes", None, "str"),
    ("ethernetMacAddress", None, "str"),
    ("physicalMemoryInBytes", 0, "int"),
    ("enrollmentProfileName", None, "str"),
    ("deviceActionResults", [], "list"),
]
# Returned at their default (null, or 0) by List managedDevices whatever their value; only a
# GET of one device that names them in $select returns the real value. The v1.0 property
# descriptions say so for all but enrollmentProfileName ("Individual GET call with select
# query options is needed to retrieve actual values"); enrollmentProfileName is from
# microsoft-graph-docs-contrib issues #1455 and #8816.
LIST_HIDDEN_DEVICE_PROPERTIES = frozenset(
    {
        "activationLockBypassCode",
        "ethernetMacAddress",
        "iccid",
        "notes",
        "physicalMemoryInBytes",
        "remoteAssistanceSessionUrl",
        "udid",
        "enrollmentProfileName",
    }
)

DETECTED_APP_PROPERTIES: list[tuple[str, Any, str]] = [
    ("id", None, "str"),
    ("displayName", "", "str"),
    ("version", "", "str"),
    ("sizeInByte", 0, "int"),
    ("deviceCount", 0, "int"),
    ("publisher", "", "str"),
    ("platform", "unknown", "str"),
]

# mobileApp (the base type of every app in deviceAppManagement/mobileApps).
MOBILE_APP_PROPERTIES: list[tuple[str, Any, str]] = [
    ("id", None, "str"),
    ("displayName", "", "str"),
    ("description", "", "str"),
    ("publisher", "", "str"),
    ("largeIcon", None, "object"),
    ("createdDateTime", NO_DATE, "str"),
    ("lastModifiedDateTime", NO_DATE, "str"),
    ("isFeatured", False, "bool"),
    ("privacyInformationUrl", None, "str"),
    ("informationUrl", None, "str"),
    ("owner", "", "str"),
    ("developer", "", "str"),
    ("notes", "", "str"),
    ("publishingState", "published", "str"),
]

ORGANIZATION_PROPERTIES: list[tuple[str, Any]] = [
    ("id", None),
    ("deletedDateTime", None),
    ("businessPhones", []),
    ("city", None),
    ("country", None),
    ("countryLetterCode", None),
    ("createdDateTime", None),
    ("displayName", None),
    ("marketingNotificationEmails", []),
    ("onPremisesLastSyncDateTime", None),
    ("onPremisesSyncEnabled", None),
    ("postalCode", None),
    ("preferredLanguage", None),
    ("securityComplianceNotificationMails", []),
    ("securityComplianceNotificationPhones", []),
    ("state", None),
    ("street", None),
    ("technicalNotificationMails", []),
    ("tenantType", "AAD"),
    ("assignedPlans", []),
    ("privacyProfile", None),
    ("provisionedPlans", []),
    ("verifiedDomains", []),
]

GDAP_STATUSES = (
    "activating",
    "active",
    "approvalPending",
    "approved",
    "created",
    "expired",
    "expiring",
    "terminated",
    "terminating",
    "terminationRequested",
)
GDAP_CUSTOMER_PROPERTIES = ("id", "tenantId", "displayName")
GDAP_RELATIONSHIP_PROPERTIES = (
    "id",
    "displayName",
    "duration",
    "customer",
    "accessDetails",
    "status",
    "autoExtendDuration",
    "createdDateTime",
    "lastModifiedDateTime",
    "activatedDateTime",
    "endDateTime",
)
PC_RELATIONSHIPS = ("reseller", "advisor", "none")


def property_names(table: list[tuple[str, Any, str]]) -> frozenset[str]:
    return frozenset(name for name, _default, _kind in table)


def defaults_of(table: list[tuple[str, Any, str]]) -> dict[str, Any]:
    """The table as {property: value when unset}, in table order."""
    return {name: default for name, default, _kind in table}


def render(defaults: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    """Every property of `defaults` in its order (unset ones with their default), then any
    further properties of `props` (a subtype's, for mobile apps). Default lists are shared:
    rendered items are never changed in place."""
    out = dict(defaults)
    out.update(props)  # keys already present keep their place
    return out


def etag(*parts: str) -> str:
    """A stable weak ETag for an item, shaped like the ones GDAP sends."""
    digest = hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()[:32]
    inner = base64.b64encode(f'"{digest}"'.encode("ascii")).decode("ascii")
    return f'W/"{inner}"'


def initial_domain(display_name: str) -> str:
    """`<slug>.onmicrosoft.com` for a tenant's display name (letters and digits only)."""
    slug = re.sub(r"[^a-z0-9]", "", display_name.lower()) or "tenant"
    return f"{slug[:27]}.onmicrosoft.com"


def domain(name: str, *, default: bool, initial: bool, kind: str = "Managed") -> dict[str, Any]:
    """A verifiedDomain as Graph returns it."""
    return {
        "capabilities": "Email, OfficeCommunicationsOnline",
        "isDefault": default,
        "isInitial": initial,
        "name": name,
        "type": kind,
    }


def organization(tenant_id: str, display_name: str, domains: list[dict[str, Any]]) -> dict:
    """The organization object of a tenant."""
    out = {
        name: (list(value) if isinstance(value, list) else value)
        for name, value in ORGANIZATION_PROPERTIES
    }
    out.update(id=tenant_id, displayName=display_name, verifiedDomains=domains)
    return out


def gdap_customer(tenant_id: str, display_name: str, customer_id: str) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.delegatedAdminCustomer",
        "@odata.etag": etag("customer", customer_id),
        "id": customer_id,
        "tenantId": tenant_id,
        "displayName": display_name,
    }


def pc_customer(
    customer_id: str, tenant_id: str, domain_name: str, company: str, relationship: str
) -> dict[str, Any]:
    """A Partner Center Customer as GET /v1/customers lists it."""
    return {
        "id": customer_id,
        "companyProfile": {
            "tenantId": tenant_id,
            "domain": domain_name,
            "companyName": company,
            "links": {
                "self": {
                    "uri": f"/customers/{customer_id}/profiles/company",
                    "method": "GET",
                    "headers": [],
                }
            },
            "attributes": {"objectType": "CustomerCompanyProfile"},
        },
        "relationshipToPartner": relationship,
        "links": {"self": {"uri": f"/customers/{customer_id}", "method": "GET", "headers": []}},
        "attributes": {"objectType": "Customer"},
    }
