"""A partner with GDAP access assignments and partner users, and three customers: one whose
relationship may consent (Application and Privileged Role Administrator), one whose
relationship holds no role that may, one whose relationship has expired."""

from __future__ import annotations

from typing import Any

PARTNER = "a1000000-0000-4000-8000-000000000001"
CONSENTABLE = "c2000000-0000-4000-8000-000000000001"
NO_ROLE = "c2000000-0000-4000-8000-000000000002"
EXPIRED = "c2000000-0000-4000-8000-000000000003"
OUTSIDE_GDAP = "c2000000-0000-4000-8000-000000000004"

PARTNER_APP = "b1000000-0000-4000-8000-000000000001"  # lists customers, holds the sign-in
INVENTORY_APP = "b1000000-0000-4000-8000-000000000002"  # reads Intune with app-only tokens
SECRET = "Partner~App.Secret-value_9"
REDIRECT = "https://tenantsync.example/api/partners/sign-in/callback"

AGENT = "e1000000-0000-4000-8000-000000000001"  # AdminAgents, AA + PRA groups, MFA
NO_MFA = "e1000000-0000-4000-8000-000000000002"  # AdminAgents, same groups, no MFA
NOT_AGENT = "e1000000-0000-4000-8000-000000000003"  # same groups, outside AdminAgents
GROUP_APP_ADMINS = "f1000000-0000-4000-8000-000000000001"
GROUP_ROLE_ADMINS = "f1000000-0000-4000-8000-000000000002"
GROUP_HELPDESK = "f1000000-0000-4000-8000-000000000003"

APPLICATION_ADMIN = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
PRIVILEGED_ROLE_ADMIN = "e8611ab8-c189-46e8-94e1-60213ab1f814"
HELPDESK_ADMIN = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
INVENTORY_ROLES = ["Organization.Read.All", "DeviceManagementManagedDevices.Read.All",
                   "DeviceManagementApps.Read.All"]


def _rel(rel_id: str, customer: str, status: str = "active") -> dict[str, Any]:
    return {"id": rel_id, "displayName": rel_id, "status": status,
            "customer": {"tenantId": customer},
            "accessDetails": {"unifiedRoles": []}}


def build_partner_side_fixture(propagation_seconds: float = 0.0) -> dict[str, Any]:
    groups = [GROUP_APP_ADMINS, GROUP_ROLE_ADMINS, GROUP_HELPDESK]
    secret = [{"id": "f9000000-0000-4000-8000-000000000001", "value": SECRET}]
    return {
        "applications": {
            PARTNER_APP: {"home_tenant": PARTNER, "display_name": "Partner", "multitenant": True,
                          "secrets": secret, "redirect_uris": [REDIRECT]},
            INVENTORY_APP: {"home_tenant": PARTNER, "display_name": "Inventory",
                            "multitenant": True, "secrets": secret,
                            "required_roles": INVENTORY_ROLES},
        },
        "tenants": {
            PARTNER: {
                "display_name": "Northwind Partners",
                "service_principals": {
                    PARTNER_APP: {"roles": ["DelegatedAdminRelationship.Read.All"]},
                    INVENTORY_APP: {"roles": []},
                },
                "gdap": {"relationships": [_rel("rel-consentable", CONSENTABLE),
                                           _rel("rel-no-role", NO_ROLE),
                                           _rel("rel-expired", EXPIRED, "expired")]},
            },
            CONSENTABLE: {"display_name": "Contoso", "intune": {"managed_devices": {}}},
            NO_ROLE: {"display_name": "Fabrikam", "intune": {"managed_devices": {}}},
            EXPIRED: {"display_name": "Tailspin"},
            OUTSIDE_GDAP: {"display_name": "Woodgrove"},
        },
        "partner_access": {
            "propagation_seconds": propagation_seconds,
            "partners": {PARTNER: {
                "users": {
                    AGENT: {"userPrincipalName": "agent@northwind.example", "groups": groups},
                    NO_MFA: {"userPrincipalName": "nomfa@northwind.example", "groups": groups,
                             "mfa": False},
                    NOT_AGENT: {"userPrincipalName": "user@northwind.example", "groups": groups,
                                "admin_agent": False},
                },
                "signed_in_user": AGENT,
                "access_assignments": {
                    "rel-consentable": [
                        {"group": GROUP_APP_ADMINS, "roles": [APPLICATION_ADMIN]},
                        {"group": GROUP_ROLE_ADMINS, "roles": [PRIVILEGED_ROLE_ADMIN]}],
                    "rel-no-role": [{"group": GROUP_HELPDESK, "roles": [HELPDESK_ADMIN]}],
                    "rel-expired": [{"group": GROUP_APP_ADMINS, "roles": [APPLICATION_ADMIN]}],
                },
            }},
        },
    }
