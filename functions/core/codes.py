"""What each error code means outside the code: its HTTP status and the health it gives a
tenant. The one table; the API, the run ledger and the command line read it, and a test
checks that every :class:`ErrorCode` is in it.
"""

from __future__ import annotations

from dataclasses import dataclass

from functions.core.errors import ErrorCode as E
from functions.core.model import Health


@dataclass(frozen=True)
class Outcome:
    """``status``: the HTTP answer when an API request ends with this code. ``health``: the
    health of a tenant whose run ends with it (``None``: the code is never a run's, or the
    run has no bearing on the tenant's health, as a duplicate delivery)."""

    status: int
    health: Health | None


_BAD_REQUEST = Outcome(400, None)
_FAILING_422 = Outcome(422, Health.FAILING)
_BAD_CREDENTIAL = Outcome(400, Health.FAILING)

OUTCOMES: dict[E, Outcome] = {
    # the request or input itself is malformed
    E.ERROR: Outcome(500, Health.FAILING),
    E.INVALID_INPUT: _BAD_REQUEST, E.INVALID_REQUEST: _BAD_REQUEST, E.INVALID_JSON: _BAD_REQUEST,
    E.INVALID_GUID: _BAD_REQUEST, E.INVALID_SCOPE: _BAD_REQUEST, E.INVALID_RUN_ID: _BAD_REQUEST,
    E.INVALID_FILTER: _BAD_REQUEST, E.INVALID_TIME: _BAD_REQUEST, E.INVALID_DATE: _BAD_REQUEST,
    E.INVALID_PAGE_SIZE: _BAD_REQUEST, E.INVALID_CONTINUATION: _BAD_REQUEST,
    E.INVALID_KEY: _BAD_REQUEST, E.INVALID_SOURCE: _BAD_REQUEST, E.INVALID_JOB: _BAD_REQUEST,
    E.INVALID_SCHEDULE: _BAD_REQUEST,
    E.SECRET_REQUIRED: _BAD_REQUEST, E.CUSTOMERS_REQUIRED: _BAD_REQUEST,
    E.INVALID_CURSOR: _BAD_REQUEST, E.UNKNOWN_PARAMETER: _BAD_REQUEST,
    E.INVALID_PATH: _BAD_REQUEST, E.INVALID_URL: _BAD_REQUEST,
    E.DESTINATION_REFUSED: _BAD_REQUEST, E.INVALID_APP_ID: _BAD_REQUEST,
    E.INVALID_CREDENTIAL_TYPE: _BAD_REQUEST, E.INVALID_CONSENT_STATE: _BAD_REQUEST,
    # a certificate that is not a usable key and certificate: the admin's upload (400), or
    # what Key Vault holds when a run reads it (the tenant is failing)
    E.INVALID_CERTIFICATE: _BAD_CREDENTIAL, E.CERTIFICATE_REQUIRED: _BAD_CREDENTIAL,
    E.PRIVATE_KEY_REQUIRED: _BAD_CREDENTIAL, E.CERTIFICATE_KEY_MISMATCH: _BAD_CREDENTIAL,
    # what it names does not exist
    E.NOT_FOUND: Outcome(404, None), E.UNKNOWN_TENANT: Outcome(404, None),
    E.UNKNOWN_RUN: Outcome(404, None), E.UNKNOWN_PARTNER: Outcome(404, None),
    E.UNKNOWN_WEBHOOK: Outcome(404, None), E.UNKNOWN_DELIVERY: Outcome(404, None),
    E.UNKNOWN_CONSENT: Outcome(404, None), E.UNKNOWN_DEVICE: Outcome(404, None),
    E.UNKNOWN_APP: Outcome(404, None),
    E.CONSENT_LINK_EXPIRED: Outcome(410, None),  # gone: the portal makes a new link
    E.METHOD_NOT_ALLOWED: Outcome(405, None),
    # it clashes with the current state
    E.CONFLICT: Outcome(409, None), E.TENANT_EXISTS: Outcome(409, None),
    E.PARTNER_EXISTS: Outcome(409, None), E.SYNC_RUNNING: Outcome(409, None),
    E.NOT_CONFIGURED: Outcome(409, Health.FAILING),
    E.TENANT_EXCLUDED: Outcome(409, None), E.TENANT_INACTIVE: Outcome(409, None),
    E.TENANT_UNSUPPORTED: Outcome(409, None),
    E.BODY_TOO_LARGE: Outcome(413, None),
    E.NOTHING_HELD: Outcome(404, None),
    E.REQUEST_TIMEOUT: Outcome(408, None),
    E.CONSENT_LINK_USED: Outcome(409, None), E.CONSENT_TENANT_MISMATCH: Outcome(409, None),
    E.GROUP_REQUIRED: Outcome(409, Health.AWAITING_GROUP),
    # Entra refused the credentials or the app: what the admin typed is wrong
    E.INVALID_SECRET: _FAILING_422, E.SECRET_MISSING: _FAILING_422,
    E.SECRET_EXPIRED: Outcome(422, Health.SECRET_EXPIRED),
    E.APP_NOT_FOUND: Outcome(422, Health.CONSENT_MISSING),
    E.CONSENT_MISSING: Outcome(422, Health.CONSENT_MISSING),
    E.TENANT_NOT_FOUND: _FAILING_422, E.APP_DISABLED: _FAILING_422,
    E.RESOURCE_NOT_FOUND: _FAILING_422, E.TOKEN_FAILED: _FAILING_422,
    E.CERTIFICATE_NOT_REGISTERED: _FAILING_422,
    E.CERTIFICATE_EXPIRED: Outcome(422, Health.SECRET_EXPIRED),
    E.INVALID_ASSERTION: _FAILING_422, E.FEDERATION_MISMATCH: _FAILING_422,
    E.FEDERATION_WRONG_TENANT: _FAILING_422,
    E.FEDERATION_PENDING: Outcome(503, Health.FAILING),  # a new credential propagating
    E.MANAGED_IDENTITY_UNAVAILABLE: Outcome(500, Health.FAILING),  # the deployment's setup
    E.CONSENT_DENIED: Outcome(422, Health.CONSENT_MISSING),
    E.CONSENT_FAILED: Outcome(422, Health.CONSENT_MISSING),
    # Graph refused what the sync needs
    E.PERMISSION_MISSING: Outcome(422, Health.PERMISSION_MISSING),
    E.GROUP_NOT_FOUND: _FAILING_422,
    E.INTUNE_NOT_LICENSED: Outcome(422, Health.INTUNE_NOT_LICENSED),
    # change notifications: their own health (functions/notifications), not the tenant's
    E.NOTIFICATIONS_PERMISSION_MISSING: Outcome(422, None),
    E.NOTIFICATIONS_QUOTA: Outcome(409, None), E.NOTIFICATION_REFUSED: Outcome(403, None),
    # standing reasons not to query a tenant (skipped runs)
    E.EXCLUDED: Outcome(409, Health.EXCLUDED), E.INACTIVE: Outcome(409, Health.INACTIVE),
    E.UNSUPPORTED: Outcome(409, Health.UNSUPPORTED),
    # held back until released: a state of its own, neither healthy nor failing
    E.DELETION_GUARD: Outcome(409, Health.DELETION_HELD),
    # a read that could not be completed
    E.TENANT_ERROR: Outcome(502, Health.FAILING), E.INCOMPLETE_READ: Outcome(502, Health.FAILING),
    E.GROUP_VANISHED: Outcome(502, Health.FAILING), E.GRAPH_ERROR: Outcome(502, Health.FAILING),
    E.GRAPH_UNREACHABLE: Outcome(502, Health.FAILING),
    E.GRAPH_BAD_NEXT_LINK: Outcome(502, Health.FAILING),
    E.GRAPH_PAGING_LOOP: Outcome(502, Health.FAILING),
    E.GRAPH_THROTTLED: Outcome(503, Health.FAILING),
    # a read cut part-way with its progress saved: not a failure (see PROGRESSING)
    E.INVENTORY_IN_PROGRESS: Outcome(409, Health.IN_PROGRESS),
    # another run took the tenant's read over: this one stops and writes nothing more
    E.CHECKPOINT_TAKEN: Outcome(409, None),
    # a dependency failed: try again later
    E.AUTHORITY_UNREACHABLE: Outcome(502, Health.FAILING),
    E.AUTHORITY_THROTTLED: Outcome(503, Health.FAILING),
    E.KEY_VAULT_ERROR: Outcome(503, Health.FAILING),
    E.STORAGE_UNAVAILABLE: Outcome(503, Health.FAILING),
    # the run's own life
    E.ENQUEUE_FAILED: Outcome(503, None),
    E.RUN_ABANDONED: Outcome(500, Health.FAILING),
    E.RUN_NOT_STARTED: Outcome(503, None),
    E.DUPLICATE_DELIVERY: Outcome(409, None),
    E.JOB_POISONED: Outcome(500, Health.FAILING),
    # ours
    E.CONFIGURATION: Outcome(500, Health.FAILING),
    E.INTERNAL_ERROR: Outcome(500, Health.FAILING),
    # consent from the partner's side: the partner's sign-in, not a tenant's health
    E.PARTNER_NOT_SIGNED_IN: Outcome(409, None), E.PARTNER_SIGN_IN_EXPIRED: Outcome(409, None),
    E.PARTNER_MFA_REQUIRED: Outcome(409, None), E.PARTNER_SIGN_IN_FAILED: Outcome(400, None),
    E.PARTNER_APP_NOT_CONSENTED: Outcome(422, None), E.PARTNER_NO_ACCESS: Outcome(422, None),
    # removing what tenantsync consented failed: the tenant is kept until it is repeated
    E.CONSENT_REMOVAL_FAILED: Outcome(409, None),
    # consented, and Entra has not propagated it yet: retried on a back-off, not a failure
    E.CONSENT_PENDING: Outcome(503, Health.AWAITING_CONSENT),
}

# Healths that say why a tenant is not queried at all: not failures, never quarantined.
STANDING = frozenset({Health.EXCLUDED, Health.INACTIVE, Health.UNSUPPORTED,
                      Health.AWAITING_GROUP, Health.AWAITING_CONSENT})

# Healths of a run that waits for a person (a held sync): not a failure either.
WAITING = frozenset({Health.DELETION_HELD})
# Healths of a read that is going well but is not done yet: not failures either.
PROGRESSING = frozenset({Health.IN_PROGRESS})


def outcome(code: str) -> Outcome:
    """The outcome of a code (a code outside the enum counts as an internal error)."""
    try:
        return OUTCOMES[E(code)]
    except ValueError:
        return OUTCOMES[E.INTERNAL_ERROR]


def exit_code(code: str) -> int:
    """The command line's exit code for an error: 2 when the caller's input or the
    deployment's configuration must change, 1 when the work failed."""
    return 2 if outcome(code).status < 500 or code == E.CONFIGURATION else 1
