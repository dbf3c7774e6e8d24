"""Consent from the partner's side: every GDAP customer whose device side lacks consent is
connected with no step in its tenant, and every customer gets an answer that names its fix.

Per customer: its GDAP relationship must be active and assign a role that may consent
(Partner Center consent: Global, Application or Cloud Application Administrator; Graph app
roles: Privileged Role Administrator or Global, Entra's permissions reference); then the
writes of :mod:`consent_steps`, the connection test, and the first sync. Consent takes
time to reach app-only tokens: a tenant whose test fails just after is ``awaiting_consent``
and tested again on a back-off (:mod:`consent_retry`). One customer's failure never stops
the others; every attempt is audited.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

import requests

from functions.clients.claims import token_roles
from functions.clients.delegated import GRAPH_DEFAULT, PARTNER_CENTER_DEFAULT
from functions.clients.entra import TokenProvider, VaultCredential
from functions.clients.graph import GraphClient
from functions.clients.vault import SecretStore
from functions.core.config import DEFAULT_GRAPH_SCOPE, Settings
from functions.core.errors import (
    AuthenticationError,
    ErrorCode,
    GraphError,
    NotFoundError,
    TenantSyncError,
)
from functions.core.model import Health, PartnerConnection, TenantRecord, utcnow
from functions.core.permissions import DEVICE_NEEDS, missing
from functions.core.sensitive import SecretValue
from functions.core.validation import guid
from functions.partners.audit import ConsentLog, ConsentPublish
from functions.partners.consent_retry import await_consent, connection_ready
from functions.partners.consent_steps import (
    DELEGATED_SCOPES,
    PartnerCenterRefusal,
    StepResult,
    consent_partner_app,
    grant_app_roles,
)
from functions.partners.signin import PartnerSignIn
from functions.storage.health import TenantHealth
from functions.storage.outbox import Outbox
from functions.storage.partner_access import ConsentAuditTable, ConsentRecord
from functions.storage.partners import PartnerTable
from functions.storage.tenants import TenantTable

log = logging.getLogger("tenantsync.partners")

GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
PRIVILEGED_ROLE_ADMIN = "e8611ab8-c189-46e8-94e1-60213ab1f814"
APPLICATION_ADMIN = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
CLOUD_APPLICATION_ADMIN = "158c047a-c907-4556-b7ef-446551a6b5f7"
CONSENT_ROLES = frozenset({GLOBAL_ADMIN, APPLICATION_ADMIN, CLOUD_APPLICATION_ADMIN})
APP_ROLE_ROLES = frozenset({GLOBAL_ADMIN, PRIVILEGED_ROLE_ADMIN})
NEEDS_CONSENT = (Health.CONSENT_MISSING, Health.PERMISSION_MISSING)
CONCURRENCY = 16  # customers consented at once (Partner Center: 50 requests/s per app)
ROLES_NEEDED = ("Application Administrator (or Cloud Application Administrator) and "
                "Privileged Role Administrator, or Global Administrator")


class ConsentOutcome(StrEnum):
    CONNECTED = "connected"
    ALREADY_CONSENTED = "already_consented"
    PROPAGATION_PENDING = "propagation_pending"
    RELATIONSHIP_NOT_ACTIVE = "relationship_not_active"
    NO_CONSENT_ROLE = "no_consent_role"
    NOT_ADMIN_AGENT = "not_admin_agent"
    PARTNER_CENTER_REFUSED = "partner_center_refused"
    SIGN_IN_REQUIRED = "sign_in_required"
    FAILED = "failed"


ROLE_NAMES = {GLOBAL_ADMIN: "Global Administrator",
              PRIVILEGED_ROLE_ADMIN: "Privileged Role Administrator",
              APPLICATION_ADMIN: "Application Administrator",
              CLOUD_APPLICATION_ADMIN: "Cloud Application Administrator"}


@dataclass
class CustomerAccess:
    """What the partner's GDAP relationships allow in one customer."""

    tenant_id: str
    name: str
    relationship: str  # "active", another status, or "none"
    roles: list[str]  # the roles its active relationships assign (names where known)
    may_consent: bool
    missing: str  # what is missing for a consent from the partner's side ("" if nothing)


@dataclass
class CustomerConsent:
    """One customer's answer: what happened and, unless connected, the fix."""

    tenant_id: str
    name: str
    outcome: ConsentOutcome
    message: str
    permissions: list[str] = field(default_factory=list)  # app roles assigned now
    writes: int = 0
    run_id: str = ""
    made: StepResult = field(default_factory=StepResult)  # what it wrote in the tenant
    partner_center: bool = False  # whether applicationconsents wrote the delegated grant


@dataclass
class PartnerConsent:
    settings: Settings
    partners: PartnerTable
    tenants: TenantTable
    health: TenantHealth  # every change of a side's health goes through it
    audit: ConsentAuditTable
    signin: PartnerSignIn
    tokens: TokenProvider
    secrets: SecretStore
    session: requests.Session
    start: Callable[[str], str]  # tenant -> run id of its first device sync
    clock: Callable[[], datetime] = utcnow
    outbox: Outbox | None = None  # a consent that wrote is an event, through the outbox
    publish: ConsentPublish | None = None  # the relay's publish

    def run(self, partner_tenant_id: str, tenant_id: str | None = None) -> list[CustomerConsent]:
        """Consent the inventory app into the partner's customers that need it (or into
        ``tenant_id`` only): one answer per customer, in the partner's customer order.

        Raises:
            NotFoundError: ``unknown_partner``, or ``unknown_tenant`` for a ``tenant_id``
            that is not this partner's customer. TenantError: the relationships could not
            be read (nothing was written then).
        """
        partner = self.partners.get(guid(partner_tenant_id, "partner tenant ID"))
        customers = self._customers(partner, guid(tenant_id, "tenant ID") if tenant_id else None)
        if not customers:
            return []
        roles = self._roles(partner, {t.tenant_id for t in customers})
        pid = partner.partner_tenant_id
        try:
            self.signin.begin(pid)
            pc_token = self.signin.token(pid, pid, PARTNER_CENTER_DEFAULT)
        except AuthenticationError as exc:
            self.signin.used(pid)
            answers = [CustomerConsent(t.tenant_id, t.display_name,
                                       ConsentOutcome.SIGN_IN_REQUIRED, exc.message)
                       for t in customers]
            for answer in answers:
                self._record(partner, answer)
            return answers
        user_id = self.signin.status(pid).user_id

        def one(tenant: TenantRecord) -> CustomerConsent:
            try:
                answer = self._one(partner, tenant, roles.get(tenant.tenant_id), pc_token)
            except TenantSyncError as exc:
                answer = CustomerConsent(tenant.tenant_id, tenant.display_name,
                                         ConsentOutcome.FAILED, exc.message)
            except Exception:  # one customer's surprise never stops the others
                log.exception("partner-side consent of %s failed", tenant.tenant_id)
                answer = CustomerConsent(tenant.tenant_id, tenant.display_name,
                                         ConsentOutcome.FAILED, "Unexpected error: see the "
                                         "log; try again later, or use the consent link.")
            self._record(partner, answer, user_id)
            return answer

        try:
            # Customers in parallel: each waits mostly on Partner Center, Entra and Graph
            # (Partner Center allows 50 requests a second per application).
            with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
                return list(pool.map(one, customers))
        finally:
            self.signin.used(pid)

    def access(self, partner_tenant_id: str) -> list[CustomerAccess]:
        """What the partner's GDAP relationships allow in each of its customers: whether
        the partner side may consent there, and if not, what is missing (read only).

        Raises:
            NotFoundError: ``unknown_partner``. TenantError: the relationships could not be
            read (the partner app needs DelegatedAdminRelationship.Read.All).
        """
        partner = self.partners.get(guid(partner_tenant_id, "partner tenant ID"))
        customers = [t for t in self.tenants.list() if t.devices is not None
                     and t.devices.partner_tenant_id == partner.partner_tenant_id]
        roles = self._roles(partner, {t.tenant_id for t in customers})
        found = []
        for tenant in customers:
            status, held = roles.get(tenant.tenant_id, ("none", set()))
            names = sorted(ROLE_NAMES.get(r, r) for r in held)
            if status != "active":
                missing_text = f"no active GDAP relationship (status: {status or 'none'})"
            elif not held & CONSENT_ROLES or not held & APP_ROLE_ROLES:
                missing_text = f"a role that may consent: {ROLES_NEEDED}"
            else:
                missing_text = ""
            found.append(CustomerAccess(tenant.tenant_id, tenant.display_name, status or "none",
                                        names, not missing_text, missing_text))
        return found

    def after_discovery(self, partner_tenant_id: str) -> list[CustomerConsent]:
        """Consent after a discovery, only where the partner opted in (it writes in
        customers' tenants). Never raises: a failure is logged, the discovery stands."""
        if not self.signin.status(partner_tenant_id).auto_consent:
            return []
        try:
            return self.run(partner_tenant_id)
        except TenantSyncError as exc:
            log.warning("consent after discovery of partner %s failed: %s",
                        partner_tenant_id, exc.code)
            return []

    def _customers(self, partner: PartnerConnection, only: str | None) -> list[TenantRecord]:
        found = []
        for tenant in self.tenants.list():
            d = tenant.devices
            if d is None or d.partner_tenant_id != partner.partner_tenant_id:
                continue
            if only is not None:
                if tenant.tenant_id == only:
                    return [tenant]
                continue
            if d.active and not d.excluded and not d.unsupported_reason and \
                    tenant.device_state.health in NEEDS_CONSENT:
                found.append(tenant)
        if only is not None:
            raise NotFoundError(f"tenant {only} is not a customer of partner "
                                f"{partner.partner_tenant_id}", code=ErrorCode.UNKNOWN_TENANT)
        return found

    def _roles(self, partner: PartnerConnection,
               wanted: set[str]) -> dict[str, tuple[str, set[str]]]:
        """customer -> (the best relationship status, roles its active ones assign), for
        the ``wanted`` customers (their relationships' access assignments only)."""
        credential = VaultCredential(self.tokens, self.secrets, partner.partner_tenant_id,
                                     partner.partner_client_id, partner.partner_credential,
                                     DEFAULT_GRAPH_SCOPE)
        graph = GraphClient.configured(self.settings, credential, self.session)
        found: dict[str, tuple[str, set[str]]] = {}
        for page in graph.pages("/tenantRelationships/delegatedAdminRelationships",
                                {"$top": "300"}):
            for rel in page:
                customer = str((rel.get("customer") or {}).get("tenantId") or "").lower()
                if customer not in wanted:
                    continue
                status, held = found.get(customer, ("", set()))
                if rel.get("status") == "active":
                    status = "active"
                    held |= self._assigned_roles(graph, str(rel["id"]))
                found[customer] = (status or str(rel.get("status") or ""), held)
        return found

    @staticmethod
    def _assigned_roles(graph: GraphClient, relationship: str) -> set[str]:
        body = graph.get(f"/tenantRelationships/delegatedAdminRelationships/{relationship}"
                         "/accessAssignments")
        return {str(role.get("roleDefinitionId")).lower()
                for item in body.get("value") or [] if item.get("status", "active") == "active"
                for role in (item.get("accessDetails") or {}).get("unifiedRoles") or []}

    def _one(self, partner: PartnerConnection, tenant: TenantRecord,
             relationship: tuple[str, set[str]] | None, pc_token: SecretValue) -> CustomerConsent:
        name, tid = tenant.display_name, tenant.tenant_id
        link = (f"The consent link still works: tenantsync partner consent-links "
                f"--partner-tenant-id {partner.partner_tenant_id}.")
        if self._consented(partner, tid):
            return self._connected(partner, tenant, ConsentOutcome.ALREADY_CONSENTED, [], 0)
        if relationship is None or relationship[0] != "active":
            status = relationship[0] if relationship else "none"
            return CustomerConsent(tid, name, ConsentOutcome.RELATIONSHIP_NOT_ACTIVE,
                                   f"No active GDAP relationship with this customer (status: "
                                   f"{status}): renew it in Partner Center. {link}")
        held = relationship[1]
        if not held & CONSENT_ROLES or not held & APP_ROLE_ROLES:
            return CustomerConsent(tid, name, ConsentOutcome.NO_CONSENT_ROLE,
                                   f"The GDAP relationship assigns no role that may consent "
                                   f"the app and its Graph application permissions: it needs "
                                   f"{ROLES_NEEDED}. {link}")
        try:
            wrote = consent_partner_app(self.session, self.settings, pc_token, tid,
                                        partner.partner_client_id)
        except PartnerCenterRefusal as refusal:
            return CustomerConsent(tid, name, ConsentOutcome(refusal.reason),
                                   _refusal_message(refusal, link))
        steps = StepResult()
        try:
            grant_app_roles(self.settings, self.session, self._delegated(partner, tid),
                            partner.inventory_client_id, steps)
        except GraphError as exc:
            outcome = ConsentOutcome.NO_CONSENT_ROLE if exc.status == 403 else \
                ConsentOutcome.FAILED
            return CustomerConsent(tid, name, outcome, f"Graph refused the app role "
                                   f"assignment ({exc.message}). It needs {ROLES_NEEDED}. "
                                   f"{link}", steps.assigned, int(wrote) + steps.writes,
                                   made=steps, partner_center=wrote)
        except AuthenticationError as exc:
            outcome = ConsentOutcome.SIGN_IN_REQUIRED if exc.code in (
                ErrorCode.PARTNER_SIGN_IN_EXPIRED, ErrorCode.PARTNER_MFA_REQUIRED) else \
                ConsentOutcome.PROPAGATION_PENDING if exc.code == \
                ErrorCode.PARTNER_APP_NOT_CONSENTED else ConsentOutcome.FAILED
            return CustomerConsent(tid, name, outcome, exc.message, writes=int(wrote),
                                   partner_center=wrote)
        answer = self._connected(partner, tenant, ConsentOutcome.CONNECTED, steps.assigned,
                                 int(wrote) + steps.writes)
        answer.made, answer.partner_center = steps, wrote
        return answer

    def _delegated(self, partner: PartnerConnection, tenant_id: str) -> Callable[[], str]:
        token = self.signin.token(partner.partner_tenant_id, tenant_id, GRAPH_DEFAULT)
        return lambda: token.reveal()

    def _consented(self, partner: PartnerConnection, tenant_id: str) -> bool:
        """Whether the inventory app's app-only token has every permission already."""
        credential = VaultCredential(self.tokens, self.secrets, tenant_id,
                                     partner.inventory_client_id, partner.inventory_credential,
                                     DEFAULT_GRAPH_SCOPE)
        try:
            return not missing(DEVICE_NEEDS, token_roles(credential()))
        except AuthenticationError:
            return False

    def _connected(self, partner: PartnerConnection, tenant: TenantRecord,
                   outcome: ConsentOutcome, assigned: list[str], writes: int
                   ) -> CustomerConsent:
        """Test the connection now; queue the first sync, or await propagation."""
        tid = tenant.tenant_id
        ready = connection_ready(self.tokens, self.secrets, tid, partner.inventory_client_id,
                                 partner.inventory_credential)
        if not ready:
            await_consent(self.health, self.tenants, tid, self.clock())
            return CustomerConsent(tid, tenant.display_name, ConsentOutcome.PROPAGATION_PENDING,
                                   "Consented; Microsoft Entra is still propagating it. The "
                                   "connection is tested again on a back-off and the first "
                                   "sync starts once it passes.", assigned, writes)
        fresh = self.tenants.find(tid) or tenant
        fresh.device_state = replace(fresh.device_state, health=Health.UNKNOWN,
                                     health_since=self.clock(), last_error_code="",
                                     last_error="", consecutive_failures=0,
                                     quarantined_until=None)
        self.health.replace(fresh)
        run_id = self.start(tid)
        message = ("Connected from the partner's side; the first sync is queued." if
                   outcome == ConsentOutcome.CONNECTED else
                   "The inventory app was consented already; a sync is queued.")
        return CustomerConsent(tid, tenant.display_name, outcome, message, assigned, writes,
                               run_id)

    def _record(self, partner: PartnerConnection, answer: CustomerConsent,
                user_id: str | None = None) -> None:
        if user_id is None:
            user_id = self.signin.status(partner.partner_tenant_id).user_id
        made = answer.made
        ConsentLog(self.audit, self.outbox, self.publish).record(ConsentRecord(
            partner_tenant_id=partner.partner_tenant_id, tenant_id=answer.tenant_id,
            at=self.clock(), outcome=answer.outcome, user_id=user_id,
            permissions=answer.permissions,
            delegated_scopes=list(DELEGATED_SCOPES) if answer.partner_center else [],
            message=answer.message, writes=answer.writes, run_id=answer.run_id,
            principal_id=made.principal_id, principal_created=made.principal_created,
            assignments=dict(made.assignments), partner_center=answer.partner_center))


def _refusal_message(refusal: PartnerCenterRefusal, link: str) -> str:
    if refusal.reason == "not_admin_agent":
        return ("The signed-in partner user is not in the partner's AdminAgents group: add "
                "them in Partner Center, or sign in as an admin agent. " + link)
    if refusal.reason == "no_consent_role":
        return ("Partner Center refused: the partner user's GDAP roles in this customer "
                f"cannot consent (it needs {ROLES_NEEDED}). " + link)
    if refusal.status == 401:
        return ("Partner Center requires multi-factor authentication: sign in again with "
                "MFA (tenantsync partner sign-in). " + link)
    if refusal.status == 429:
        return "Partner Center is throttling: try again in a few minutes. " + link
    return f"Partner Center refused the consent ({refusal.description}). " + link
