"""Intune on Graph v1.0: managedDevices, detectedApps (and the devices of one), mobileApps.

Checks run in this order, and the first that fails answers: token (401), query options
(400), Intune licence (400 "Request not applicable to target tenant."), budget (429),
permission (403, Intune's wrapped message), then the data.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from . import resources as res
from .collection import Subset
from .graph import authenticate, bad_segment, select_of
from .listing import ListQuery, ListSpec, entity_response, page_response, parse_query, project
from .model import Intune
from .state import SimState
from .throttle import retry_after_header
from .wire import Request, Response, graph_error, intune_message

DEVICE_READ = (
    "DeviceManagementManagedDevices.Read.All",
    "DeviceManagementManagedDevices.ReadWrite.All",
)
APPS_READ = ("DeviceManagementApps.Read.All", "DeviceManagementApps.ReadWrite.All")
NOT_APPLICABLE = "Request not applicable to target tenant."
DEVICE_SERVICE = "StatelessDeviceFEService"

_DEVICES = ListSpec(
    entity_set="deviceManagement/managedDevices",
    type_name="microsoft.graph.managedDevice",
    properties=res.property_names(res.DEVICE_PROPERTIES),
    default_top=1000,
    max_top=1000,
    count=True,
)
_DETECTED = ListSpec(
    entity_set="deviceManagement/detectedApps",
    type_name="microsoft.graph.detectedApp",
    properties=res.property_names(res.DETECTED_APP_PROPERTIES),
    default_top=50,
    max_top=1000,
    fixed_page=50,
)
_MOBILE = ListSpec(
    entity_set="deviceAppManagement/mobileApps",
    type_name="microsoft.graph.mobileApp",
    properties=res.property_names(res.MOBILE_APP_PROPERTIES),
    default_top=100,
    max_top=1000,
)


@dataclass(frozen=True)
class Route:
    """One Intune path: its collection, the segments after v1.0, budget and permissions."""

    spec: ListSpec
    depth: int  # segments after v1.0 (2: a collection, 3: an item, 4: an item's relation)
    category: str  # Intune budget: "devices" or "apps"
    permissions: tuple[str, ...]
    service: str  # the Intune service named in the wrapped error messages


ROUTES = {
    "graph.managedDevices": Route(_DEVICES, 2, "devices", DEVICE_READ, DEVICE_SERVICE),
    "graph.managedDevice": Route(_DEVICES, 3, "devices", DEVICE_READ, DEVICE_SERVICE),
    "graph.detectedApps": Route(_DETECTED, 2, "devices", DEVICE_READ, DEVICE_SERVICE),
    "graph.detectedApp": Route(_DETECTED, 3, "devices", DEVICE_READ, DEVICE_SERVICE),
    # The devices an app was detected on: List managedDevices documents this path with the
    # same permissions as the list; its page size is not documented (1000 here, as the list).
    "graph.detectedAppDevices": Route(_DEVICES, 4, "devices", DEVICE_READ, DEVICE_SERVICE),
    "graph.mobileApps": Route(_MOBILE, 2, "apps", APPS_READ, "StatelessAppMetadataFEService"),
}
KINDS = tuple(ROUTES)


def kind_of(segments: list[str]) -> str | None:
    """The route kind of lower-cased path segments after v1.0, or None if not Intune."""
    if len(segments) < 2:
        return None
    head = (segments[0], segments[1])
    if head == ("deviceappmanagement", "mobileapps"):
        return "graph.mobileApps"
    if head == ("devicemanagement", "manageddevices"):
        return "graph.managedDevices" if len(segments) == 2 else "graph.managedDevice"
    if head == ("devicemanagement", "detectedapps"):
        if len(segments) == 2:
            return "graph.detectedApps"
        return "graph.detectedApp" if len(segments) == 3 else "graph.detectedAppDevices"
    return None


def service_url(service: str, req: Request) -> str:
    path = req.path[len("/v1.0/") :]
    return f"https://fef.simulator.manage.microsoft.com/{service}/{path}?api-version=2023-07-04"


def not_found(req: Request, item_id: str, service: str = DEVICE_SERVICE) -> Response:
    message = intune_message(f"Resource '{item_id}' not found", service_url(service, req))
    return graph_error(req, 404, "ResourceNotFound", message)


def forbidden(req: Request, permissions: tuple[str, ...], service: str) -> Response:
    """Intune's 403: its wrapped JSON naming every permission that would do."""
    text = (
        "Application is not authorized to perform this operation. Application must have "
        f"one of the following scopes: {', '.join(permissions)}"
    )
    return graph_error(req, 403, "Forbidden", intune_message(text, service_url(service, req)))


def admitted(
    state: SimState, req: Request, claims: dict[str, Any], category: str, service: str
) -> Response | None:
    """None if the app's budget in the tenant admits the request, else Intune's 429."""
    wait = state.limiter.admit(str(claims.get("appid", "")), str(claims["tid"]), category)
    if wait is None:
        return None
    message = intune_message("An error has occurred", service_url(service, req))
    headers = {"Retry-After": retry_after_header(wait)}
    return graph_error(req, 429, "TooManyRequests", message, headers)


def _bad_select(req: Request, spec: ListSpec) -> Response | None:
    for name in select_of(req) or []:
        if name not in spec.properties:
            message = f"Could not find a property named '{name}' on type '{spec.type_name}'."
            return graph_error(req, 400, "BadRequest", message)
    return None


def handle(state: SimState, req: Request, kind: str) -> Response:
    """Route GET /v1.0/deviceManagement/... and /v1.0/deviceAppManagement/mobileApps."""
    route = ROUTES[kind]
    segments = req.path[len("/v1.0/") :].strip("/").split("/")
    extra = len(segments) > route.depth
    if extra or (route.depth == 4 and segments[3].lower() != "manageddevices"):
        return bad_segment(req, segments[min(len(segments) - 1, route.depth)])
    if req.method != "GET":
        return graph_error(
            req, 405, "BadRequest", "Specified HTTP method is not allowed for the request uri."
        )
    claims = authenticate(state, req)
    if isinstance(claims, Response):
        return claims
    query: ListQuery | Response | None = None
    if route.depth in (2, 4):
        query = parse_query(state, req, route.spec)
    else:
        query = _bad_select(req, route.spec)
    if isinstance(query, Response):
        return query
    with state.lock:
        tenant = state.tenant(str(claims["tid"]))
        intune: Intune | None = tenant.intune if tenant else None
    if intune is None or not intune.licensed:
        return graph_error(req, 400, "BadRequest", NOT_APPLICABLE)
    throttled = admitted(state, req, claims, route.category, route.service)
    if throttled is not None:
        return throttled
    if not set(claims.get("roles") or []) & set(route.permissions):
        return forbidden(req, route.permissions, route.service)
    if kind == "graph.managedDevice":
        return _one_device(req, intune, segments[2])
    if kind == "graph.detectedApp":
        app = intune.detected_apps.get(segments[2])
        if app is None:
            return not_found(req, segments[2])
        return entity_response(req, _DETECTED, app, select_of(req))
    assert isinstance(query, ListQuery)
    if kind == "graph.detectedAppDevices":
        return _app_devices(state, req, intune, segments[2], query)
    items = {
        "graph.managedDevices": intune.devices,
        "graph.detectedApps": intune.detected_apps,
        "graph.mobileApps": intune.mobile_apps,
    }[kind]
    return page_response(state, req, route.spec, query, items)


def _one_device(req: Request, intune: Intune, device_id: str) -> Response:
    """GET managedDevices/{id}. As the v1.0 property descriptions say, the list-hidden
    properties (ethernetMacAddress, physicalMemoryInBytes, ...) carry their real value only
    when $select names them; otherwise they are at the list's default."""
    device = intune.devices.get(device_id)
    if device is None:
        return not_found(req, device_id)
    select = select_of(req)
    body = project(device, select)
    if select is not None:
        secret = intune.hidden.get(str(device["id"]), {})
        body.update({name: secret[name] for name in select if name in secret})
    return entity_response(req, _DEVICES, body, select)


def _app_devices(
    state: SimState, req: Request, intune: Intune, app_id: str, query: ListQuery
) -> Response:
    """GET detectedApps/{id}/managedDevices: the devices the app was detected on, listed
    as List managedDevices lists them (list-hidden properties at their default)."""
    position = intune.detected_apps.position(app_id)
    if position is None:
        return not_found(req, app_id)
    real_id = str(intune.detected_apps.at(position)["id"])
    spec = dataclasses.replace(
        _DEVICES, entity_set=f"deviceManagement/detectedApps('{real_id}')/managedDevices"
    )
    devices = Subset(intune.devices, intune.links.devices_of(position))
    return page_response(state, req, spec, query, devices)
