"""Intune on Graph v1.0: managedDevices, detectedApps and mobileApps.

Checks run in this order, and the first that fails answers: token (401), query options
(400), Intune licence (400 "Request not applicable to target tenant."), budget (429),
permission (403, Intune's wrapped message), then the data.
"""

from __future__ import annotations

from typing import Any

from . import resources as res
from .graph import authenticate, bad_segment, select_of
from .listing import ListSpec, entity_response, page_response, parse_query
from .model import Intune
from .state import SimState
from .throttle import retry_after_header
from .wire import Request, Response, graph_error, intune_message

DEVICE_READ = (
    "DeviceManagementManagedDevices.Read.All",
    "DeviceManagementManagedDevices.ReadWrite.All",
)
APPS_READ = ("DeviceManagementApps.Read.All", "DeviceManagementApps.ReadWrite.All")

SPECS = {
    "graph.managedDevices": ListSpec(
        entity_set="deviceManagement/managedDevices",
        type_name="microsoft.graph.managedDevice",
        properties=res.property_names(res.DEVICE_PROPERTIES),
        default_top=1000,
        max_top=1000,
        count=True,
    ),
    "graph.detectedApps": ListSpec(
        entity_set="deviceManagement/detectedApps",
        type_name="microsoft.graph.detectedApp",
        properties=res.property_names(res.DETECTED_APP_PROPERTIES),
        default_top=50,
        max_top=1000,
        fixed_page=50,
    ),
    "graph.mobileApps": ListSpec(
        entity_set="deviceAppManagement/mobileApps",
        type_name="microsoft.graph.mobileApp",
        properties=res.property_names(res.MOBILE_APP_PROPERTIES),
        default_top=100,
        max_top=1000,
    ),
}
# (segment names, budget category, permissions, Intune service in the wrapped messages)
_ROUTES: dict[str, tuple[tuple[str, str], str, tuple[str, ...], str]] = {
    "graph.managedDevices": (
        ("devicemanagement", "manageddevices"),
        "devices",
        DEVICE_READ,
        "StatelessDeviceFEService",
    ),
    "graph.detectedApps": (
        ("devicemanagement", "detectedapps"),
        "devices",
        DEVICE_READ,
        "StatelessDeviceFEService",
    ),
    "graph.mobileApps": (
        ("deviceappmanagement", "mobileapps"),
        "apps",
        APPS_READ,
        "StatelessAppMetadataFEService",
    ),
}
NOT_APPLICABLE = "Request not applicable to target tenant."


def _service_url(service: str, req: Request) -> str:
    path = req.path[len("/v1.0/") :]
    return f"https://fef.simulator.manage.microsoft.com/{service}/{path}?api-version=2023-07-04"


def handle(state: SimState, req: Request, kind: str) -> Response:
    """Route GET /v1.0/deviceManagement/... and /v1.0/deviceAppManagement/mobileApps."""
    _names, category, permissions, service = _ROUTES[kind]
    segments = req.path[len("/v1.0/") :].strip("/").split("/")
    if len(segments) > 3 or (len(segments) == 3 and kind != "graph.managedDevices"):
        return bad_segment(req, segments[min(len(segments) - 1, 3)])
    if req.method != "GET":
        return graph_error(
            req, 405, "BadRequest", "Specified HTTP method is not allowed for the request uri."
        )
    claims = authenticate(state, req)
    if isinstance(claims, Response):
        return claims
    spec = SPECS[kind]
    device_id = segments[2] if len(segments) == 3 else None
    query = parse_query(state, req, spec) if device_id is None else None
    if isinstance(query, Response):
        return query
    if device_id is not None:
        for name in select_of(req) or []:
            if name not in spec.properties:
                message = f"Could not find a property named '{name}' on type '{spec.type_name}'."
                return graph_error(req, 400, "BadRequest", message)
    with state.lock:
        tenant = state.tenant(str(claims["tid"]))
        intune: Intune | None = tenant.intune if tenant else None
    if intune is None or not intune.licensed:
        return graph_error(req, 400, "BadRequest", NOT_APPLICABLE)
    wait = state.limiter.admit(str(claims.get("appid", "")), str(claims["tid"]), category)
    if wait is not None:
        message = intune_message("An error has occurred", _service_url(service, req))
        headers = {"Retry-After": retry_after_header(wait)}
        return graph_error(req, 429, "TooManyRequests", message, headers)
    if not set(claims.get("roles") or []) & set(permissions):
        text = (
            "Application is not authorized to perform this operation. Application must have "
            f"one of the following scopes: {', '.join(permissions)}"
        )
        return graph_error(req, 403, "Forbidden", intune_message(text, _service_url(service, req)))
    if device_id is not None:
        return _one_device(req, spec, intune, device_id)
    items = {
        "graph.managedDevices": intune.devices,
        "graph.detectedApps": intune.detected_apps,
        "graph.mobileApps": intune.mobile_apps,
    }[kind]
    assert query is not None
    return page_response(state, req, spec, query, items)


def _one_device(req: Request, spec: ListSpec, intune: Intune, device_id: str) -> Response:
    """GET managedDevices/{id}: unlike the list, it carries ethernetMacAddress."""
    device: dict[str, Any] | None = intune.device_details.get(device_id.lower())
    if device is None:
        message = intune_message(
            f"Resource '{device_id}' not found",
            _service_url("StatelessDeviceFEService", req),
        )
        return graph_error(req, 404, "ResourceNotFound", message)
    return entity_response(req, spec, device, select_of(req))


def matches(kind: str, segments: list[str]) -> bool:
    """Whether lower-cased path segments (after v1.0) name this Intune collection."""
    names = _ROUTES[kind][0]
    return len(segments) >= 2 and (segments[0], segments[1]) == names
