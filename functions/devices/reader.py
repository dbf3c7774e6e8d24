"""Reads one tenant's organization and Intune inventory from Graph into an :class:`Inventory`."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

from functions.clients.graph import GraphClient
from functions.core.errors import GraphError, TenantError
from functions.devices.model import (
    DETECTED_APP_SELECT,
    DEVICE_FIELDS,
    MOBILE_APP_SELECT,
    Inventory,
    detected_app_from_graph,
    device_from_graph,
    managed_app_from_graph,
    organization_from_graph,
)

log = logging.getLogger("tenantsync.devices")

NOT_LICENSED = "Request not applicable to target tenant"
DEVICE_SELECT = ",".join(DEVICE_FIELDS)

# Listing -> (path, query, permission it needs).
_LISTINGS: dict[str, tuple[str, dict[str, str], str]] = {
    "devices": ("/deviceManagement/managedDevices",
                {"$select": DEVICE_SELECT, "$top": "1000"},
                "DeviceManagementManagedDevices.Read.All"),
    # Graph serves detected apps 50 a page whatever $top says.
    "detected_apps": ("/deviceManagement/detectedApps", {"$select": DETECTED_APP_SELECT},
                      "DeviceManagementManagedDevices.Read.All"),
    "managed_apps": ("/deviceAppManagement/mobileApps", {"$select": MOBILE_APP_SELECT},
                     "DeviceManagementApps.Read.All"),
}


def _fatal(exc: GraphError, tenant_id: str, permission: str) -> TenantError | None:
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


# Part of every digest: a change to how Graph items become records changes every digest,
# so that the next sync after an upgrade rewrites what the new parsing yields.
PARSING_VERSION = "1"

_PARSERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "devices": device_from_graph,
    "detected_apps": detected_app_from_graph,
    "managed_apps": managed_app_from_graph,
}


class InventoryReader:
    def __init__(self, graph: GraphClient, tenant_id: str) -> None:
        self._graph = graph
        self._tenant_id = tenant_id

    def read(self) -> Inventory:
        """Read organization, devices, detected apps and managed apps.

        The listings are kept as Graph sent them, with a digest of them; turning them into
        records (``parse``) is left to a caller whose digest differs from the last one.

        Raises:
            TenantError: Intune not licensed, a permission missing, or the organization
            unreadable. A listing that fails part-way is returned incomplete instead.
        """
        inventory = Inventory()
        try:
            body = self._graph.get("/organization",
                                   {"$select": "id,displayName,verifiedDomains"})
        except GraphError as exc:
            raise _fatal(exc, self._tenant_id, "Organization.Read.All (or Directory.Read.All)") or \
                TenantError(f"Reading the organization failed: {exc.message}",
                            code=exc.code) from None
        orgs = body.get("value") or []
        if orgs:
            inventory.organization = organization_from_graph(orgs[0])
        # The pages' bodies as Graph sent them: equal bytes make equal records. (A body
        # that differs only in a paging token costs a full comparison, never a wrong skip.)
        digest = hashlib.sha256(PARSING_VERSION.encode())
        complete = True
        for name in _LISTINGS:
            items, listed = self._list(name, inventory, digest)
            inventory.raw[name] = items
            setattr(inventory, f"{name}_complete", listed)
            complete = complete and listed
        inventory.digest = digest.hexdigest() if complete else ""
        return inventory

    def _list(
        self, name: str, inventory: Inventory, digest: Any
    ) -> tuple[list[dict[str, Any]], bool]:
        path, query, permission = _LISTINGS[name]
        found: list[dict[str, Any]] = []
        try:
            for page in self._graph.pages(path, query, digest=digest):
                found.extend(page)
        except GraphError as exc:
            fatal = _fatal(exc, self._tenant_id, permission)
            if fatal is not None:
                raise fatal from None
            if not inventory.error_code:
                inventory.error_code = exc.code
                inventory.error = (f"Listing {name.replace('_', ' ')} failed part-way: "
                                   f"{exc.message} (request {exc.request_id})")
            log.warning("incomplete listing", extra={"tenant_id": self._tenant_id, "listing": name})
            return found, False
        return found, True


def parse(inventory: Inventory) -> None:
    """Turn the raw listings into records, keyed by id (in place)."""
    for name, parser in _PARSERS.items():
        records = (parser(item) for item in inventory.raw.get(name, ()))
        setattr(inventory, name, {record.id: record for record in records})
