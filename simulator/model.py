"""The simulated world: applications, tenants and their directory objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Kinds of directory objects, as named in the fixture and the control API.
KINDS = ("users", "groups", "devices", "contacts")

DEFAULT_TOKEN_LIFETIME = 3599


@dataclass
class AppSecret:
    """One client secret (password credential) of an application."""

    id: str
    value: str = field(repr=False)
    expires: datetime | None


@dataclass
class Application:
    """An app registration: its client id, home tenant and secrets."""

    client_id: str
    home_tenant: str
    display_name: str
    secrets: list[AppSecret]


@dataclass
class DirectoryObject:
    """A user, group, device or contact; `props` holds its Graph properties (with `id`)."""

    kind: str
    props: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.props["id"])


@dataclass
class Tenant:
    """A directory: its objects, group memberships and service principals (with roles)."""

    id: str
    display_name: str
    roles: dict[str, list[str]]  # client id -> application roles granted (admin consent)
    objects: dict[str, DirectoryObject]
    members: dict[str, list[str]]  # group id -> direct member ids, in insertion order


@dataclass
class VaultSeed:
    """A secret the vault holds at start-up."""

    value: str = field(repr=False)
    content_type: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class World:
    """Everything a fixture describes, validated and with ids in lower case."""

    applications: dict[str, Application]
    tenants: dict[str, Tenant]
    vault_principals: list[str]
    vault_secrets: dict[str, VaultSeed]
    token_lifetime: int = DEFAULT_TOKEN_LIFETIME
