"""The fixture's `intune` section: managed devices, detected apps, their links, mobile apps.

`parse_intune` validates the section (FixtureError naming the path) and returns an Intune
whose items are rendered as Graph returns them. Links (which detected apps each device
has) are kept as array positions (see inventory.py): a tenant of 20,000 devices with 60
apps each is 1.2 million links.
"""

from __future__ import annotations

import json
import re
from array import array
from collections.abc import Callable
from typing import Any

from . import resources as res
from .collection import Collection
from .inventory import AppLinks
from .model import Intune
from .reports import REPORT_ONLY_COLUMNS
from .validate import as_list, boolean, fail, guid, mapping, show, text

INTUNE_KINDS = ("managed_devices", "detected_apps", "mobile_apps")
_INTUNE_KEYS = ("licensed", *INTUNE_KINDS)
_DETECTED_APP_ID = re.compile(r"^[0-9A-Za-z._-]{1,200}$")
_ODATA_TYPE = re.compile(r"^#microsoft\.graph\.[A-Za-z0-9]+$")
# Keys of a device entry that are not Graph properties.
_DEVICE_EXTRAS = frozenset({"detected_apps", "report_columns"})
_DEVICE_KEYS = res.property_names(res.DEVICE_PROPERTIES) | _DEVICE_EXTRAS
_DEVICE_KINDS = {name: kind for name, _default, kind in res.DEVICE_PROPERTIES}
_DETECTED_KINDS = {name: kind for name, _default, kind in res.DETECTED_APP_PROPERTIES}
_MOBILE_KINDS = {name: kind for name, _default, kind in res.MOBILE_APP_PROPERTIES}
_DEVICE_DEFAULTS = res.defaults_of(res.DEVICE_PROPERTIES)
_DETECTED_DEFAULTS = res.defaults_of(res.DETECTED_APP_PROPERTIES)
_MOBILE_DEFAULTS = res.defaults_of(res.MOBILE_APP_PROPERTIES)
_DETECTED_NAMES = res.property_names(res.DETECTED_APP_PROPERTIES)
_HIDDEN = res.LIST_HIDDEN_DEVICE_PROPERTIES
_HIDDEN_IN_ORDER = tuple(name for name, _d, _k in res.DEVICE_PROPERTIES if name in _HIDDEN)
_TYPE_CHECKS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "bool": (bool,),
    "object": (dict,),
    "list": (list,),
}


def _json_value(value: object, path: str) -> None:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        fail(path, "holds a value that is not JSON")


def _check_types(kinds: dict[str, str], props: dict[str, Any], path: str) -> None:
    """Type-check the properties a table knows; objects and lists must hold only JSON."""
    for name, value in props.items():
        kind = kinds.get(name)
        if value is None or kind is None:
            continue
        if not isinstance(value, _TYPE_CHECKS[kind]) or (
            isinstance(value, bool) and kind != "bool"
        ):
            fail(f"{path}.{name}", f"must be {'an' if kind == 'int' else 'a'} {kind} or null")
        if kind in ("object", "list"):
            _json_value(value, f"{path}.{name}")


def _keyed_props(raw: object, path: str, key: str, allowed: frozenset[str] | None) -> dict:
    props = dict(mapping(raw, path))
    if allowed is not None:
        for name in props:
            if name not in allowed:
                fail(path, f"unknown property '{name}' (see docs/simulator.md)")
    if "id" in props and str(props["id"]).lower() != key.lower():
        fail(f"{path}.id", f"'{props['id']}' differs from its key")
    props["id"] = key
    return props


def shared_link_ids() -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """A json `object_pairs_hook` that makes equal ids in devices' `detected_apps` lists one
    string: a million links name a few thousand apps, and the parser would otherwise keep a
    copy of the id per link until the fixture is parsed."""
    shared: dict[str, str] = {}

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        links = obj.get("detected_apps")
        if type(links) is list:
            obj["detected_apps"] = [
                shared.setdefault(item, item) if type(item) is str else item for item in links
            ]
        return obj

    return hook


def _detected_apps(raw: object, path: str) -> tuple[list[dict[str, Any]], frozenset[str]]:
    """The rendered apps, and the ids of those whose deviceCount the fixture gives."""
    apps: list[dict[str, Any]] = []
    counted: set[str] = set()
    seen: set[str] = set()
    for key, item in mapping(raw, path).items():
        where = f"{path}.{key}"
        if not _DETECTED_APP_ID.match(key):
            fail(where, "ids are 1-200 letters, digits, '.', '_' or '-'")
        if key.lower() in seen:
            fail(where, "duplicate detected app id")
        seen.add(key.lower())
        props = _keyed_props(item, where, key, _DETECTED_NAMES)
        _check_types(_DETECTED_KINDS, props, where)
        if "deviceCount" in props:
            counted.add(key)
        apps.append(res.render(_DETECTED_DEFAULTS, props))
    return apps, frozenset(counted)


def _app_positions(raw: object, path: str, index: dict[str, int]) -> list[int]:
    """A device's `detected_apps` (ids of the tenant's detected apps) as app positions."""
    ids = as_list(raw, path)
    try:  # the common case, every id exactly as keyed, in one pass
        found: list[int | None] = [index.get(app_id) for app_id in ids]
    except TypeError:  # an unhashable item: the slow path names it
        found = [None]
    if None in found:
        found = []
        for number, app_id in enumerate(ids):
            position = index.get(app_id.lower()) if isinstance(app_id, str) else None
            if position is None:
                fail(f"{path}[{number}]", f"unknown detected app {show(app_id)}")
            found.append(position)
    positions = [position for position in found if position is not None]
    if len(set(positions)) != len(positions):
        first = next(n for n, p in enumerate(positions) if positions.index(p) != n)
        fail(f"{path}[{first}]", f"duplicate detected app {show(ids[first])}")
    return positions


def _report_columns(raw: object, path: str) -> dict[str, str]:
    columns = mapping(raw, path, tuple(sorted(REPORT_ONLY_COLUMNS)))
    for name, value in columns.items():
        text(value, f"{path}.{name}", empty_ok=True)
    return dict(columns)


def _devices(
    raw: object, path: str, app_index: dict[str, int], app_count: int
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], dict[str, dict[str, str]], AppLinks]:
    listed: list[dict[str, Any]] = []
    hidden: dict[str, dict[str, Any]] = {}
    columns: dict[str, dict[str, str]] = {}
    offsets, targets = array("I", [0]), array("I")
    seen: set[str] = set()
    for key, item in mapping(raw, path).items():
        where = f"{path}.{key}"
        props = _keyed_props(item, where, guid(key, where), _DEVICE_KEYS)
        device_id = props["id"]
        if device_id in seen:
            fail(where, "duplicate device id")
        seen.add(device_id)
        links = props.pop("detected_apps", None)
        if links is not None:
            targets.extend(_app_positions(links, f"{where}.detected_apps", app_index))
        offsets.append(len(targets))
        extra = props.pop("report_columns", None)
        if extra is not None:
            columns[device_id] = _report_columns(extra, f"{where}.report_columns")
        _check_types(_DEVICE_KINDS, props, where)
        device = res.render(_DEVICE_DEFAULTS, props)
        secret = [name for name in _HIDDEN_IN_ORDER if name in props]
        if secret:  # the list shows these at their default; a selecting GET shows the value
            hidden[device_id] = {name: device[name] for name in secret}
            device.update({name: _DEVICE_DEFAULTS[name] for name in secret})
        listed.append(device)
    return listed, hidden, columns, AppLinks(offsets, targets, app_count)


def _mobile_apps(raw: object, path: str) -> list[dict[str, Any]]:
    mobile: list[dict[str, Any]] = []
    seen_apps: set[str] = set()
    for key, item in mapping(raw, path).items():
        where = f"{path}.{key}"
        props = _keyed_props(item, where, guid(key, where), None)
        odata_type = props.pop("@odata.type", None)
        if not isinstance(odata_type, str) or not _ODATA_TYPE.match(odata_type):
            fail(f"{where}.@odata.type", "needs a type such as '#microsoft.graph.win32LobApp'")
        _check_types(_MOBILE_KINDS, props, where)
        _json_value(props, where)
        if props["id"] in seen_apps:
            fail(where, "duplicate app id")
        seen_apps.add(props["id"])
        mobile.append({"@odata.type": odata_type, **res.render(_MOBILE_DEFAULTS, props)})
    return mobile


def parse_intune(raw: object, path: str) -> Intune:
    """Validate a tenant's `intune` section and render its items. Raises FixtureError."""
    entry = mapping(raw, path, _INTUNE_KEYS)
    licensed = boolean(entry.get("licensed", True), f"{path}.licensed")
    apps, counted = _detected_apps(entry.get("detected_apps", {}), f"{path}.detected_apps")
    index: dict[str, int] = {}
    for position, app in enumerate(apps):
        index[str(app["id"])] = position
        index.setdefault(str(app["id"]).lower(), position)
    listed, hidden, columns, links = _devices(
        entry.get("managed_devices", {}), f"{path}.managed_devices", index, len(apps)
    )
    if len(links) and len(counted) < len(apps):  # a deviceCount left out counts the links
        for app, count in zip(apps, links.counts(), strict=True):
            if app["id"] not in counted:
                app["deviceCount"] = count
    return Intune(
        licensed=licensed,
        devices=Collection(listed),
        hidden=hidden,
        detected_apps=Collection(apps),
        mobile_apps=Collection(_mobile_apps(entry.get("mobile_apps", {}), f"{path}.mobile_apps")),
        links=links,
        report_columns=columns,
        counted_apps=counted,
    )


def _as_fixture(intune: Intune) -> dict[str, Any]:
    """An Intune turned back into its fixture section (for control edits)."""
    app_ids = [str(app["id"]) for app in intune.detected_apps]
    devices: dict[str, Any] = {}
    for position, item in enumerate(intune.devices):
        device_id = str(item["id"])
        entry = {name: value for name, value in item.items() if name not in _HIDDEN}
        entry.update(intune.hidden.get(device_id, {}))
        apps = intune.links.apps_of(position)
        if len(apps):
            entry["detected_apps"] = [app_ids[app] for app in apps]
        if device_id in intune.report_columns:
            entry["report_columns"] = dict(intune.report_columns[device_id])
        devices[device_id] = entry
    detected = {}
    for app in intune.detected_apps:
        keep = app["id"] in intune.counted_apps
        detected[str(app["id"])] = {k: v for k, v in app.items() if keep or k != "deviceCount"}
    return {
        "licensed": intune.licensed,
        "managed_devices": devices,
        "detected_apps": detected,
        "mobile_apps": {str(item["id"]): item for item in intune.mobile_apps},
    }


def edit_intune(
    intune: Intune | None, kind: str, item_id: str, props: dict[str, Any] | None
) -> Intune:
    """A new Intune with one item of `kind` replaced or added (`props`), or removed (None).

    The items are re-validated from their fixture form: O(items), fine for a control call.
    Removing a detected app also removes it from every device's `detected_apps`.
    """
    if intune is None:
        fail("tenant", "has no intune section (set one with update_tenant)")
    raw = _as_fixture(intune)
    items: dict[str, Any] = raw[kind]
    key = next((name for name in items if name.lower() == item_id.lower()), item_id)
    if props is None:
        if key not in items:
            fail("id", f"no {kind} object '{item_id}'")
        del items[key]
        if kind == "detected_apps":
            for entry in raw["managed_devices"].values():
                if key in entry.get("detected_apps", ()):
                    entry["detected_apps"].remove(key)
    else:
        items[key] = props
    return parse_intune(raw, "intune")
