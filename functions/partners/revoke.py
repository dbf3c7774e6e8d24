"""Removing a tenant can remove what tenantsync consented in it (opt-in), never anything else.

Only what the consent audit says tenantsync made is removed, with the partner's delegated
token at the customer's authority: each app role assignment it added, the inventory app's
service principal if tenantsync created it, and last the partner app's delegated grant
that Partner Center's ``applicationconsents`` wrote (``DELETE .../applicationconsents/
{app}``, the Control Panel Vendor API). What the customer's admin granted stays. Each
removal is audited and is an event (feed, webhook) through the outbox; a failure keeps the
tenant and names the fix, and a repeat removes only what is left.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import requests

from functions.clients.delegated import GRAPH_DEFAULT, PARTNER_CENTER_DEFAULT
from functions.clients.graph import GraphClient
from functions.core.config import Settings
from functions.core.errors import ErrorCode, GraphError, TenantError, TenantSyncError
from functions.core.model import TenantRecord, utcnow
from functions.partners.audit import ConsentLog
from functions.partners.consent_steps import GRAPH_APP_ID
from functions.partners.signin import PartnerSignIn
from functions.storage.partner_access import GRANTED, REVOKED, ConsentRecord
from functions.storage.partners import PartnerTable

log = logging.getLogger("tenantsync.partners")


@dataclass
class Consented:
    """What tenantsync made in one customer's tenant and has not removed yet."""

    principal_id: str = ""  # the inventory app's principal, if tenantsync created it
    assignments: dict[str, str] = field(default_factory=dict)  # permission -> assignment id
    partner_center: bool = False  # the partner app's delegated grant

    @property
    def empty(self) -> bool:
        return not (self.principal_id or self.assignments or self.partner_center)


@dataclass
class Removal:
    """What a removal took back (``removed``: permissions whose assignment went)."""

    tenant_id: str
    partner_tenant_id: str = ""
    removed: list[str] = field(default_factory=list)
    principal_removed: bool = False
    partner_center_removed: bool = False
    writes: int = 0


def consented(records: list[ConsentRecord]) -> Consented:
    """What the audit of one customer says tenantsync made there and did not take back."""
    left = Consented()
    for record in sorted(records, key=lambda r: r.at):
        if record.action == GRANTED:
            left.assignments.update({k: v for k, v in record.assignments.items() if v})
            if record.principal_created:
                left.principal_id = record.principal_id
            left.partner_center |= record.partner_center
            continue
        for permission in record.assignments:
            left.assignments.pop(permission, None)
        if record.principal_created:
            left.principal_id = ""
        if record.partner_center:
            left.partner_center = False
    return left


@dataclass
class ConsentRemoval:
    settings: Settings
    partners: PartnerTable
    signin: PartnerSignIn
    log: ConsentLog
    session: requests.Session
    clock: Callable[[], datetime] = utcnow

    def revoke(self, tenant: TenantRecord) -> Removal:
        """Remove from ``tenant``'s directory what tenantsync consented there (nothing if it
        consented nothing: a tenant that consented by link keeps its admin's grant).

        Raises:
            TenantError: ``consent_removal_failed``, with the fix; what was removed before
            the failure is audited, and a repeat removes only what is left.
        """
        d = tenant.devices
        tid = tenant.tenant_id
        if d is None or not d.partner_tenant_id:
            return Removal(tid)
        pid = d.partner_tenant_id
        left = self.consented_in(pid, tid)
        done = Removal(tid, pid)
        if left.empty:
            return done
        try:
            self._remove(pid, tid, left, done)
        except TenantSyncError as exc:
            self._audit(pid, done, f"Stopped: {exc.message}")
            raise TenantError(
                f"Removing what tenantsync consented in tenant {tid} failed ({exc.message}). "
                "The tenant was not removed. Fix it (sign in again with `tenantsync partner "
                f"sign-in --partner-tenant-id {pid}` if asked; the partner user needs the "
                "roles that consented) and remove the tenant again with --revoke-consent: "
                "only what is left is removed. Or remove it without --revoke-consent and "
                "delete the inventory app's enterprise application in the customer's Entra "
                "admin center.", code=ErrorCode.CONSENT_REMOVAL_FAILED) from None
        self._audit(pid, done, "Removed what tenantsync consented, with the tenant.")
        return done

    def consented_in(self, partner_tenant_id: str, tenant_id: str) -> Consented:
        """What tenantsync consented in ``tenant_id`` and has not removed (its audit)."""
        return consented(self.log.audit.list(partner_tenant_id, tenant_id))

    def _remove(self, pid: str, tid: str, left: Consented, done: Removal) -> None:
        if left.assignments or left.principal_id:
            token = self.signin.token(pid, tid, GRAPH_DEFAULT)
            graph = GraphClient.configured(self.settings, token.reveal, self.session)
            resource = str(graph.get(f"/servicePrincipals(appId='{GRAPH_APP_ID}')",
                                     {"$select": "id"})["id"])
            for permission, assignment in sorted(left.assignments.items()):
                done.writes += _gone(graph, f"/servicePrincipals/{resource}/appRoleAssignedTo/"
                                     f"{assignment}")
                done.removed.append(permission)
            if left.principal_id:
                done.writes += _gone(graph, f"/servicePrincipals/{left.principal_id}")
                done.principal_removed = True
        if left.partner_center:
            # Last: the Graph removals above need the delegated grant it gave.
            partner = self.partners.get(pid)
            token = self.signin.token(pid, pid, PARTNER_CENTER_DEFAULT)
            center = GraphClient.configured(self.settings, token.reveal, self.session,
                                            base_url=self.settings.partner_center_url)
            done.writes += _gone(center, f"/v1/customers/{tid}/applicationconsents/"
                                 f"{partner.partner_client_id}")
            done.partner_center_removed = True

    def _audit(self, pid: str, done: Removal, message: str) -> None:
        if not (done.removed or done.principal_removed or done.partner_center_removed):
            return
        self.log.record(ConsentRecord(
            partner_tenant_id=pid, tenant_id=done.tenant_id, at=self.clock(), outcome=REVOKED,
            user_id=self.signin.status(pid).user_id, permissions=list(done.removed),
            message=message, writes=done.writes, action=REVOKED,
            principal_created=done.principal_removed,
            assignments=dict.fromkeys(done.removed, ""),
            partner_center=done.partner_center_removed))


def _gone(client: GraphClient, path: str) -> int:
    """DELETE ``path``: 1 if it removed something, 0 if it was gone already (404)."""
    try:
        client.delete(path)
    except GraphError as exc:
        if exc.status == 404:
            return 0
        raise
    return 1
