"""The partneraccess table (one row per partner: its admin agent's sign-in, never the token
itself, which is in Key Vault only; the partner-side consent's opt-ins) and the consentaudit
table (every consent tenantsync made, by partner)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from functions.storage.entities import iso, parse_time
from functions.storage.tables import TableStore

ACCESS_PARTITION = "partner"
GRANTED, REVOKED = "granted", "revoked"  # what a consent record did


class SignInHealth:
    """The health of a partner's sign-in (what the partner connection shows)."""

    NOT_SIGNED_IN = "not_signed_in"
    SIGNED_IN = "signed_in"
    SIGN_IN_REQUIRED = "sign_in_required"  # expired, revoked or MFA required: sign in again


@dataclass
class PartnerAccess:
    """A partner's delegated access: who signed in, when, and how it stands."""

    partner_tenant_id: str
    health: str = SignInHealth.NOT_SIGNED_IN
    user_id: str = ""
    user_name: str = ""
    signed_in_at: datetime | None = None
    last_used_at: datetime | None = None
    last_error_code: str = ""
    last_error: str = ""
    pending_state: str = ""  # the state of a sign-in started and not finished yet
    auto_consent: bool = False  # consent new customers after each discovery (opt-in)


@dataclass
class ConsentRecord:
    """One consent tenantsync made (or tried) in a customer's tenant."""

    partner_tenant_id: str
    tenant_id: str
    at: datetime
    outcome: str
    user_id: str = ""  # the signed-in partner user's object id
    permissions: list[str] = field(default_factory=list)
    delegated_scopes: list[str] = field(default_factory=list)
    message: str = ""
    writes: int = 0  # consent writes made (Partner Center, service principal, assignments)
    action: str = GRANTED  # granted (a consent) or revoked (a removal of what one made)
    run_id: str = ""  # the first sync a consent queued
    # What it wrote (granted) or removed (revoked) in the customer's tenant, so that a
    # removal touches only what tenantsync made: the app's service principal (and whether
    # tenantsync created it), each app role assignment by permission, and whether Partner
    # Center's applicationconsents wrote the partner app's delegated grant.
    principal_id: str = ""
    principal_created: bool = False
    assignments: dict[str, str] = field(default_factory=dict)  # permission -> assignment id
    partner_center: bool = False

    @property
    def key(self) -> str:
        """Its row key in the partner's partition: newest first (counts down from the far
        future), one per customer and moment."""
        inverted = 10**13 - int(self.at.timestamp() * 1000)
        return f"{inverted:013d}-{self.tenant_id}"


class PartnerAccessTable:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    def find(self, partner_tenant_id: str) -> PartnerAccess:
        e = self._store.get("partneraccess", ACCESS_PARTITION, partner_tenant_id)
        if e is None:
            return PartnerAccess(partner_tenant_id)
        return PartnerAccess(
            partner_tenant_id=e["RowKey"], health=e.get("Health", SignInHealth.NOT_SIGNED_IN),
            user_id=e.get("UserId", ""), user_name=e.get("UserName", ""),
            signed_in_at=parse_time(e.get("SignedInAt")),
            last_used_at=parse_time(e.get("LastUsedAt")),
            last_error_code=e.get("LastErrorCode", ""), last_error=e.get("LastError", ""),
            pending_state=e.get("PendingState", ""),
            auto_consent=bool(e.get("AutoConsent", False)))

    def save(self, access: PartnerAccess) -> None:
        self._store.upsert("partneraccess", {
            "PartitionKey": ACCESS_PARTITION, "RowKey": access.partner_tenant_id,
            "Health": access.health, "UserId": access.user_id, "UserName": access.user_name,
            "SignedInAt": iso(access.signed_in_at), "LastUsedAt": iso(access.last_used_at),
            "LastErrorCode": access.last_error_code, "LastError": access.last_error,
            "PendingState": access.pending_state, "AutoConsent": access.auto_consent})

    def delete(self, partner_tenant_id: str) -> None:
        self._store.delete("partneraccess", ACCESS_PARTITION, partner_tenant_id)


class ConsentAuditTable:
    """Rows by partner, newest first (the row key counts down from the far future)."""

    def __init__(self, store: TableStore) -> None:
        self._store = store

    def add(self, record: ConsentRecord) -> None:
        self._store.upsert("consentaudit", {
            "PartitionKey": record.partner_tenant_id,
            "RowKey": record.key, "TenantId": record.tenant_id,
            "At": iso(record.at), "Outcome": record.outcome, "UserId": record.user_id,
            "Permissions": json.dumps(record.permissions),
            "DelegatedScopes": json.dumps(record.delegated_scopes),
            "Message": record.message[:2000], "Writes": record.writes,
            "Action": record.action, "RunId": record.run_id,
            "PrincipalId": record.principal_id, "PrincipalCreated": record.principal_created,
            "Assignments": json.dumps(record.assignments),
            "PartnerCenter": record.partner_center})

    def get(self, partner_tenant_id: str, key: str) -> ConsentRecord | None:
        """One record by its :attr:`ConsentRecord.key`, or None."""
        e = self._store.get("consentaudit", partner_tenant_id, key)
        return _record(e) if e is not None else None

    def list(self, partner_tenant_id: str, tenant_id: str | None = None) -> list[ConsentRecord]:
        rows = self._store.query("consentaudit", "PartitionKey eq @pk",
                                 {"pk": partner_tenant_id})
        records = [_record(e) for e in rows]
        return [r for r in records if tenant_id is None or r.tenant_id == tenant_id]


def _record(e: dict[str, Any]) -> ConsentRecord:
    at = parse_time(e.get("At"))
    assert at is not None
    return ConsentRecord(
        partner_tenant_id=e["PartitionKey"], tenant_id=e.get("TenantId", ""), at=at,
        outcome=e.get("Outcome", ""), user_id=e.get("UserId", ""),
        permissions=json.loads(e.get("Permissions") or "[]"),
        delegated_scopes=json.loads(e.get("DelegatedScopes") or "[]"),
        message=e.get("Message", ""), writes=int(e.get("Writes", 0)),
        action=e.get("Action") or GRANTED, run_id=e.get("RunId", ""),
        principal_id=e.get("PrincipalId", ""),
        principal_created=bool(e.get("PrincipalCreated", False)),
        assignments=json.loads(e.get("Assignments") or "{}"),
        partner_center=bool(e.get("PartnerCenter", False)))
