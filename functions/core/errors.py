"""One error family for tenantsync.

Every error raised on purpose derives from :class:`TenantSyncError` and carries a stable
``code`` (what callers branch on and what telemetry reports) and an actionable message (what
a person reads). Messages never contain secrets: they are built from identifiers only.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Every error code tenantsync uses: in exceptions, run records, API bodies, telemetry.

    ``functions.core.codes.OUTCOMES`` maps each to its HTTP status and tenant health; a test
    checks that every member is mapped.
    """

    # the request or input itself is malformed
    ERROR = "error"
    INVALID_INPUT = "invalid_input"
    INVALID_REQUEST = "invalid_request"
    INVALID_JSON = "invalid_json"
    INVALID_GUID = "invalid_guid"
    INVALID_SCOPE = "invalid_scope"
    INVALID_RUN_ID = "invalid_run_id"
    INVALID_FILTER = "invalid_filter"
    INVALID_TIME = "invalid_time"
    INVALID_DATE = "invalid_date"
    INVALID_PAGE_SIZE = "invalid_page_size"
    INVALID_CONTINUATION = "invalid_continuation"
    INVALID_KEY = "invalid_key"
    INVALID_SOURCE = "invalid_source"
    INVALID_JOB = "invalid_job"
    INVALID_SCHEDULE = "invalid_schedule"
    SECRET_REQUIRED = "secret_required"  # noqa: S105 - a code, not a secret
    CUSTOMERS_REQUIRED = "customers_required"
    INVALID_CURSOR = "invalid_cursor"
    UNKNOWN_PARAMETER = "unknown_parameter"
    INVALID_PATH = "invalid_path"
    INVALID_URL = "invalid_url"
    DESTINATION_REFUSED = "destination_refused"
    INVALID_CREDENTIAL_TYPE = "invalid_credential_type"
    INVALID_CERTIFICATE = "invalid_certificate"
    CERTIFICATE_REQUIRED = "certificate_required"
    PRIVATE_KEY_REQUIRED = "private_key_required"
    CERTIFICATE_KEY_MISMATCH = "certificate_key_mismatch"
    INVALID_CONSENT_STATE = "invalid_consent_state"
    INVALID_APP_ID = "invalid_app_id"
    # what it names does not exist
    NOT_FOUND = "not_found"
    UNKNOWN_TENANT = "unknown_tenant"
    UNKNOWN_RUN = "unknown_run"
    UNKNOWN_PARTNER = "unknown_partner"
    UNKNOWN_WEBHOOK = "unknown_webhook"
    UNKNOWN_DELIVERY = "unknown_delivery"
    UNKNOWN_CONSENT = "unknown_consent"
    CONSENT_LINK_EXPIRED = "consent_link_expired"
    UNKNOWN_DEVICE = "unknown_device"
    UNKNOWN_APP = "unknown_app"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    # it clashes with the current state
    CONFLICT = "conflict"
    TENANT_EXISTS = "tenant_exists"
    PARTNER_EXISTS = "partner_exists"
    SYNC_RUNNING = "sync_running"
    NOT_CONFIGURED = "not_configured"
    TENANT_EXCLUDED = "tenant_excluded"
    TENANT_INACTIVE = "tenant_inactive"
    TENANT_UNSUPPORTED = "tenant_unsupported"
    BODY_TOO_LARGE = "body_too_large"
    NOTHING_HELD = "nothing_held"
    REQUEST_TIMEOUT = "request_timeout"
    CONSENT_LINK_USED = "consent_link_used"
    CONSENT_TENANT_MISMATCH = "consent_tenant_mismatch"
    GROUP_REQUIRED = "group_required"
    # Entra refused the credentials or the app (the message names the fix)
    INVALID_SECRET = "invalid_secret"  # noqa: S105
    SECRET_EXPIRED = "secret_expired"  # noqa: S105
    SECRET_MISSING = "secret_missing"  # noqa: S105
    APP_NOT_FOUND = "app_not_found"
    TENANT_NOT_FOUND = "tenant_not_found"
    APP_DISABLED = "app_disabled"
    CONSENT_MISSING = "consent_missing"
    RESOURCE_NOT_FOUND = "resource_not_found"
    TOKEN_FAILED = "token_failed"  # noqa: S105
    CERTIFICATE_NOT_REGISTERED = "certificate_not_registered"
    CERTIFICATE_EXPIRED = "certificate_expired"
    INVALID_ASSERTION = "invalid_assertion"
    FEDERATION_MISMATCH = "federation_mismatch"
    FEDERATION_WRONG_TENANT = "federation_wrong_tenant"
    FEDERATION_PENDING = "federation_pending"
    MANAGED_IDENTITY_UNAVAILABLE = "managed_identity_unavailable"
    CONSENT_DENIED = "consent_denied"
    CONSENT_FAILED = "consent_failed"
    # Graph refused what the sync needs
    PERMISSION_MISSING = "permission_missing"
    # Graph would not make a change-notification subscription (the timer's syncs go on)
    NOTIFICATIONS_PERMISSION_MISSING = "notifications_permission_missing"
    NOTIFICATIONS_QUOTA = "notifications_quota_reached"
    NOTIFICATION_REFUSED = "notification_refused"  # a notification that is not ours
    GROUP_NOT_FOUND = "group_not_found"
    INTUNE_NOT_LICENSED = "intune_not_licensed"
    # a tenant the sync must not query (the run is skipped)
    EXCLUDED = "excluded"
    INACTIVE = "inactive"
    UNSUPPORTED = "unsupported"
    DELETION_GUARD = "deletion_guard"
    # a read that could not be completed (the run is partial or failed)
    TENANT_ERROR = "tenant_error"
    INCOMPLETE_READ = "incomplete_read"
    GROUP_VANISHED = "group_vanished"
    GRAPH_ERROR = "graph_error"
    GRAPH_THROTTLED = "graph_throttled"
    GRAPH_UNREACHABLE = "graph_unreachable"
    GRAPH_BAD_NEXT_LINK = "graph_bad_next_link"  # a link to a host the token may not go to
    GRAPH_PAGING_LOOP = "graph_paging_loop"  # a next link seen before in the same walk
    # a read too large for one run: its progress is saved and the next run resumes it
    INVENTORY_IN_PROGRESS = "inventory_in_progress"
    CHECKPOINT_TAKEN = "checkpoint_taken"
    # a dependency failed: try again later
    AUTHORITY_UNREACHABLE = "authority_unreachable"
    AUTHORITY_THROTTLED = "authority_throttled"
    KEY_VAULT_ERROR = "key_vault_error"
    STORAGE_UNAVAILABLE = "storage_unavailable"
    # the run's own life
    ENQUEUE_FAILED = "enqueue_failed"
    RUN_ABANDONED = "run_abandoned"
    RUN_NOT_STARTED = "run_not_started"
    DUPLICATE_DELIVERY = "duplicate_delivery"
    JOB_POISONED = "job_poisoned"  # its message failed every delivery the host allows
    # ours
    CONFIGURATION = "configuration"
    INTERNAL_ERROR = "internal_error"
    # consent from the partner's side (a partner user's delegated sign-in)
    PARTNER_NOT_SIGNED_IN = "partner_not_signed_in"
    PARTNER_SIGN_IN_EXPIRED = "partner_sign_in_expired"
    PARTNER_MFA_REQUIRED = "partner_mfa_required"
    PARTNER_SIGN_IN_FAILED = "partner_sign_in_failed"
    PARTNER_APP_NOT_CONSENTED = "partner_app_not_consented"
    PARTNER_NO_ACCESS = "partner_no_access"
    CONSENT_PENDING = "consent_pending"  # consented; Entra is still propagating it
    CONSENT_REMOVAL_FAILED = "consent_removal_failed"  # the tenant was kept: fix, repeat


class TenantSyncError(Exception):
    """Root of every error tenantsync raises on purpose.

    ``code`` is always an :class:`ErrorCode`: an unknown code fails where it is raised.
    """

    code = ErrorCode.ERROR

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = ErrorCode(code)

    def __str__(self) -> str:
        return self.message


class InputError(TenantSyncError):
    """The caller gave something invalid (a malformed GUID, an unknown tenant...)."""

    code = ErrorCode.INVALID_INPUT


class NotFoundError(InputError):
    """Something the caller named does not exist in our store."""

    code = ErrorCode.NOT_FOUND


class ConflictError(InputError):
    """The request clashes with the current state (a sync already queued, a tenant that exists).

    ``run_id`` names the run in the way, when there is one.
    """

    code = ErrorCode.CONFLICT

    def __init__(self, message: str, *, code: str | None = None, run_id: str | None = None):
        super().__init__(message, code=code)
        self.run_id = run_id


class ConfigurationError(TenantSyncError):
    """The deployment's settings are missing or inconsistent."""

    code = ErrorCode.CONFIGURATION


class StorageError(TenantSyncError):
    """Table or queue storage failed; usually worth retrying later."""

    code = ErrorCode.STORAGE_UNAVAILABLE


class SecretStoreError(TenantSyncError):
    """Key Vault refused or failed an operation."""

    code = ErrorCode.KEY_VAULT_ERROR


class TenantError(TenantSyncError):
    """A failure inside one tenant: the run of that tenant fails, the others go on."""

    code = ErrorCode.TENANT_ERROR


class AuthenticationError(TenantError):
    """The token endpoint refused the tenant's credentials."""

    code = ErrorCode.TOKEN_FAILED

    def __init__(self, message: str, *, code: str | None = None, aadsts: int | None = None) -> None:
        super().__init__(message, code=code)
        self.aadsts = aadsts


class GraphError(TenantError):
    """Microsoft Graph answered with an error that retries did not clear.

    Keeps Graph's own error code, the HTTP status and the request id so that a support
    ticket can quote them.
    """

    code = ErrorCode.GRAPH_ERROR

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


class GraphThrottledError(GraphError):
    """Graph kept answering 429 past our retry budget."""

    code = ErrorCode.GRAPH_THROTTLED


class IncompleteReadError(TenantError):
    """A listing could not be read completely; no deletion may be concluded from it."""

    code = ErrorCode.INCOMPLETE_READ
