"""What the API answers about a partner's GDAP access: whether the partner's side may
consent in each customer, and what is missing (also in the answer of saving a partner)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from functions.api.models.records import PartnerSaved, Problem


class CustomerAccessOut(BaseModel):
    tenantId: str
    name: str
    relationship: str = Field(description="active, another status, or none")
    roles: list[str] = Field(description="Roles its active GDAP relationships assign")
    mayConsent: bool = Field(description="Whether the partner's side may consent here")
    missing: str | None = Field(description="What is missing for that, and the fix")


class GdapAccess(BaseModel):
    partnerTenantId: str
    items: list[CustomerAccessOut]


class PartnerAdded(PartnerSaved):
    """A saved partner connection, its discovery and, for source ``gdap``, its GDAP access."""

    gdapAccess: list[CustomerAccessOut] | None = Field(
        default=None, description="Source gdap: what the relationships allow in each customer "
        "(as GET /partners/{partnerTenantId}/gdap-access): whether the partner's side may "
        "consent there and, if not, what is missing. Null for other sources, or when it "
        "could not be read (gdapAccessError)")
    gdapAccessError: Problem | None = Field(
        default=None, description="Why the GDAP access could not be read (the connection is "
        "saved; the partner app needs DelegatedAdminRelationship.Read.All)")
