"""Consent from the partner's side: the admin agent's sign-in (started here, finished at the
anonymous callback), the consent of GDAP customers, its opt-in after each discovery, and the
audit of every consent made."""

from __future__ import annotations

import html
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, StrictBool

from functions.api.consent_page import HEADERS
from functions.api.errors import responses
from functions.api.models.fields import Guid
from functions.api.models.gdap import CustomerAccessOut, GdapAccess, PartnerAdded
from functions.api.models.inputs import Input
from functions.api.models.records import PartnerSaved, Problem
from functions.api.params import KEYED, PartnerId, ServicesDep, services
from functions.api.strict import checks_own_query
from functions.api.urls import API_PREFIX
from functions.core.codes import outcome
from functions.core.errors import TenantSyncError
from functions.partners.signin import SIGN_IN_CALLBACK_PATH
from functions.services import Services

log = logging.getLogger("tenantsync.api")

router = APIRouter(tags=["partners"])


class SignInStarted(BaseModel):
    """Open `url` as the partner's admin agent (AdminAgents, with MFA)."""

    partnerTenantId: str
    url: str = Field(description="Microsoft Entra's sign-in page; it returns to this service")
    expiresAt: datetime


class SignInStatus(BaseModel):
    """The partner's sign-in: its refresh token is kept in Key Vault only, never shown."""

    partnerTenantId: str
    health: Literal["not_signed_in", "signed_in", "sign_in_required"]
    userId: str | None = Field(description="The signed-in admin agent's object ID")
    userName: str | None
    signedInAt: datetime | None
    lastUsedAt: datetime | None
    lastErrorCode: str | None
    lastError: str | None = Field(description="What happened, and the fix")
    autoConsent: bool = Field(description="Consent customers after each discovery")


class ConsentRun(Input):
    tenantId: Guid | None = Field(default=None, description=(
        "Only this customer (default: every customer whose device health is "
        "consent_missing)"))


class AutoConsent(Input):
    autoConsent: StrictBool = Field(description="Consent customers after each discovery (it "
                                          "writes in customers' tenants: off by default)")


class CustomerAnswer(BaseModel):
    tenantId: str
    name: str
    outcome: Literal["connected", "already_consented", "propagation_pending",
                     "relationship_not_active", "no_consent_role", "not_admin_agent",
                     "partner_center_refused", "sign_in_required", "failed"]
    message: str = Field(description="What happened and, unless connected, the fix")
    permissions: list[str] = Field(description="Application permissions assigned now")
    writes: int = Field(description="Consent writes made in the customer's tenant")
    runId: str | None


class ConsentAnswers(BaseModel):
    partnerTenantId: str
    items: list[CustomerAnswer]


class ConsentAuditItem(BaseModel):
    tenantId: str
    at: datetime
    outcome: str
    userId: str | None = Field(description="The signed-in partner user's object ID")
    permissions: list[str]
    delegatedScopes: list[str]
    message: str
    writes: int
    action: str = Field(description="granted (a consent), or revoked (a tenant removed with "
                                    "revokeConsent took back what consents made)")
    principalCreated: bool = Field(description="granted: tenantsync created the inventory "
                                               "app's service principal; revoked: removed it")


class ConsentAudit(BaseModel):
    partnerTenantId: str
    items: list[ConsentAuditItem]


def _status(services: Services, partner_id: str) -> SignInStatus:
    s = services.partner_signin.status(partner_id)
    return SignInStatus(partnerTenantId=partner_id, health=s.health,  # type: ignore[arg-type]
                        userId=s.user_id or None, userName=s.user_name or None,
                        signedInAt=s.signed_in_at, lastUsedAt=s.last_used_at,
                        lastErrorCode=s.last_error_code or None, lastError=s.last_error or None,
                        autoConsent=s.auto_consent)


@router.post("/partners/{partnerTenantId}/sign-in", status_code=201,
             response_model=SignInStarted, dependencies=KEYED,
             responses=responses(400, 404, 503))
def start_partner_sign_in(partner_id: PartnerId, services: ServicesDep) -> SignInStarted:
    """Start the partner admin agent's sign-in (authorization code with PKCE): open `url`
    within its lifetime; Entra returns to this service, which keeps the refresh token in
    Key Vault. Needed once (and again when the sign-in health says so) for partner-side
    consent; syncs never need it."""
    started = services.partner_signin.start(partner_id)
    return SignInStarted(partnerTenantId=partner_id, url=started.url,
                         expiresAt=started.expires_at)


@router.get("/partners/{partnerTenantId}/sign-in", response_model=SignInStatus,
            dependencies=KEYED, responses=responses(400, 404, 503))
def get_partner_sign_in(partner_id: PartnerId, services: ServicesDep) -> SignInStatus:
    """The partner's sign-in health: signed in, never, or sign in again (revoked, unused
    for 90 days, MFA required again), with who signed in and when."""
    services.partner_table.get(partner_id)
    return _status(services, partner_id)


@router.put("/partners/{partnerTenantId}/auto-consent", response_model=SignInStatus,
            dependencies=KEYED, responses=responses(400, 404, 413, 503))
def set_partner_auto_consent(partner_id: PartnerId, body: AutoConsent,
                             services: ServicesDep) -> SignInStatus:
    """Opt in (or out) to consent from the partner's side after each discovery."""
    services.partner_table.get(partner_id)
    record = services.partner_signin.status(partner_id)
    record.auto_consent = body.autoConsent
    services.partner_signin.access.save(record)
    return _status(services, partner_id)


@router.post("/partners/{partnerTenantId}/consent", response_model=ConsentAnswers,
             dependencies=KEYED, responses=responses(400, 404, 413, 502, 503))
def run_partner_consent(partner_id: PartnerId, services: ServicesDep,
                        body: ConsentRun | None = None) -> ConsentAnswers:
    """Consent the partner's inventory app into its GDAP customers that lack it (or one),
    from the partner's side: Partner Center's application consent, then the app's service
    principal and exactly the missing Graph application permissions, the connection test and
    the first sync. Every customer gets an answer naming its fix; every attempt is audited."""
    answers = services.partner_consent.run(partner_id, body.tenantId if body else None)
    return ConsentAnswers(partnerTenantId=partner_id, items=[CustomerAnswer(
        tenantId=a.tenant_id, name=a.name, outcome=a.outcome.value,
        message=a.message, permissions=a.permissions, writes=a.writes,
        runId=a.run_id or None) for a in answers])


@router.get("/partners/{partnerTenantId}/consents", response_model=ConsentAudit,
            dependencies=KEYED, responses=responses(400, 404, 503))
def list_partner_consents(
    partner_id: PartnerId, services: ServicesDep,
    tenant_id: Annotated[Guid | None, Query(alias="tenantId",
                                            description="Only this customer")] = None,
) -> ConsentAudit:
    """Every consent tenantsync made (or tried) from this partner's side, newest first."""
    services.partner_table.get(partner_id)
    records = services.partner_consent.audit.list(partner_id, tenant_id)
    return ConsentAudit(partnerTenantId=partner_id, items=[ConsentAuditItem(
        tenantId=r.tenant_id, at=r.at, outcome=r.outcome, userId=r.user_id or None,
        permissions=r.permissions, delegatedScopes=r.delegated_scopes, message=r.message,
        writes=r.writes, action=r.action, principalCreated=r.principal_created)
        for r in records])


@router.get("/partners/{partnerTenantId}/gdap-access", response_model=GdapAccess,
            dependencies=KEYED, responses=responses(400, 404, 502, 503))
def get_partner_gdap_access(partner_id: PartnerId, services: ServicesDep) -> GdapAccess:
    """What the partner's GDAP relationships allow in each customer: whether a consent from
    the partner's side may work there and, if not, what is missing (relationship not
    active, no role that may consent). Reads only; the consent link works regardless."""
    return GdapAccess(partnerTenantId=partner_id, items=access_out(services, partner_id))


def access_out(services: Services, partner_id: str) -> list[CustomerAccessOut]:
    """The GDAP access of each customer, as the API answers it.

    Raises:
        NotFoundError: ``unknown_partner``. TenantError: the relationships could not be read.
    """
    return [CustomerAccessOut(
        tenantId=a.tenant_id, name=a.name, relationship=a.relationship, roles=a.roles,
        mayConsent=a.may_consent, missing=a.missing or None)
        for a in services.partner_consent.access(partner_id)]


def partner_added(services: Services, saved: PartnerSaved) -> PartnerAdded:
    """A saved partner's answer with its GDAP access (source gdap): what is missing for a
    consent from the partner's side, checked when the connection is saved."""
    if saved.source != "gdap" or saved.discovery is None:
        return PartnerAdded(**saved.model_dump())
    try:
        items = access_out(services, saved.partnerTenantId)
    except TenantSyncError as exc:
        return PartnerAdded(**saved.model_dump(),
                            gdapAccessError=Problem(code=exc.code, message=exc.message))
    return PartnerAdded(**saved.model_dump(), gdapAccess=items)


_PAGE = {"content": {"text/html": {"schema": {"type": "string"}}}}


@router.get(SIGN_IN_CALLBACK_PATH.removeprefix(API_PREFIX), response_class=HTMLResponse,
            responses={200: {**_PAGE, "description": "Signed in"},
                       **{status: {**_PAGE, "description": "Not signed in"}
                          for status in (400, 409, 422, 500, 502, 503)}})
@checks_own_query  # only Entra's parameters: functions.partners.signin
def partner_sign_in_callback(request: Request) -> HTMLResponse:
    """Where Microsoft Entra returns the partner's admin agent after the sign-in (an HTML
    page, anonymous in Azure: the `partner_sign_in_callback` function)."""
    status, page = answer_sign_in(services, request.url.query)
    return HTMLResponse(page, status_code=status, headers=HEADERS)


def answer_sign_in(get: Callable[[], Services], raw_query: str) -> tuple[int, str]:
    """The callback's status and page. Never raises; never shows a token."""
    try:
        record = get().partner_signin.complete(raw_query)
    except TenantSyncError as exc:
        status = outcome(exc.code).status
        log.info("partner sign-in callback -> %d %s", status, exc.code,
                 extra={"error_code": exc.code, "status_code": status})
        return status, _page(False, "Not signed in", exc.message)
    except Exception:
        error_id = uuid.uuid4().hex[:12]
        log.exception("unexpected error %s in the partner sign-in callback", error_id)
        return 500, _page(False, "Not signed in", f"Unexpected error {error_id}: start the "
                          "sign-in again later.")
    note = f" {record.last_error}" if record.last_error else ""
    return 200, _page(True, "Signed in", f"Signed in as {record.user_name or record.user_id}."
                      " tenantsync can now consent its inventory app into your GDAP "
                      f"customers from your side (tenantsync partner consent).{note}")


def _page(ok: bool, title: str, text: str) -> str:
    word = "signed-in" if ok else "not-signed-in"
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title></head><body><main>"
            f'<h1 id="outcome" data-outcome="{word}">{html.escape(title)}</h1>'
            f"<p>{html.escape(text)}</p></main></body></html>")
