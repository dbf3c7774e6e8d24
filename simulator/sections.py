"""Fixture sections for partners: organization, intune, gdap, partner_center, throttling.

Each parser validates one section (FixtureError naming the path) and returns it rendered,
ready for the handlers: items carry every property the real service sends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from . import resources as res
from .collection import Collection
from .intune_data import parse_intune
from .model import Gdap, PartnerCenter, Tenant, World
from .validate import (
    as_list,
    boolean,
    fail,
    guid,
    mapping,
    parse_time,
    show,
    text,
)

SECTION_KEYS = ("organization", "intune", "gdap", "partner_center")
_ORG_KEYS = ("displayName", "verifiedDomains")
_DOMAIN_KEYS = ("name", "isDefault", "isInitial", "type", "capabilities")
_GDAP_KEYS = ("customers", "relationships")
_GDAP_CUSTOMER_KEYS = ("id", "tenantId", "displayName")
_PC_KEYS = ("customers", "app_access")
_PC_CUSTOMER_KEYS = ("id", "companyProfile", "relationshipToPartner")
_PC_PROFILE_KEYS = ("tenantId", "domain", "companyName")


@dataclass(frozen=True)
class Directory:
    """What sections may refer to: tenants (names, default domains) and applications."""

    names: dict[str, str]  # tenant id -> display name
    domains: dict[str, str]  # tenant id -> default verified domain
    apps: frozenset[str]


def _json_value(value: object, path: str) -> None:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        fail(path, "holds a value that is not JSON")


# --- organization -----------------------------------------------------------------------


def parse_organization(raw: object, path: str, tenant_id: str, display_name: str) -> dict:
    """The organization object; without the section, one initial default domain."""
    if raw is None:
        name = res.initial_domain(display_name)
        return res.organization(
            tenant_id, display_name, [res.domain(name, default=True, initial=True)]
        )
    entry = mapping(raw, path, _ORG_KEYS)
    org_name = text(entry.get("displayName", display_name), f"{path}.displayName")
    domains: list[dict[str, Any]] = []
    raw_domains = as_list(entry.get("verifiedDomains", []), f"{path}.verifiedDomains")
    for index, item in enumerate(raw_domains):
        where = f"{path}.verifiedDomains[{index}]"
        dom = mapping(item, where, _DOMAIN_KEYS)
        made = res.domain(
            text(dom.get("name"), f"{where}.name"),
            default=boolean(dom.get("isDefault", False), f"{where}.isDefault"),
            initial=boolean(dom.get("isInitial", False), f"{where}.isInitial"),
            kind=text(dom.get("type", "Managed"), f"{where}.type"),
        )
        if "capabilities" in dom:
            made["capabilities"] = text(dom["capabilities"], f"{where}.capabilities")
        domains.append(made)
    if sum(1 for d in domains if d["isDefault"]) != 1:
        fail(f"{path}.verifiedDomains", "exactly one domain must have isDefault true")
    if sum(1 for d in domains if d["isInitial"]) > 1:
        fail(f"{path}.verifiedDomains", "at most one domain can have isInitial true")
    return res.organization(tenant_id, org_name, domains)


def default_domain(org: dict[str, Any]) -> str:
    for item in org["verifiedDomains"]:
        if item["isDefault"]:
            return str(item["name"])
    return ""


# --- gdap -------------------------------------------------------------------------------


def _time_or_null(value: object, path: str) -> str | None:
    if value is None:
        return None
    parse_time(value, path)
    return str(value)


def _relationship(item: object, where: str, names: dict[str, str]) -> dict[str, Any]:
    rel = mapping(item, where, res.GDAP_RELATIONSHIP_PROPERTIES)
    rel_id = text(rel.get("id"), f"{where}.id")
    status = rel.get("status", "active")
    if status not in res.GDAP_STATUSES:
        fail(f"{where}.status", f"must be one of: {', '.join(res.GDAP_STATUSES)}")
    customer = mapping(rel.get("customer"), f"{where}.customer", ("tenantId", "displayName"))
    tenant_id = guid(customer.get("tenantId"), f"{where}.customer.tenantId")
    shown = customer.get("displayName", names.get(tenant_id, "Customer"))
    created = _time_or_null(
        rel.get("createdDateTime", "2024-01-01T00:00:00Z"), f"{where}.createdDateTime"
    )
    out: dict[str, Any] = {
        "@odata.type": "#microsoft.graph.delegatedAdminRelationship",
        "@odata.etag": res.etag("relationship", rel_id, str(status)),
        "id": rel_id,
        "displayName": text(rel.get("displayName", rel_id), f"{where}.displayName"),
        "duration": text(rel.get("duration", "P730D"), f"{where}.duration"),
        "customer": {"tenantId": tenant_id, "displayName": text(shown, f"{where}.customer")},
        "accessDetails": mapping(
            rel.get("accessDetails", {"unifiedRoles": []}), f"{where}.accessDetails"
        ),
        "status": status,
        "autoExtendDuration": text(
            rel.get("autoExtendDuration", "PT0S"), f"{where}.autoExtendDuration"
        ),
        "createdDateTime": created,
    }
    for name, fallback in (
        ("lastModifiedDateTime", created),
        ("activatedDateTime", created),
        ("endDateTime", None),
    ):
        out[name] = _time_or_null(rel.get(name, fallback), f"{where}.{name}")
    _json_value(out, where)
    return out


def parse_gdap(raw: object, path: str, names: dict[str, str]) -> Gdap:
    entry = mapping(raw, path, _GDAP_KEYS)
    customers: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(as_list(entry.get("customers", []), f"{path}.customers")):
        where = f"{path}.customers[{index}]"
        cust = mapping(item, where, _GDAP_CUSTOMER_KEYS)
        tenant_id = guid(cust.get("tenantId", cust.get("id")), f"{where}.tenantId")
        customer_id = guid(cust.get("id", tenant_id), f"{where}.id")
        if customer_id in seen:
            fail(f"{where}.id", f"duplicate customer '{customer_id}'")
        seen.add(customer_id)
        shown = text(
            cust.get("displayName", names.get(tenant_id, "Customer")), f"{where}.displayName"
        )
        customers.append(res.gdap_customer(tenant_id, shown, customer_id))
    relationships: list[dict[str, Any]] = []
    rel_ids: set[str] = set()
    raw_rels = as_list(entry.get("relationships", []), f"{path}.relationships")
    for index, item in enumerate(raw_rels):
        rel = _relationship(item, f"{path}.relationships[{index}]", names)
        if rel["id"].lower() in rel_ids:
            fail(f"{path}.relationships[{index}].id", f"duplicate relationship {show(rel['id'])}")
        rel_ids.add(rel["id"].lower())
        relationships.append(rel)
    everything = Collection(relationships)
    by_status = {status: everything.where("status", status) for status in res.GDAP_STATUSES}
    return Gdap(customers=Collection(customers), relationships=everything, by_status=by_status)


# --- partner center ---------------------------------------------------------------------


def parse_partner_center(raw: object, path: str, directory: Directory) -> PartnerCenter:
    entry = mapping(raw, path, _PC_KEYS)
    customers: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(as_list(entry.get("customers", []), f"{path}.customers")):
        where = f"{path}.customers[{index}]"
        cust = mapping(item, where, _PC_CUSTOMER_KEYS)
        profile = mapping(
            cust.get("companyProfile", {}), f"{where}.companyProfile", _PC_PROFILE_KEYS
        )
        tenant_id = guid(
            profile.get("tenantId", cust.get("id")), f"{where}.companyProfile.tenantId"
        )
        customer_id = guid(cust.get("id", tenant_id), f"{where}.id")
        if customer_id in seen:
            fail(f"{where}.id", f"duplicate customer '{customer_id}'")
        seen.add(customer_id)
        domain_name = profile.get("domain", directory.domains.get(tenant_id))
        if domain_name is None:
            fail(f"{where}.companyProfile.domain", "needed for a tenant not in the fixture")
        company = profile.get("companyName", directory.names.get(tenant_id, "Customer"))
        relationship = cust.get("relationshipToPartner", "reseller")
        if relationship not in res.PC_RELATIONSHIPS:
            allowed = ", ".join(res.PC_RELATIONSHIPS)
            fail(f"{where}.relationshipToPartner", f"must be one of: {allowed}")
        customers.append(
            res.pc_customer(
                customer_id,
                tenant_id,
                text(domain_name, f"{where}.companyProfile.domain"),
                text(company, f"{where}.companyProfile.companyName"),
                str(relationship),
            )
        )
    access: frozenset[str] | None = None
    if "app_access" in entry:
        ids: list[str] = []
        for index, item in enumerate(as_list(entry["app_access"], f"{path}.app_access")):
            client_id = guid(item, f"{path}.app_access[{index}]")
            if client_id not in directory.apps:
                fail(f"{path}.app_access[{index}]", f"unknown application '{item}'")
            ids.append(client_id)
        access = frozenset(ids)
    return PartnerCenter(customers=Collection(customers), app_access=access)


# --- applying sections ------------------------------------------------------------------


def directory_of(world: World) -> Directory:
    """Names and default domains of the world's tenants, and its application ids."""
    return Directory(
        names={tid: tenant.display_name for tid, tenant in world.tenants.items()},
        domains={
            tid: default_domain(tenant.organization)
            for tid, tenant in world.tenants.items()
            if tenant.organization is not None
        },
        apps=frozenset(world.applications),
    )


def apply_section(tenant: Tenant, name: str, raw: object, path: str, directory: Directory) -> None:
    """Set one section of a tenant; `None` removes it (organization: back to the default)."""
    if name == "organization":
        tenant.organization = parse_organization(raw, path, tenant.id, tenant.display_name)
    elif name == "intune":
        tenant.intune = None if raw is None else parse_intune(raw, path)
    elif name == "gdap":
        tenant.gdap = None if raw is None else parse_gdap(raw, path, directory.names)
    elif name == "partner_center":
        tenant.partner_center = None if raw is None else parse_partner_center(raw, path, directory)
    else:
        fail(path, f"unknown section (expected one of: {', '.join(SECTION_KEYS)})")
