"""What each sync needs of Microsoft Graph, and which granted application permissions give it.

The table follows the "Permissions" section of each Graph v1.0 API page the syncs call
(least to most privileged, application column): a higher permission that includes a lower
one counts (``Directory.Read.All`` reads users, groups and the organization; a
``*.ReadWrite.All`` permission reads what its ``*.Read.All`` does).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable

# need -> the application permissions that satisfy it, least privileged first.
SATISFIED_BY: dict[str, tuple[str, ...]] = {
    # "Get group", "List group members", "List groups"
    "GroupMember.Read.All": (
        "GroupMember.Read.All", "Group.Read.All", "Directory.Read.All",
        "GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All",
    ),
    # "Create subscription" to /groups (change notifications, optional); GroupMember.Read.All
    # is not listed for it
    "Group.Read.All": (
        "Group.Read.All", "Directory.Read.All", "Group.ReadWrite.All", "Directory.ReadWrite.All",
    ),
    # "Get user"; without it a member listing gives user members with their id only
    "User.Read.All": (
        "User.Read.All", "Directory.Read.All", "User.ReadWrite.All", "Directory.ReadWrite.All",
    ),
    # "Get organization"
    "Organization.Read.All": (
        "Organization.Read.All", "Directory.Read.All", "Organization.ReadWrite.All",
        "Directory.ReadWrite.All",
    ),
    # "List managedDevices", "List detectedApps" (Intune v1.0)
    "DeviceManagementManagedDevices.Read.All": (
        "DeviceManagementManagedDevices.Read.All",
        "DeviceManagementManagedDevices.ReadWrite.All",
    ),
    # "List mobileApps" (Intune v1.0)
    "DeviceManagementApps.Read.All": (
        "DeviceManagementApps.Read.All", "DeviceManagementApps.ReadWrite.All",
    ),
    # "List delegatedAdminRelationships"
    "DelegatedAdminRelationship.Read.All": (
        "DelegatedAdminRelationship.Read.All", "DelegatedAdminRelationship.ReadWrite.All",
    ),
}

DIRECTORY_NEEDS = ("GroupMember.Read.All", "User.Read.All")
NOTIFICATION_NEEDS = ("Group.Read.All",)  # optional: without it, groups are not subscribed
DEVICE_NEEDS = ("Organization.Read.All", "DeviceManagementManagedDevices.Read.All",
                "DeviceManagementApps.Read.All")
GDAP_NEEDS = ("DelegatedAdminRelationship.Read.All",)


def missing(needs: Iterable[str], granted: Iterable[str]) -> list[str]:
    """The needs (in the order given) that no granted permission satisfies."""
    have = set(granted)
    return [need for need in needs if not have.intersection(SATISFIED_BY[need])]


def satisfied(need: str, granted: Iterable[str]) -> bool:
    return not missing((need,), granted)


def token_roles(access_token: str) -> list[str]:
    """The ``roles`` claim of an app-only access token: the application permissions granted
    in its tenant (none when admin consent is missing).

    The payload is decoded without checking the signature: the token is our own, just
    issued to us by Entra over TLS, and its claims only tell what Graph would allow. A token
    that is not a JWT reads as granting nothing.
    """
    parts = access_token.split(".")
    if len(parts) != 3:
        return []
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, binascii.Error):
        return []
    roles = claims.get("roles") if isinstance(claims, dict) else None
    return [str(r) for r in roles] if isinstance(roles, list) else []
