"""Settings, read once from the environment (app settings in Azure, local.settings.json locally).

Every Microsoft endpoint is a setting, so that sovereign clouds and the local simulator are
only configuration. See docs/configuration.md for the full list.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from functions.core.errors import ConfigurationError
from functions.core.model import CREDENTIAL_TYPES, Credential, CredentialType
from functions.core.sensitive import SecretValue
from functions.core.validation import is_guid

PUBLIC_AUTHORITY_HOST = "https://login.microsoftonline.com"
PUBLIC_GRAPH_URL = "https://graph.microsoft.com/v1.0"
DEFAULT_GRAPH_SCOPE = "https://graph.microsoft.com/.default"


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


FEDERATED = Credential(CredentialType.FEDERATED)


@dataclass(frozen=True)
class DeploymentApp:
    """One of the deployment's own app registrations (directory, inventory, partner): its
    client ID (``None``: not configured) and how it signs in."""

    client_id: str | None = None
    credential: Credential = FEDERATED


NO_APP = DeploymentApp()


def _deployment_app(get: Callable[[str], str | None], app: str) -> DeploymentApp:
    prefix = f"TENANTSYNC_{app}_APP"
    client_id = get(f"{prefix}_ID")
    if client_id is not None and not is_guid(client_id):
        raise ConfigurationError(f"{prefix}_ID must be the app's Application (client) ID, a "
                                 "GUID")
    kind_of = get(f"{prefix}_CREDENTIAL") or CredentialType.FEDERATED.value
    if kind_of not in CREDENTIAL_TYPES:
        raise ConfigurationError(f"{prefix}_CREDENTIAL must be one of "
                                 f"{', '.join(CREDENTIAL_TYPES)}")
    name = get(f"{prefix}_KEY_VAULT_NAME") or ""
    if kind_of != CredentialType.FEDERATED and not name:
        raise ConfigurationError(f"{prefix}_CREDENTIAL={kind_of} needs {prefix}_KEY_VAULT_NAME: "
                                 f"the Key Vault secret that holds the app's {kind_of}")
    return DeploymentApp(client_id.lower() if client_id else None,
                         Credential(CredentialType(kind_of), name))


@dataclass(frozen=True)
class Settings:
    """What a tenantsync process needs to know about its environment."""

    storage_connection: str | None = None
    table_endpoint: str | None = None
    queue_endpoint: str | None = None
    table_prefix: str = "ts"
    key_vault_url: str | None = None
    vault_auth: str = "managed-identity"
    vault_verify_challenge: bool = True
    # For TENANTSYNC_VAULT_AUTH=client-secret: a service principal (AZURE_TENANT_ID,
    # AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, as azure-identity names them).
    vault_tenant_id: str | None = None
    vault_client_id: str | None = None
    vault_client_secret: SecretValue | None = None
    managed_identity_client_id: str | None = None
    authority_host: str = PUBLIC_AUTHORITY_HOST
    instance_discovery: bool = True
    graph_url: str = PUBLIC_GRAPH_URL
    ca_bundle: str | None = None
    directory_queue: str = "tenantsync-directory"
    graph_max_retries: int = 6
    graph_max_retry_wait: float = 60.0
    graph_timeout: float = 60.0
    deletion_guard_ratio: float = 0.5
    deletion_guard_min: int = 10
    secret_warning_days: int = 30
    quarantine_after: int = 5
    quarantine_backoff_minutes: int = 360
    devices_queue: str = "tenantsync-devices"
    partner_center_url: str = "https://api.partnercenter.microsoft.com"
    device_concurrency: int = 16
    graph_concurrency: int = 8
    # Graph's identity and access budget per app across all tenants and instances (requests
    # per window; 0: not paced here, each instance only backs off on 429s).
    graph_app_budget: int = 0
    graph_app_window_seconds: float = 20.0
    worker_processes: int = 1
    secret_cache_seconds: float = 3600.0
    # A running run renews its lease this often (a quarter of it); a run whose lease ran out
    # is taken as dead. A queued run that no worker started within its timeout is too.
    run_lease_seconds: float = 120.0
    queued_run_timeout_seconds: float = 900.0
    # An unchanged read skips the comparison with the tables only within this many hours
    # of the last full comparison (so storage that lost writes converges).
    full_compare_hours: float = 6.0
    # Directory syncs read only the changes (delta) between full reads; a full read runs at
    # least this often as reconciliation (at most a week: delta tokens live 7 days).
    directory_reconcile_hours: float = 24.0
    # Webhooks: the deliveries' queue, retries (base x 2^attempt seconds), when a failing
    # subscription is disabled, whether private destinations are allowed (the local demo).
    webhook_queue: str = "tenantsync-webhooks"
    webhook_allow_private: bool = False
    webhook_retry_base_seconds: float = 5.0
    webhook_max_attempts: int = 8
    webhook_disable_after: int = 15
    webhook_timeout_seconds: float = 10.0
    webhook_ca_bundle: str | None = None
    # The deployment's own multitenant apps (admin-consent onboarding) and where the API is
    # reached from the internet (the consent redirect URI is {public_url}/api/consent/callback).
    directory_app: DeploymentApp = NO_APP
    inventory_app: DeploymentApp = NO_APP
    partner_app: DeploymentApp = NO_APP
    public_url: str | None = None
    # Graph change notifications (opt-in): the function app's public HTTPS base URL, and the
    # queue of their follow-up work (a trigger while a sync runs, lifecycle events).
    notification_url: str | None = None
    notification_queue: str = "tenantsync-notifications"
    consent_link_hours: float = 72.0
    # A device read stops (its progress saved for the next run) once it has read this long:
    # well under Flex Consumption's 30-minute function timeout, leaving room for the write.
    run_time_budget_seconds: float = 1200.0
    # A read part-way older than this starts over rather than resume.
    checkpoint_max_age_hours: float = 24.0
    # Intune's budget per app and tenant (managedDevices, detectedApps): requests per window.
    intune_budget: int = 2000
    intune_window_seconds: float = 20.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables.

        Raises:
            ConfigurationError: a value is present but malformed.
        """
        e = os.environ if env is None else env
        d = cls()  # the defaults, written once: on the fields above

        def get(name: str) -> str | None:
            value = e.get(name)
            return value.strip() if value and value.strip() else None

        storage = get("TENANTSYNC_STORAGE_CONNECTION")
        if storage is None:
            # The Functions host's own storage setting, when it is a connection string.
            host_storage = get("AzureWebJobsStorage")
            if host_storage and "=" in host_storage:
                storage = host_storage
        prefix = get("TENANTSYNC_TABLE_PREFIX") or d.table_prefix
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]{0,20}", prefix):
            raise ConfigurationError(
                "TENANTSYNC_TABLE_PREFIX must be 1-21 letters or digits, starting with a letter"
            )
        vault_auth = get("TENANTSYNC_VAULT_AUTH") or d.vault_auth
        if vault_auth not in {"managed-identity", "developer", "client-secret"}:
            raise ConfigurationError(
                "TENANTSYNC_VAULT_AUTH must be managed-identity, developer or client-secret"
            )

        def number(name: str, default: float) -> float:
            raw = get(name)
            if raw is None:
                return default
            try:
                return float(raw)
            except ValueError:
                raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None

        return cls(
            storage_connection=storage,
            table_endpoint=get("TENANTSYNC_TABLE_ENDPOINT"),
            queue_endpoint=get("TENANTSYNC_QUEUE_ENDPOINT"),
            table_prefix=prefix,
            key_vault_url=get("TENANTSYNC_KEY_VAULT_URL"),
            vault_auth=vault_auth,
            vault_verify_challenge=_flag(get("TENANTSYNC_VAULT_VERIFY_CHALLENGE"),
                                         d.vault_verify_challenge),
            vault_tenant_id=get("AZURE_TENANT_ID"),
            vault_client_id=get("AZURE_CLIENT_ID"),
            vault_client_secret=SecretValue(v) if (v := get("AZURE_CLIENT_SECRET")) else None,
            managed_identity_client_id=get("TENANTSYNC_MANAGED_IDENTITY_CLIENT_ID"),
            authority_host=(get("TENANTSYNC_AUTHORITY_HOST") or d.authority_host).rstrip("/"),
            instance_discovery=_flag(get("TENANTSYNC_INSTANCE_DISCOVERY"), d.instance_discovery),
            graph_url=(get("TENANTSYNC_GRAPH_URL") or d.graph_url).rstrip("/"),
            ca_bundle=get("TENANTSYNC_CA_BUNDLE"),
            directory_queue=get("TENANTSYNC_DIRECTORY_QUEUE") or d.directory_queue,
            graph_max_retries=int(number("TENANTSYNC_GRAPH_MAX_RETRIES", d.graph_max_retries)),
            graph_max_retry_wait=number("TENANTSYNC_GRAPH_MAX_RETRY_WAIT", d.graph_max_retry_wait),
            graph_timeout=number("TENANTSYNC_GRAPH_TIMEOUT", d.graph_timeout),
            deletion_guard_ratio=number("TENANTSYNC_DELETION_GUARD_RATIO", d.deletion_guard_ratio),
            deletion_guard_min=int(number("TENANTSYNC_DELETION_GUARD_MIN", d.deletion_guard_min)),
            secret_warning_days=int(number("TENANTSYNC_SECRET_WARNING_DAYS",
                                           d.secret_warning_days)),
            quarantine_after=int(number("TENANTSYNC_QUARANTINE_AFTER", d.quarantine_after)),
            quarantine_backoff_minutes=int(number("TENANTSYNC_QUARANTINE_BACKOFF_MINUTES",
                                                  d.quarantine_backoff_minutes)),
            devices_queue=get("TENANTSYNC_DEVICES_QUEUE") or d.devices_queue,
            partner_center_url=(get("TENANTSYNC_PARTNER_CENTER_URL")
                                or d.partner_center_url).rstrip("/"),
            device_concurrency=int(number("TENANTSYNC_DEVICE_CONCURRENCY", d.device_concurrency)),
            graph_concurrency=int(number("TENANTSYNC_GRAPH_CONCURRENCY", d.graph_concurrency)),
            graph_app_budget=max(0, int(number("TENANTSYNC_GRAPH_APP_BUDGET",
                                               d.graph_app_budget))),
            graph_app_window_seconds=max(1.0, number("TENANTSYNC_GRAPH_APP_WINDOW_SECONDS",
                                                     d.graph_app_window_seconds)),
            worker_processes=int(number("TENANTSYNC_WORKER_PROCESSES", d.worker_processes)),
            secret_cache_seconds=number("TENANTSYNC_SECRET_CACHE_SECONDS", d.secret_cache_seconds),
            run_lease_seconds=max(1.0, number("TENANTSYNC_RUN_LEASE_SECONDS", d.run_lease_seconds)),
            queued_run_timeout_seconds=number("TENANTSYNC_QUEUED_RUN_TIMEOUT_SECONDS",
                                              d.queued_run_timeout_seconds),
            full_compare_hours=number("TENANTSYNC_FULL_COMPARE_HOURS", d.full_compare_hours),
            webhook_queue=get("TENANTSYNC_WEBHOOK_QUEUE") or d.webhook_queue,
            webhook_allow_private=_flag(get("TENANTSYNC_WEBHOOK_ALLOW_PRIVATE"),
                                        d.webhook_allow_private),
            directory_reconcile_hours=min(168.0, max(0.0, number(
                "TENANTSYNC_DIRECTORY_RECONCILE_HOURS", d.directory_reconcile_hours))),
            webhook_retry_base_seconds=max(
                0.0, number("TENANTSYNC_WEBHOOK_RETRY_BASE_SECONDS", d.webhook_retry_base_seconds)),
            webhook_max_attempts=max(1, int(number("TENANTSYNC_WEBHOOK_MAX_ATTEMPTS",
                                                   d.webhook_max_attempts))),
            webhook_disable_after=max(1, int(number("TENANTSYNC_WEBHOOK_DISABLE_AFTER",
                                                    d.webhook_disable_after))),
            webhook_timeout_seconds=number("TENANTSYNC_WEBHOOK_TIMEOUT_SECONDS",
                                           d.webhook_timeout_seconds),
            webhook_ca_bundle=get("TENANTSYNC_WEBHOOK_CA_BUNDLE"),
            directory_app=_deployment_app(get, "DIRECTORY"),
            inventory_app=_deployment_app(get, "INVENTORY"),
            partner_app=_deployment_app(get, "PARTNER"),
            public_url=_public_url(get),
            notification_url=_notification_url(get("TENANTSYNC_NOTIFICATION_URL")),
            notification_queue=get("TENANTSYNC_NOTIFICATION_QUEUE") or d.notification_queue,
            consent_link_hours=max(0.01, number("TENANTSYNC_CONSENT_LINK_HOURS",
                                                d.consent_link_hours)),
            run_time_budget_seconds=max(0.0, number("TENANTSYNC_RUN_TIME_BUDGET_SECONDS",
                                                    d.run_time_budget_seconds)),
            checkpoint_max_age_hours=number("TENANTSYNC_CHECKPOINT_MAX_AGE_HOURS",
                                            d.checkpoint_max_age_hours),
            intune_budget=max(1, int(number("TENANTSYNC_INTUNE_BUDGET", d.intune_budget))),
            intune_window_seconds=max(0.1, number("TENANTSYNC_INTUNE_WINDOW_SECONDS",
                                                  d.intune_window_seconds)),
        )

    def require_storage(self) -> None:
        if not self.storage_connection and not self.table_endpoint:
            raise ConfigurationError(
                "No storage configured: set TENANTSYNC_STORAGE_CONNECTION (a connection string) "
                "or TENANTSYNC_TABLE_ENDPOINT and TENANTSYNC_QUEUE_ENDPOINT (managed identity)"
            )

    def require_vault(self) -> str:
        if not self.key_vault_url:
            raise ConfigurationError("No Key Vault configured: set TENANTSYNC_KEY_VAULT_URL")
        return self.key_vault_url

    def require_public_url(self) -> str:
        if not self.public_url:
            raise ConfigurationError(
                "No public address of the API: set TENANTSYNC_PUBLIC_URL (e.g. "
                "https://<function app>.azurewebsites.net); consent links return there"
            )
        return self.public_url

    @property
    def verify(self) -> str | bool:
        """What HTTPS clients trust: the configured CA bundle, else the system store."""
        return self.ca_bundle or True


def _public_url(get: Callable[[str], str | None]) -> str | None:
    """TENANTSYNC_PUBLIC_URL, else the host name the Functions host gives the app."""
    url = get("TENANTSYNC_PUBLIC_URL")
    if url is None:
        host = get("WEBSITE_HOSTNAME")  # set by App Service / Azure Functions
        return f"https://{host}" if host else None
    url = url.rstrip("/")
    if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?", url):
        raise ConfigurationError("TENANTSYNC_PUBLIC_URL must be the API's base URL, like "
                                 "https://tenantsync.example.com (no query or fragment)")
    return url


_LOOPBACK = re.compile(r"^http://(127\.[0-9.]+|localhost|\[::1\])(:[0-9]{1,5})?$")


def _notification_url(url: str | None) -> str | None:
    """TENANTSYNC_NOTIFICATION_URL: HTTPS (Graph delivers to HTTPS only); plain HTTP only on
    loopback, where the local stack serves the API to the simulator."""
    if url is None:
        return None
    url = url.rstrip("/")
    https = re.fullmatch(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?", url)
    if not https and not _LOOPBACK.match(url):
        raise ConfigurationError(
            "TENANTSYNC_NOTIFICATION_URL must be the function app's public HTTPS base URL, "
            "like https://tenantsync.azurewebsites.net (no path, query or fragment)")
    return url
