"""Fixture loading and validation: JSON in, a validated `World` out."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .credentials import (
    parse_certificates,
    parse_consent_decision,
    parse_delay,
    parse_federated_credentials,
    parse_managed_identities,
    parse_redirect_uris,
    parse_signed_in_admin,
)
from .export_jobs import parse_export_config
from .intune_data import shared_link_ids
from .model import (
    KINDS,
    Application,
    AppSecret,
    DirectoryObject,
    Tenant,
    VaultSeed,
    World,
)
from .sections import (
    SECTION_KEYS,
    apply_section,
    directory_of,
    parse_organization,
)
from .throttle import parse_throttling
from .validate import (
    FixtureError,
    as_list,
    boolean,
    fail,
    guid,
    is_guid,
    mapping,
    parse_time,
    show,
)
from .validate import text as _text

SECRET_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")

# Properties whose type is checked; any other property may hold any JSON value.
_STRING_PROPS = frozenset(
    {"displayName", "mail", "userPrincipalName", "givenName", "surname", "jobTitle", "description"}
)
_BOOL_PROPS = frozenset({"accountEnabled", "securityEnabled", "mailEnabled"})

_TOP_KEYS = (
    "applications",
    "tenants",
    "key_vault",
    "token_lifetime_seconds",
    "throttling",
    "managed_identities",
    "signed_in_admin_tenant",
    "federation_propagation_seconds",
    "export_jobs",
    "partner_access",  # parsed by simulator.partner_access (the partner side)
)
_APP_KEYS = (
    "home_tenant",
    "display_name",
    "secrets",
    "multitenant",
    "certificates",
    "federated_credentials",
    "required_roles",
    "redirect_uris",
)
_SECRET_KEYS = ("id", "value", "expires")
_TENANT_KEYS = ("display_name", "service_principals", "admin_consent", *KINDS, *SECTION_KEYS)
_VAULT_KEYS = ("principals", "secrets")


def parse_secrets(raw: object, path: str) -> list[AppSecret]:
    """Validate an application's secret list. Never puts a secret value in a message."""
    result: list[AppSecret] = []
    seen: set[str] = set()
    for index, item in enumerate(as_list(raw, path)):
        where = f"{path}[{index}]"
        entry = mapping(item, where, _SECRET_KEYS)
        if "id" not in entry:
            fail(where, "missing 'id'")
        secret_id = guid(entry["id"], f"{where}.id")
        if secret_id in seen:
            fail(f"{where}.id", f"duplicate secret id '{secret_id}'")
        seen.add(secret_id)
        value = entry.get("value")
        if not isinstance(value, str) or not value:
            fail(f"{where}.value", "must be a non-empty string")
        expires_raw = entry.get("expires")
        expires = None if expires_raw is None else parse_time(expires_raw, f"{where}.expires")
        result.append(AppSecret(id=secret_id, value=value, expires=expires))
    return result


def parse_roles(raw: object, path: str) -> list[str]:
    roles = as_list(raw, path)
    for index, role in enumerate(roles):
        _text(role, f"{path}[{index}]")
    return list(dict.fromkeys(roles))


def parse_object(kind: str, raw: object, path: str, key: str | None = None) -> DirectoryObject:
    """Validate one directory object; `members` (groups) is left out and checked separately."""
    if kind not in KINDS:
        fail(path, f"unknown kind '{kind}' (expected one of: {', '.join(KINDS)})")
    props = dict(mapping(raw, path))
    props.pop("members", None)
    if key is not None:
        object_id = guid(key, path)
        if "id" in props and str(props["id"]).lower() != object_id:
            fail(f"{path}.id", f"'{props['id']}' differs from its key")
    else:
        if "id" not in props:
            fail(path, "missing 'id'")
        object_id = guid(props["id"], f"{path}.id")
    props["id"] = object_id
    for name, value in props.items():
        if name in _STRING_PROPS and value is not None and not isinstance(value, str):
            fail(f"{path}.{name}", "must be a string or null")
        if name in _BOOL_PROPS and not isinstance(value, bool):
            fail(f"{path}.{name}", "must be true or false")
    try:
        json.dumps(props)
    except (TypeError, ValueError):
        fail(path, "holds a value that is not JSON")
    return DirectoryObject(kind=kind, props=props)


def member_ids(tenant: Tenant, group_id: str, raw: object, path: str) -> list[str]:
    """Validate a group's member list against the objects of `tenant`."""
    result: list[str] = []
    for index, item in enumerate(as_list(raw, path)):
        where = f"{path}[{index}]"
        member = item.lower() if isinstance(item, str) else item
        if not isinstance(member, str) or member not in tenant.objects:
            fail(where, f"unknown object {show(item)}")
        if member == group_id:
            fail(where, "a group cannot be a member of itself")
        if member in result:
            fail(where, f"duplicate member '{item}'")
        result.append(member)
    return result


def _parse_application(key: str, raw: object, path: str) -> Application:
    client_id = guid(key, path)
    entry = mapping(raw, path, _APP_KEYS)
    if "home_tenant" not in entry:
        fail(path, "missing 'home_tenant'")
    return Application(
        client_id=client_id,
        home_tenant=guid(entry["home_tenant"], f"{path}.home_tenant"),
        display_name=_text(entry.get("display_name", "App"), f"{path}.display_name"),
        secrets=parse_secrets(entry.get("secrets", []), f"{path}.secrets"),
        multitenant=boolean(entry.get("multitenant", False), f"{path}.multitenant"),
        certificates=parse_certificates(entry.get("certificates", []), f"{path}.certificates"),
        federated_credentials=parse_federated_credentials(
            entry.get("federated_credentials", []), f"{path}.federated_credentials"
        ),
        required_roles=parse_roles(entry.get("required_roles", []), f"{path}.required_roles"),
        redirect_uris=parse_redirect_uris(entry.get("redirect_uris", []), f"{path}.redirect_uris"),
    )


def _parse_tenant(key: str, raw: object, path: str, apps: dict[str, Application]) -> Tenant:
    tenant_id = guid(key, path)
    entry = mapping(raw, path, _TENANT_KEYS)
    tenant = Tenant(
        id=tenant_id,
        display_name=_text(entry.get("display_name", "Tenant"), f"{path}.display_name"),
        roles={},
        objects={},
        members={},
        admin_consent=parse_consent_decision(
            entry.get("admin_consent", "accept"), f"{path}.admin_consent"
        ),
    )
    sps = mapping(entry.get("service_principals", {}), f"{path}.service_principals")
    for client_key, sp_raw in sps.items():
        where = f"{path}.service_principals.{client_key}"
        client_id = guid(client_key, where)
        if client_id not in apps:
            fail(where, f"unknown application '{client_key}'")
        sp = mapping(sp_raw, where, ("roles",))
        tenant.roles[client_id] = parse_roles(sp.get("roles", []), f"{where}.roles")
    pending_members: list[tuple[str, object, str]] = []
    for kind in KINDS:
        objects = mapping(entry.get(kind, {}), f"{path}.{kind}")
        for object_key, object_raw in objects.items():
            where = f"{path}.{kind}.{object_key}"
            obj = parse_object(kind, object_raw, where, key=object_key)
            if obj.id in tenant.objects:
                fail(where, f"id already used by another object ({tenant.objects[obj.id].kind})")
            tenant.objects[obj.id] = obj
            if kind == "groups":
                tenant.members[obj.id] = []
                members = mapping(object_raw, where).get("members", [])
                pending_members.append((obj.id, members, f"{where}.members"))
    for group_id, members, where in pending_members:
        tenant.members[group_id] = member_ids(tenant, group_id, members, where)
    return tenant


def parse_vault_seed(raw: object, path: str) -> VaultSeed:
    if isinstance(raw, str):
        return VaultSeed(value=raw)
    entry = mapping(raw, path, ("value", "contentType", "tags"))
    value = entry.get("value")
    if not isinstance(value, str):
        fail(f"{path}.value", "must be a string")
    content_type = entry.get("contentType")
    if content_type is not None and not isinstance(content_type, str):
        fail(f"{path}.contentType", "must be a string")
    tags = mapping(entry.get("tags", {}), f"{path}.tags")
    for tag, tag_value in tags.items():
        if not isinstance(tag_value, str):
            fail(f"{path}.tags.{tag}", "must be a string")
    return VaultSeed(value=value, content_type=content_type, tags=dict(tags))


def parse_fixture(raw: object) -> World:
    """Validate a fixture (the parsed JSON) and build the world. Raises FixtureError."""
    top = mapping(raw, "(fixture)", _TOP_KEYS)
    if "tenants" not in top:
        fail("(fixture)", "missing 'tenants'")
    apps: dict[str, Application] = {}
    for key, app_raw in mapping(top.get("applications", {}), "applications").items():
        app = _parse_application(key, app_raw, f"applications.{key}")
        apps[app.client_id] = app
    tenants: dict[str, Tenant] = {}
    for key, tenant_raw in mapping(top["tenants"], "tenants").items():
        tenant = _parse_tenant(key, tenant_raw, f"tenants.{key}", apps)
        if tenant.id in tenants:
            fail(f"tenants.{key}", "duplicate tenant id")
        tenants[tenant.id] = tenant
    _parse_sections(top["tenants"], tenants, apps)
    identities = parse_managed_identities(
        top.get("managed_identities", {}), "managed_identities", tenants, set(apps)
    )
    vault = mapping(top.get("key_vault", {}), "key_vault", _VAULT_KEYS)
    principals: list[str] = []
    for index, item in enumerate(as_list(vault.get("principals", []), "key_vault.principals")):
        where = f"key_vault.principals[{index}]"
        client_id = guid(item, where)
        if client_id in identities:  # a managed identity: its home tenant is a fixture tenant
            principals.append(client_id)
            continue
        if client_id not in apps:
            fail(where, f"unknown application or managed identity '{item}'")
        if apps[client_id].home_tenant not in tenants:
            fail(
                where,
                f"home tenant '{apps[client_id].home_tenant}' of the application is not a tenant",
            )
        principals.append(client_id)
    seeds: dict[str, VaultSeed] = {}
    for name, seed_raw in mapping(vault.get("secrets", {}), "key_vault.secrets").items():
        where = f"key_vault.secrets.{name}"
        if not SECRET_NAME.match(name):
            fail(where, "secret names are 1-127 letters, digits and '-'")
        seeds[name] = parse_vault_seed(seed_raw, where)
    lifetime = top.get("token_lifetime_seconds", 3599)
    if isinstance(lifetime, bool) or not isinstance(lifetime, int) or not 1 <= lifetime <= 86400:
        fail("token_lifetime_seconds", "must be an integer from 1 to 86400")
    return World(
        applications=apps,
        tenants=tenants,
        vault_principals=principals,
        vault_secrets=seeds,
        token_lifetime=lifetime,
        throttling=parse_throttling(top.get("throttling", {})),
        managed_identities=identities,
        signed_in_admin_tenant=parse_signed_in_admin(
            top.get("signed_in_admin_tenant"), "signed_in_admin_tenant", tenants
        ),
        federation_delay=parse_delay(
            top.get("federation_propagation_seconds", 0), "federation_propagation_seconds"
        ),
        export_jobs=parse_export_config(top.get("export_jobs", {})),
    )


def _parse_sections(
    raw_tenants: dict[str, Any], tenants: dict[str, Tenant], apps: dict[str, Application]
) -> None:
    """Organizations first (customers refer to other tenants' domains), then the rest."""
    entries = {key.lower(): mapping(raw, f"tenants.{key}") for key, raw in raw_tenants.items()}
    keys = {key.lower(): key for key in raw_tenants}
    for tenant_id, tenant in tenants.items():
        raw = entries[tenant_id].get("organization")
        path = f"tenants.{keys[tenant_id]}.organization"
        tenant.organization = parse_organization(raw, path, tenant.id, tenant.display_name)
    world = World(applications=apps, tenants=tenants, vault_principals=[], vault_secrets={})
    directory = directory_of(world)
    for tenant_id, tenant in tenants.items():
        for name in SECTION_KEYS[1:]:
            if name in entries[tenant_id]:
                path = f"tenants.{keys[tenant_id]}.{name}"
                apply_section(tenant, name, entries[tenant_id][name], path, directory)


def read_fixture(path: str | Path) -> dict[str, Any]:
    """Read a fixture file's JSON, not yet validated (Simulator() validates it). Raises
    FixtureError if it cannot be read or is not a JSON object."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise FixtureError(f"{source}: cannot read ({exc.strerror or exc})") from None
    try:
        raw = json.loads(text, object_pairs_hook=shared_link_ids())
    except json.JSONDecodeError as exc:
        raise FixtureError(
            f"{source}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    return mapping(raw, "(fixture)")


def load_fixture(path: str | Path) -> dict[str, Any]:
    """Read and validate a fixture file; return the parsed JSON. Raises FixtureError."""
    raw = read_fixture(path)
    parse_fixture(raw)
    return raw


__all__ = [
    "SECRET_NAME",
    "FixtureError",
    "fail",
    "guid",
    "is_guid",
    "load_fixture",
    "mapping",
    "member_ids",
    "parse_fixture",
    "parse_object",
    "parse_roles",
    "parse_secrets",
    "parse_time",
    "read_fixture",
]
