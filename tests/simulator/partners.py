"""A partner tenant with GDAP and Partner Center data, and customer tenants with Intune."""

from __future__ import annotations

from typing import Any

PARTNER = "a0000000-0000-4000-8000-000000000001"  # Northwind (the partner)
CUSTOMER = "c0000000-0000-4000-8000-000000000001"  # Contoso: Intune licensed
UNLICENSED = "c0000000-0000-4000-8000-000000000002"  # Fabrikam: no Intune
OUTSIDER = "c0000000-0000-4000-8000-000000000003"  # Tailspin: the app is not installed

SYNC_APP = "b0000000-0000-4000-8000-000000000001"  # multitenant, fully consented
SINGLE_APP = "b0000000-0000-4000-8000-000000000002"  # single-tenant, yet installed in Contoso
NO_ROLES_APP = "b0000000-0000-4000-8000-000000000003"  # multitenant, no roles anywhere
DEVICES_ONLY_APP = "b0000000-0000-4000-8000-000000000004"  # managed devices only
SECRET = "Sync~App.Secret-value_1"

DEVICE_COUNT = 7
DETECTED_COUNT = 120
DEVICES = [f"d0000000-0000-4000-8000-{n:012d}" for n in range(1, DEVICE_COUNT + 1)]
MOBILE_WIN32 = "e0000000-0000-4000-8000-000000000001"
MOBILE_STORE = "e0000000-0000-4000-8000-000000000002"
MOBILE_IOS = "e0000000-0000-4000-8000-000000000003"
REL_ACTIVE = [f"{CUSTOMER}-r000000{n}-0000-4000-8000-000000000000" for n in range(1, 6)]
REL_EXPIRED = f"{UNLICENSED}-f0000000-0000-4000-8000-000000000000"
PC_CUSTOMERS = [f"c1000000-0000-4000-8000-{n:012d}" for n in range(1, 6)]

INTUNE_ROLES = ["DeviceManagementManagedDevices.Read.All", "DeviceManagementApps.Read.All"]
CUSTOMER_ROLES = [*INTUNE_ROLES, "Organization.Read.All"]


def _secret(n: int) -> list[dict[str, str]]:
    return [{"id": f"f1000000-0000-4000-8000-00000000000{n}", "value": SECRET}]


def device(n: int, device_id: str) -> dict[str, Any]:
    return {
        "deviceName": f"LAPTOP-{n:03d}",
        "serialNumber": f"SN{n:05d}",
        "manufacturer": "LENOVO",
        "model": "ThinkPad T14",
        "operatingSystem": "Windows",
        "osVersion": "10.0.22631.3447",
        "managedDeviceOwnerType": "company",
        "enrolledDateTime": "2024-01-02T03:04:05Z",
        "lastSyncDateTime": "2024-06-01T00:00:00Z",
        "complianceState": "compliant",
        "azureADDeviceId": device_id.replace("d", "a", 1),
        "userPrincipalName": f"user{n}@contoso.example",
        "isEncrypted": True,
        "totalStorageSpaceInBytes": 256_000_000_000,
        "freeStorageSpaceInBytes": 100_000_000_000,
        "ethernetMacAddress": f"00155D00{n:04d}",
    }


def build_partner_fixture() -> dict[str, Any]:
    apps = {
        SYNC_APP: {"home_tenant": PARTNER, "display_name": "Sync", "multitenant": True},
        SINGLE_APP: {"home_tenant": PARTNER, "display_name": "Single"},
        NO_ROLES_APP: {"home_tenant": PARTNER, "display_name": "Bare", "multitenant": True},
        DEVICES_ONLY_APP: {"home_tenant": PARTNER, "display_name": "Dev", "multitenant": True},
    }
    for n, app in enumerate(apps.values(), start=1):
        app["secrets"] = _secret(n)
    detected = {
        f"app{n:04d}": {
            "displayName": f"App {n}",
            "version": f"1.{n}",
            "publisher": "Contoso Ltd",
            "platform": "windows",
            "deviceCount": n % 7,
            "sizeInByte": n * 1000,
        }
        for n in range(1, DETECTED_COUNT + 1)
    }
    mobile = {
        MOBILE_WIN32: {
            "@odata.type": "#microsoft.graph.win32LobApp",
            "displayName": "7-Zip",
            "publisher": "Igor Pavlov",
            "fileName": "7z.intunewin",
        },
        MOBILE_STORE: {
            "@odata.type": "#microsoft.graph.winGetApp",
            "displayName": "Teams",
            "publisher": "Microsoft",
        },
        MOBILE_IOS: {
            "@odata.type": "#microsoft.graph.iosVppApp",
            "displayName": "Outlook",
            "publisher": "Microsoft",
        },
    }
    relationships = [
        {
            "id": rel,
            "displayName": f"Contoso {n}",
            "status": "active",
            "customer": {"tenantId": CUSTOMER},
            "endDateTime": "2026-01-01T00:00:00Z",
        }
        for n, rel in enumerate(REL_ACTIVE, start=1)
    ]
    relationships.insert(
        2,
        {
            "id": REL_EXPIRED,
            "displayName": "Fabrikam old",
            "status": "expired",
            "customer": {"tenantId": UNLICENSED, "displayName": "Fabrikam"},
            "endDateTime": "2023-01-01T00:00:00Z",
        },
    )
    pc_customers = [
        {"companyProfile": {"tenantId": CUSTOMER}},
        {"companyProfile": {"tenantId": UNLICENSED}, "relationshipToPartner": "advisor"},
        *[
            {
                "id": cid,
                "companyProfile": {
                    "tenantId": cid,
                    "domain": f"c{n}.example",
                    "companyName": f"Customer {n}",
                },
            }
            for n, cid in enumerate(PC_CUSTOMERS[2:], start=3)
        ],
    ]
    return {
        "applications": apps,
        "tenants": {
            PARTNER: {
                "display_name": "Northwind Partners",
                "service_principals": {
                    SYNC_APP: {"roles": ["DelegatedAdminRelationship.Read.All"]},
                    SINGLE_APP: {"roles": []},
                    NO_ROLES_APP: {"roles": []},
                },
                "gdap": {
                    "customers": [
                        {"tenantId": CUSTOMER},
                        {"tenantId": UNLICENSED, "displayName": "Fabrikam Inc"},
                    ],
                    "relationships": relationships,
                },
                "partner_center": {"customers": pc_customers, "app_access": [SYNC_APP]},
            },
            CUSTOMER: {
                "display_name": "Contoso Ltd",
                "service_principals": {
                    SYNC_APP: {"roles": CUSTOMER_ROLES},
                    SINGLE_APP: {"roles": CUSTOMER_ROLES},
                    NO_ROLES_APP: {"roles": []},
                    DEVICES_ONLY_APP: {"roles": ["DeviceManagementManagedDevices.Read.All"]},
                },
                "organization": {
                    "displayName": "Contoso Ltd",
                    "verifiedDomains": [
                        {"name": "contoso.example", "isDefault": True},
                        {"name": "contosoltd.onmicrosoft.com", "isInitial": True},
                    ],
                },
                "intune": {
                    "managed_devices": {d: device(n, d) for n, d in enumerate(DEVICES, 1)},
                    "detected_apps": detected,
                    "mobile_apps": mobile,
                },
            },
            UNLICENSED: {
                "display_name": "Fabrikam",
                "service_principals": {SYNC_APP: {"roles": CUSTOMER_ROLES}},
            },
            OUTSIDER: {"display_name": "Tailspin"},
        },
    }


PARTNER_CENTER_SCOPE = "https://api.partnercenter.microsoft.com/.default"
GRAPH = "https://graph.microsoft.com/.default"


def token_result(sim: Any, tenant: str, app: str = SYNC_APP, scope: str = GRAPH) -> dict:
    """MSAL's answer for an app-only token (a fresh MSAL app each time: no shared cache)."""
    from .conftest import msal_app

    return dict(msal_app(sim, app, SECRET, tenant).acquire_token_for_client([scope]))


def token(sim: Any, tenant: str, app: str = SYNC_APP, scope: str = GRAPH) -> str:
    result = token_result(sim, tenant, app, scope)
    assert "access_token" in result, result
    return str(result["access_token"])


def get(sim: Any, url: str, bearer: str, **headers: str) -> Any:
    """GET a simulator path (or absolute URL) with a Bearer token, trusting only its CA."""
    from .conftest import http

    target = url if url.startswith("https://") else f"{sim.base_url}{url}"
    return http(sim).get(
        target, headers={"Authorization": f"Bearer {bearer}", **headers}, timeout=10
    )


def read_all(sim: Any, url: str, bearer: str) -> list[dict[str, Any]]:
    """Every page of a Graph collection (following @odata.nextLink); the page sizes."""
    pages: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        response = get(sim, next_url, bearer)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        next_url = page.get("@odata.nextLink")
    return pages
