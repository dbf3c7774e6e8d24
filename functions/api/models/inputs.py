"""Request bodies. Inputs forbid unknown fields; the client secret is write-only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from functions.api.models.fields import (
    MAX_TENANT_IDS,
    CredentialTypeName,
    Guid,
    Kind,
    Scope,
    Source,
    Timestamp,
)
from functions.core.config import DEFAULT_GRAPH_SCOPE


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


_CREDENTIAL_TYPE_DOC = (
    "How the app signs in: `secret` (clientSecret), `certificate` (certificate: its private "
    "key and certificate in one PEM, kept in Key Vault) or `federated` (the function app's "
    "managed identity as a federated credential of the app: nothing to send, nothing "
    "expires)")
_CERTIFICATE_DOC = (
    "PEM text holding the unencrypted RSA private key (-----BEGIN PRIVATE KEY-----) and its "
    "certificate (-----BEGIN CERTIFICATE-----), for credentialType `certificate`. Write-only: "
    "kept in Key Vault, never returned; its expiry is read from the certificate.")
MAX_CERTIFICATE = 32 * 1024


def _not_null(value: Any) -> Any:
    # Left out means "none"; an explicit null is a mistake worth naming.
    if value is None:
        raise PydanticCustomError("null_field", "null is not a value here: leave it out")
    return value


class TenantCreate(Input):
    """A tenant's directory connection, tested (a token, every permission the sync needs,
    then the group) before it is saved."""

    tenantId: Guid = Field(description="Directory (tenant) ID")
    clientId: Guid = Field(description="Application (client) ID of the tenant's app")
    credentialType: CredentialTypeName = Field(default="secret",
                                               description=_CREDENTIAL_TYPE_DOC)
    clientSecret: SecretStr | None = Field(
        default=None, min_length=1, max_length=1024,
        description="The client secret's **Value** (not its ID), for credentialType `secret`. "
                    "Write-only: kept in Key Vault, never returned.",
    )
    certificate: SecretStr | None = Field(default=None, min_length=1,
                                          max_length=MAX_CERTIFICATE,
                                          description=_CERTIFICATE_DOC)
    _no_null_credentials = field_validator("clientSecret", "certificate",
                                           mode="before")(_not_null)
    groupId: Guid = Field(description="Object ID of the level-0 security group")
    scope: Scope = Field(default=DEFAULT_GRAPH_SCOPE, description="OAuth scope for Graph")
    secretExpiresOn: Timestamp | None = Field(
        default=None, description="When the secret expires, for expiry warnings (UTC if no zone)"
    )


def _update_schema(dependent: dict[str, list[str]]) -> Callable[[dict[str, Any]], None]:
    """The JSON schema of an update: ``dependent`` maps an expiry to the secret it needs."""

    def apply(schema: dict[str, Any]) -> None:
        # Absent means "unchanged"; null is refused (see _no_nulls), so the document says so.
        for prop in schema.get("properties", {}).values():
            kinds = [k for k in prop.pop("anyOf", []) if k != {"type": "null"}]
            if len(kinds) == 1:
                prop.update(kinds[0])
            prop.pop("default", None)
        schema["minProperties"] = 1
        schema["dependentRequired"] = dependent

    return apply


class UpdateInput(Input):
    """Fields to change: a field left out stays as it is, and null is refused."""

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(v is None for v in data.values()):
            raise PydanticCustomError(
                "null_field", "null is not a value here: leave a field out to keep it"
            )
        return data


class TenantUpdate(UpdateInput):
    """Fields to change; a field left out stays as it is.

    A change to the connection is tested first, with the new secret or else the saved one.
    """

    model_config = ConfigDict(
        extra="forbid", json_schema_extra=_update_schema({"secretExpiresOn": ["clientSecret"]})
    )

    clientId: Guid | None = None
    groupId: Guid | None = None
    scope: Scope | None = None
    clientSecret: SecretStr | None = Field(
        default=None, min_length=1, max_length=1024,
        description="A new client secret's Value: saved as a new Key Vault version, used "
                    "from the next token request. Write-only.",
    )
    credentialType: CredentialTypeName | None = Field(
        default=None, description="Switch how the app signs in (with clientSecret or "
                                  "certificate as that type needs)")
    certificate: SecretStr | None = Field(
        default=None, min_length=1, max_length=MAX_CERTIFICATE,
        description="A new certificate (PEM: private key and certificate): a new Key Vault "
                    "version, used from the next token request. Write-only.")
    secretExpiresOn: Timestamp | None = Field(
        default=None, description="Expiry of the new clientSecret (only together with it)"
    )
    enabled: StrictBool | None = Field(
        default=None, description="false leaves the tenant out of scheduled syncs"
    )


_PARTNER_APP_KEY_DOC = ("The partner app's client secret **Value** (the app that lists "
                           "customers). Write-only: kept in Key Vault, never returned.")


_INVENTORY_APP_KEY_DOC = ("The inventory app's client secret **Value** (the multitenant "
                             "app that reads Intune). Write-only: kept in Key Vault, never "
                             "returned.")


_CUSTOMERS = "Customer tenant IDs, for source `list` only"


_EXCLUDED = "Customer tenant IDs never to query (kept as excluded)"


def _customers_only_for_list(source: str | None, customers: list[str] | None) -> None:
    if customers and source is not None and source != "list":
        raise PydanticCustomError(
            "customers_not_for_source",
            "customers is only for source 'list'; gdap and partner-center find them",
        )


class PartnerCreate(Input):
    """A partner connection: its two apps (tested before anything is saved) and where its
    customer tenants come from."""

    partnerTenantId: Guid = Field(description="The partner's own tenant ID")
    partnerClientId: Guid = Field(description="Client ID of the app that lists customers")
    partnerCredentialType: CredentialTypeName = Field(default="secret",
                                                      description=_CREDENTIAL_TYPE_DOC)
    partnerClientSecret: SecretStr | None = Field(default=None, min_length=1, max_length=1024,
                                                  description=_PARTNER_APP_KEY_DOC)
    partnerCertificate: SecretStr | None = Field(default=None, min_length=1,
                                                 max_length=MAX_CERTIFICATE,
                                                 description=_CERTIFICATE_DOC)
    inventoryClientId: Guid = Field(
        description="Client ID of the multitenant app that reads customers' Intune data")
    inventoryCredentialType: CredentialTypeName = Field(default="secret",
                                                        description=_CREDENTIAL_TYPE_DOC)
    inventoryClientSecret: SecretStr | None = Field(default=None, min_length=1,
                                                    max_length=1024,
                                                    description=_INVENTORY_APP_KEY_DOC)
    inventoryCertificate: SecretStr | None = Field(default=None, min_length=1,
                                                   max_length=MAX_CERTIFICATE,
                                                   description=_CERTIFICATE_DOC)
    _no_null_credentials = field_validator(
        "partnerClientSecret", "partnerCertificate", "inventoryClientSecret",
        "inventoryCertificate", mode="before")(_not_null)
    source: Source = Field(description="Where customers come from: GDAP relationships, "
                                       "Partner Center, or the `customers` list")
    customers: list[Guid] = Field(default_factory=list, max_length=MAX_TENANT_IDS,
                                  description=_CUSTOMERS)
    includePartnerTenant: StrictBool = Field(
        default=False, description="Sync the partner's own tenant's devices too")
    excluded: list[Guid] = Field(default_factory=list, max_length=MAX_TENANT_IDS,
                                 description=_EXCLUDED)
    partnerSecretExpiresOn: Timestamp | None = Field(
        default=None, description="When the partner app's secret expires (UTC if no zone)")
    inventorySecretExpiresOn: Timestamp | None = Field(
        default=None, description="When the inventory app's secret expires (UTC if no zone)")

    @model_validator(mode="after")
    def _customers_for_list(self) -> PartnerCreate:
        _customers_only_for_list(self.source, self.customers)
        return self


class PartnerUpdate(UpdateInput):
    """Fields to change; a field left out stays as it is. Both apps are tested again (with
    the new secrets or else the saved ones) before anything changes."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_update_schema({
        "partnerSecretExpiresOn": ["partnerClientSecret"],
        "inventorySecretExpiresOn": ["inventoryClientSecret"],
    }))

    partnerClientId: Guid | None = None
    partnerCredentialType: CredentialTypeName | None = Field(
        default=None, description="Switch how the partner app signs in")
    partnerCertificate: SecretStr | None = Field(
        default=None, min_length=1, max_length=MAX_CERTIFICATE,
        description="A new certificate of the partner app (PEM). Write-only.")
    inventoryCredentialType: CredentialTypeName | None = Field(
        default=None, description="Switch how the inventory app signs in")
    inventoryCertificate: SecretStr | None = Field(
        default=None, min_length=1, max_length=MAX_CERTIFICATE,
        description="A new certificate of the inventory app (PEM). Write-only.")
    partnerClientSecret: SecretStr | None = Field(
        default=None, min_length=1, max_length=1024,
        description="A new secret Value of the partner app: a new Key Vault version. "
                    "Write-only.")
    partnerSecretExpiresOn: Timestamp | None = Field(
        default=None, description="Expiry of the new partnerClientSecret (only with it)")
    inventoryClientId: Guid | None = None
    inventoryClientSecret: SecretStr | None = Field(
        default=None, min_length=1, max_length=1024,
        description="A new secret Value of the inventory app: a new Key Vault version, used "
                    "from the next token request. Write-only.")
    inventorySecretExpiresOn: Timestamp | None = Field(
        default=None, description="Expiry of the new inventoryClientSecret (only with it)")
    source: Source | None = None
    customers: list[Guid] | None = Field(default=None, max_length=MAX_TENANT_IDS,
                                         description=_CUSTOMERS + " (replaces the list)")
    includePartnerTenant: StrictBool | None = None
    excluded: list[Guid] | None = Field(default=None, max_length=MAX_TENANT_IDS,
                                        description=_EXCLUDED + " (replaces the list)")

    @model_validator(mode="after")
    def _customers_for_list(self) -> PartnerUpdate:
        _customers_only_for_list(self.source, self.customers)
        return self


class DirectorySyncRequest(Input):
    """Options of a directory sync started over HTTP (the body may be left out)."""

    allowMassDeletion: StrictBool = Field(
        default=False,
        description="Release the sync the deletion guard held back: apply exactly its "
                    "previewed changes (GET .../directory/held)")
    full: StrictBool = Field(
        default=False,
        description="Read the whole tree from Graph (every listing, not only the changes "
                    "since the last sync) and compare with every stored row (the CLI's "
                    "--full)")
class ConsentCreate(Input):
    """An admin-consent link: what it connects, for which tenant, with which group."""

    kind: Kind = Field(description="`directory` (group members) or `devices` (Intune devices "
                                   "and software)")
    tenantId: Guid | None = Field(
        default=None, description="The tenant whose admin may consent; left out: whichever "
                                  "tenant's admin opens the link")
    groupId: Guid | None = Field(
        default=None, description="directory: the level-0 group's object ID; left out: "
                                  "chosen by name after consent")
    partnerTenantId: Guid | None = Field(
        default=None, description="devices: a partner connection whose inventory app the "
                                  "customer consents to (else the deployment's inventory app)")
