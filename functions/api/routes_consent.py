"""One-click onboarding: admin-consent links, their callback, a partner's links, and the
security groups of a tenant that awaits its level-0 group."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse

from functions.api.consent_page import HEADERS, answer_callback
from functions.api.errors import responses
from functions.api.models import (
    ConsentCreate,
    ConsentLinkOut,
    ConsentOut,
    CustomerConsent,
    GroupChoice,
    GroupChoicePage,
    PartnerConsentLinks,
    Prefix,
    consent_link_out,
    consent_out,
)
from functions.api.paging import PageParams
from functions.api.params import KEYED, PartnerId, ServicesDep, TenantId, services
from functions.api.strict import checks_own_query
from functions.api.urls import API_PREFIX
from functions.clients.graph import RequestStats
from functions.core.errors import ConflictError
from functions.core.kinds import KINDS
from functions.core.model import SyncKind, SyncState, utcnow
from functions.core.validation import is_guid
from functions.onboarding.consent import CALLBACK_PATH
from functions.onboarding.groups import security_groups

router = APIRouter(tags=["onboarding"])


@router.post(
    "/consents", status_code=201, response_model=ConsentLinkOut, dependencies=KEYED,
    responses=responses(400, 404, 413, 503),
)
def create_consent(body: ConsentCreate, response: Response,
                   services: ServicesDep) -> ConsentLinkOut:
    """An admin-consent link for a directory or a device connection.

    Give `url` to the tenant's administrator: Microsoft Entra asks them to accept the
    deployment's app (read-only permissions), then returns to this service, which tests the
    connection, stores the tenant and starts its first sync. The link works once and
    expires (`expiresAt`, TENANTSYNC_CONSENT_LINK_HOURS). Without `groupId` a directory
    tenant awaits its group: list its groups (`GET /tenants/{id}/directory/groups`) and
    choose one (`PATCH /tenants/{id}`).
    """
    link = services.consent.create(KINDS.parse(body.kind), tenant_id=body.tenantId,
                                   group_id=body.groupId,
                                   partner_tenant_id=body.partnerTenantId)
    response.headers["Location"] = f"{API_PREFIX}/consents/{link.consent.consent_id}"
    return consent_link_out(link.consent, link.url)


@router.get("/consents/{consentId}", response_model=ConsentOut, dependencies=KEYED,
            responses=responses(400, 404, 503))
def get_consent(
    consent_id: Annotated[str, Path(alias="consentId", pattern=r"^[0-9a-f]{32}$",
                                    description="The consentId a link was given")],
    services: ServicesDep,
) -> ConsentOut:
    """What became of a consent link: pending, used (by which tenant, its first run) or
    expired."""
    return consent_out(services.consents.get(consent_id), utcnow())


_PAGE = {"content": {"text/html": {"schema": {"type": "string"}}}}


@router.get(
    CALLBACK_PATH.removeprefix(API_PREFIX), response_class=HTMLResponse,
    responses={200: {**_PAGE, "description": "Connected: the page says so"},
               **{status: {**_PAGE, "description": f"Not connected: {what}"}
                  for status, what in ((400, "the address or its state is not a link's"),
                                       (409, "the link was used, or is another tenant's"),
                                       (410, "the link expired"),
                                       (422, "consent refused, or the connection test failed"),
                                       (500, "the deployment's settings"),
                                       (502, "a Microsoft endpoint failed"),
                                       (503, "storage or Key Vault unavailable"))}},
)
@checks_own_query  # only Entra's parameters, each once and in its shape: consent_page
def consent_callback(request: Request) -> HTMLResponse:
    """Where Microsoft Entra returns the administrator after an admin-consent link (an HTML
    page, anonymous in Azure: the `consent_callback` function).

    Nothing is written unless the consent, the link's state (signed, unexpired, unused) and
    the connection test are all good.
    """
    status, page = answer_callback(services, request.url.query)
    return HTMLResponse(page, status_code=status, headers=HEADERS)


@router.get(
    "/partners/{partnerTenantId}/consent-links", response_model=PartnerConsentLinks,
    dependencies=KEYED, responses=responses(400, 404, 503),
)
def partner_consent_links(partner_id: PartnerId, services: ServicesDep) -> PartnerConsentLinks:
    """A partner's customers with their device health, and a new tenant-specific consent
    link (the partner's inventory app) for each whose health says an admin must consent
    (`consent_missing`, `permission_missing`): a GDAP admin works through them, and
    `progress` shows how far they are."""
    listed = services.consent.partner_links(partner_id)
    items = [CustomerConsent(
        tenantId=t.tenant_id, name=t.organization or t.display_name,
        health=t.device_state.health, url=link.url if link else None,
        expiresAt=link.consent.expires_at if link else None) for t, link in listed]
    progress = Counter(item.health.value for item in items)
    return PartnerConsentLinks(partnerTenantId=partner_id, progress=dict(progress), items=items)


@router.get(
    "/tenants/{tenantId}/directory/groups", response_model=GroupChoicePage, dependencies=KEYED,
    responses=responses(400, 404, 409, 422, 502, 503),
)
def list_security_groups(
    tenant_id: TenantId, page: PageParams, services: ServicesDep,
    name_prefix: Annotated[Prefix | None, Query(
        alias="namePrefix", description="Only groups whose name starts with this (any case)",
    )] = None,
) -> GroupChoicePage:
    """The tenant's security groups, read from Graph now, to choose its level-0 group by
    name (then `PATCH /tenants/{id}` with `groupId`). Uses the tenant's own directory app
    (GroupMember.Read.All lists groups)."""
    tenant = services.tenants.get(tenant_id)
    conn = tenant.directory
    if conn is None:
        raise ConflictError(f"tenant {tenant_id} has no directory connection: connect it first "
                            "(POST /api/consents with kind directory)", code="not_configured")
    graph = services.graphs.for_app(tenant_id, conn.client_id, conn.credential, conn.scope,
                                    kind=SyncKind.DIRECTORY, state=SyncState(),
                                    stats=RequestStats(), now=utcnow())
    groups, token = security_groups(graph, tenant_id, name_prefix=name_prefix,
                                    page_size=page.size, continuation=page.token)
    return GroupChoicePage(items=[GroupChoice(id=g.id, displayName=g.name,
                                              description=g.description or None)
                                  for g in groups if is_guid(g.id)],
                           continuationToken=token)
