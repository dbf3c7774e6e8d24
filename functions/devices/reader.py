"""Reads one tenant's organization and its Intune listings (managed devices, detected apps,
mobile apps) from Graph: a listing at a time, each page paced and digested as sent."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from functions.clients.graph import GraphClient
from functions.clients.pacing import RequestPacer
from functions.core.errors import GraphError, TenantError
from functions.devices.model import (
    DETECTED_APP_SELECT,
    DEVICE_FIELDS,
    MOBILE_APP_SELECT,
    Organization,
    detected_app_from_graph,
    device_from_graph,
    managed_app_from_graph,
    organization_from_graph,
)

log = logging.getLogger("tenantsync.devices")

NOT_LICENSED = "Request not applicable to target tenant"
DEVICE_SELECT = ",".join(DEVICE_FIELDS)
DEVICE_PERMISSION = "DeviceManagementManagedDevices.Read.All"

# Listing -> (path, query, permission it needs).
_LISTINGS: dict[str, tuple[str, dict[str, str], str]] = {
    "devices": ("/deviceManagement/managedDevices",
                {"$select": DEVICE_SELECT, "$top": "1000"}, DEVICE_PERMISSION),
    # Graph serves detected apps 50 a page whatever $top says.
    "detected_apps": ("/deviceManagement/detectedApps", {"$select": DETECTED_APP_SELECT},
                      DEVICE_PERMISSION),
    "managed_apps": ("/deviceAppManagement/mobileApps", {"$select": MOBILE_APP_SELECT},
                     "DeviceManagementApps.Read.All"),
}

# Part of every digest: a change to how Graph items become records changes every digest,
# so that the next sync after an upgrade rewrites what the new parsing yields.
PARSING_VERSION = "2"

PARSERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "devices": device_from_graph,
    "detected_apps": detected_app_from_graph,
    "managed_apps": managed_app_from_graph,
}


def fatal(exc: GraphError, tenant_id: str, permission: str) -> TenantError | None:
    """Errors that make the whole tenant's run fail (with its fix), not just one listing."""
    if NOT_LICENSED in exc.message:
        return TenantError(
            f"Intune is not licensed in tenant {tenant_id} (Graph: \"{NOT_LICENSED}.\"): the "
            "tenant needs an Intune subscription before devices can be synced.",
            code="intune_not_licensed",
        )
    if exc.status in (401, 403):
        return TenantError(
            f"The inventory app may not read this in tenant {tenant_id}: give it the "
            f"application permission {permission} (Microsoft Graph) and have an admin of the "
            f"tenant grant consent. (Graph {exc.graph_code}, request {exc.request_id})",
            code="permission_missing",
        )
    return None


def read_organization(graph: GraphClient, tenant_id: str) -> Organization | None:
    """The tenant's organization (name, domains).

    Raises:
        TenantError: a permission missing, or the organization unreadable.
    """
    try:
        body = graph.get("/organization", {"$select": "id,displayName,verifiedDomains"})
    except GraphError as exc:
        raise fatal(exc, tenant_id, "Organization.Read.All (or Directory.Read.All)") or \
            TenantError(f"Reading the organization failed: {exc.message}",
                        code=exc.code) from None
    orgs = body.get("value") or []
    return organization_from_graph(orgs[0]) if orgs else None


@dataclass
class Listing:
    """One listing as read: its records (as parsed), whether it was read to its end, the
    digest of its pages as Graph sent them, and why it stopped if it did."""

    records: list[Any] = field(default_factory=list)
    complete: bool = False
    digest: str = ""
    error_code: str = ""
    error: str = ""


def read_listing(graph: GraphClient, name: str, tenant_id: str,
                 pacer: RequestPacer | None = None, *, parse: bool = True) -> Listing:
    """Read a listing (``devices``, ``detected_apps`` or ``managed_apps``) page by page,
    each page granted by ``pacer`` first; its items become records unless ``parse`` is
    False (then they are kept as Graph sent them: a read that may be unchanged).

    Raises:
        TenantError: Intune not licensed, or a permission missing. A listing that fails
        part-way is returned incomplete instead.
    """
    path, query, permission = _LISTINGS[name]
    make = PARSERS[name] if parse else None
    listing = Listing()
    # The pages' bodies as Graph sent them: equal bytes make equal records. (A body that
    # differs only in a paging token costs a full comparison, never a wrong skip.)
    digest = hashlib.sha256(PARSING_VERSION.encode())
    walk = graph.pages(path, query, digest=digest,
                       before_page=None if pacer is None else lambda: pacer.take(1))
    try:
        for page in walk:
            listing.records.extend(page if make is None else map(make, page))
    except GraphError as exc:
        found = fatal(exc, tenant_id, permission)
        if found is not None:
            raise found from None
        listing.error_code = exc.code
        listing.error = (f"Listing {name.replace('_', ' ')} failed part-way: "
                         f"{exc.message} (request {exc.request_id})")
        log.warning("incomplete listing", extra={"tenant_id": tenant_id, "listing": name})
        return listing
    listing.complete, listing.digest = True, digest.hexdigest()
    return listing
