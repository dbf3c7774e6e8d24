"""What the API answers about onboarding: consent links, what became of them, a partner's
customers awaiting consent, and the groups a tenant's level-0 group is chosen from."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from functions.api.models.records import Page
from functions.core.model import Health, SyncKind


class ConsentLinkOut(BaseModel):
    """A new admin-consent link: give `url` to the tenant's administrator."""

    consentId: str
    kind: SyncKind
    url: str = Field(description="The admin-consent page (Microsoft Entra); it returns to "
                                 "this service's callback, which connects the tenant")
    expiresAt: datetime
    tenantId: str | None
    groupId: str | None
    partnerTenantId: str | None


class ConsentOut(BaseModel):
    """What became of a consent link."""

    consentId: str
    kind: SyncKind
    clientId: str = Field(description="The app the administrator consents to")
    status: Literal["pending", "used", "expired"]
    createdAt: datetime
    expiresAt: datetime
    tenantId: str | None = Field(description="The tenant the link is for (null: any)")
    groupId: str | None
    partnerTenantId: str | None
    usedAt: datetime | None
    consentedTenantId: str | None = Field(description="The tenant whose admin consented")
    runId: str | None = Field(description="Its first sync (null while awaiting a group)")


class CustomerConsent(BaseModel):
    tenantId: str
    name: str
    health: Health = Field(description="The customer's device sync health")
    url: str | None = Field(description="A new admin-consent link, when its health says an "
                                        "admin must consent (consent_missing, "
                                        "permission_missing)")
    expiresAt: datetime | None


class PartnerConsentLinks(BaseModel):
    """A partner's customers, with a consent link for each that needs one."""

    partnerTenantId: str
    progress: dict[str, int] = Field(description="Customers by device health")
    items: list[CustomerConsent]


class GroupChoice(BaseModel):
    id: str = Field(description="The group's object ID (give it as groupId)")
    displayName: str
    description: str | None


class GroupChoicePage(Page):
    items: list[GroupChoice]
