"""HTTP sessions and the app's own Azure identity (for Key Vault, and storage without a
connection string), from the settings."""

from __future__ import annotations

import os
from typing import Any

import requests
from azure.core.credentials import TokenCredential

from functions.core.config import Settings
from functions.core.errors import ConfigurationError


def azure_credential(settings: Settings) -> TokenCredential:
    """The identity the app uses for Key Vault (and storage, when no connection string)."""

    from azure.identity import (
        ClientSecretCredential,
        DefaultAzureCredential,
        ManagedIdentityCredential,
    )

    if settings.vault_auth == "managed-identity":
        return ManagedIdentityCredential(client_id=settings.managed_identity_client_id)
    if settings.vault_auth == "developer":
        return DefaultAzureCredential()
    # client-secret: a service principal against the configured authority (the simulator,
    # or a sovereign cloud).
    if not (settings.vault_tenant_id and settings.vault_client_id
            and settings.vault_client_secret):
        raise ConfigurationError(
            "TENANTSYNC_VAULT_AUTH=client-secret needs AZURE_TENANT_ID, AZURE_CLIENT_ID and "
            "AZURE_CLIENT_SECRET to be set"
        )
    return ClientSecretCredential(
        settings.vault_tenant_id, settings.vault_client_id,
        settings.vault_client_secret.reveal(),
        authority=settings.authority_host,
        disable_instance_discovery=not settings.instance_discovery,
        connection_verify=settings.verify,
    )


class BareAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter, less one step: an answer's cookies are not parsed into a jar of
    its own. Graph, the token endpoints, Key Vault and storage set none that we use, and the
    senders that call the adapter directly (``GraphSender``, the storage transport) never
    read them; a session's own jar still gets them (``Session.send`` extracts them itself).
    Parsing them was 2-3% of a request's CPU."""

    def build_response(self, req: requests.PreparedRequest, resp: Any) -> requests.Response:
        response = requests.Response()
        response.status_code = getattr(resp, "status", None)  # type: ignore[assignment]
        response.headers = requests.structures.CaseInsensitiveDict(getattr(resp, "headers", {}))
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        response.raw = resp
        response.reason = resp.reason
        response.url = req.url.decode() if isinstance(req.url, bytes) else str(req.url)
        response.request = req
        response.connection = self
        return response


def send_settings(session: requests.Session, url: str | None, *, proxies: Any = None,
                  stream: bool | None = None, verify: Any = None, cert: Any = None
                  ) -> dict[str, Any]:
    """What ``Session.merge_environment_settings`` gives (the request's settings over the
    session's, the environment's where the session trusts it), without its merging of empty
    mappings when there is nothing to merge: that cost 5% of a request's CPU."""
    if session.trust_env or proxies or session.proxies:
        return dict(session.merge_environment_settings(url, proxies or {}, stream, verify,
                                                       cert))
    return {"proxies": {}, "stream": session.stream if stream is None else stream,
            "verify": session.verify if verify is None else verify,
            "cert": session.cert if cert is None else cert}


class TrustingSession(requests.Session):
    """A session whose trust setting wins over REQUESTS_CA_BUNDLE in the environment.

    requests lets that variable override ``Session.verify`` for every request that does
    not pass ``verify`` itself (MSAL's do not), so the configured CA bundle is passed on
    each request.
    """

    def __init__(self, verify: str | bool) -> None:
        super().__init__()
        self.verify = verify
        # Without proxy variables there is nothing to read from the environment; leaving
        # trust_env on would scan it (and look for .netrc) on every request.
        self.trust_env = any(
            os.environ.get(name) for name in
            ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
        )

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("verify", self.verify)
        return super().request(method, url, *args, **kwargs)


