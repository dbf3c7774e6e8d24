"""One error family for tenantsync.

Every error raised on purpose derives from :class:`TenantSyncError` and carries a stable
``code`` (what callers branch on and what telemetry reports) and an actionable message (what
a person reads). Messages never contain secrets: they are built from identifiers only.
"""

from __future__ import annotations


class TenantSyncError(Exception):
    """Root of every error tenantsync raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class InputError(TenantSyncError):
    """The caller gave something invalid (a malformed GUID, an unknown tenant...)."""

    code = "invalid_input"


class NotFoundError(InputError):
    """Something the caller named does not exist in our store."""

    code = "not_found"


class ConflictError(InputError):
    """The request clashes with the current state (a sync already queued, a tenant that exists).

    ``run_id`` names the run in the way, when there is one.
    """

    code = "conflict"

    def __init__(self, message: str, *, code: str | None = None, run_id: str | None = None):
        super().__init__(message, code=code)
        self.run_id = run_id


class ConfigurationError(TenantSyncError):
    """The deployment's settings are missing or inconsistent."""

    code = "configuration"


class StorageError(TenantSyncError):
    """Table or queue storage failed; usually worth retrying later."""

    code = "storage_unavailable"


class SecretStoreError(TenantSyncError):
    """Key Vault refused or failed an operation."""

    code = "key_vault_error"


class TenantError(TenantSyncError):
    """A failure inside one tenant: the run of that tenant fails, the others go on."""

    code = "tenant_error"


class AuthenticationError(TenantError):
    """The token endpoint refused the tenant's credentials."""

    code = "token_failed"

    def __init__(self, message: str, *, code: str | None = None, aadsts: int | None = None) -> None:
        super().__init__(message, code=code)
        self.aadsts = aadsts


class GraphError(TenantError):
    """Microsoft Graph answered with an error that retries did not clear.

    Keeps Graph's own error code, the HTTP status and the request id so that a support
    ticket can quote them.
    """

    code = "graph_error"

    def __init__(
        self,
        message: str,
        *,
        status: int,
        graph_code: str = "",
        request_id: str = "",
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.graph_code = graph_code
        self.request_id = request_id

    @property
    def run_code(self) -> str:
        """The code a run records: this error's own, or ``graph_<status>`` for a plain one."""
        return f"graph_{self.status}" if self.code == GraphError.code else self.code


class GraphThrottledError(GraphError):
    """Graph kept answering 429 past our retry budget."""

    code = "graph_throttled"


class IncompleteReadError(TenantError):
    """A listing could not be read completely; no deletion may be concluded from it."""

    code = "incomplete_read"
