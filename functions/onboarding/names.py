"""Key Vault names of the secrets onboarding saves."""

from __future__ import annotations


def directory_secret_name(tenant_id: str) -> str:
    """The Key Vault name of a tenant's directory-app secret."""
    return f"tenant-{tenant_id}-directory"
