"""The Simulator: fixture in, HTTPS endpoints of Entra, Graph, Key Vault and Partner Center out."""

from __future__ import annotations

import shutil
import ssl
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import trustme

from . import (
    batch,
    blobhost,
    consent,
    control,
    entra,
    exports,
    graph,
    group_list,
    identity,
    intune,
    keyvault,
    paging,
    partner_graph,
    partner_routes,
    partnercenter,
    subscriptions,
)
from .export_jobs import parse_export_config
from .faults import Fault, evaluate, relink
from .fixture import parse_fixture
from .server import TLSServer, logger, make_server
from .state import SimState
from .tokens import bearer_claims
from .wire import Request, Response, entra_error, graph_error, partner_center_error, vault_error

_TOKEN_PATH = ["oauth2", "v2.0", "token"]
_DISCOVERY_PATH = ["v2.0", ".well-known", "openid-configuration"]
_CONSENT_PATH = ["v2.0", "adminconsent"]


_GDAP_SETS = ("delegatedadmincustomers", "delegatedadminrelationships")


def _graph_kind(rest: list[str]) -> str | None:
    """The kind of the partner-facing Graph paths (matched without regard to case)."""
    lowered = [part.lower() for part in rest]
    if lowered and lowered[0] == "organization":
        return "graph.organization"
    intune_kind = intune.kind_of(lowered)
    if intune_kind is not None:
        return intune_kind
    if lowered == ["$batch"]:
        return "graph.batch"
    if lowered and lowered[0] == "subscriptions":
        return "graph.subscriptions"
    if exports.is_export_path(lowered):
        return "graph.exportJobs"
    if len(lowered) >= 2 and lowered[0] == "tenantrelationships" and lowered[1] in _GDAP_SETS:
        return "graph.gdap"
    return None


def classify(path: str) -> tuple[str, str | None]:
    """(path kind for stats and routing, tenant named in the path or None)."""
    parts = path.strip("/").split("/")
    partner_side = partner_routes.classify(parts)
    if partner_side is not None:
        return partner_side
    if parts[0] == "partnercenter":
        customers = [part.lower() for part in parts[1:]] == ["v1", "customers"]
        return ("partnercenter.customers" if customers else "partnercenter.other"), None
    if parts[0] == "v1.0":
        rest = parts[1:]
        partner_kind = _graph_kind(rest)
        if partner_kind is not None:
            return partner_kind, None
        if rest == ["groups"]:
            return "graph.groups", None
        if len(rest) == 2 and rest[1] == "delta":
            return "graph.delta", None
        if len(rest) == 2 and rest[0] == "groups":
            return "graph.group", None
        if len(rest) >= 3 and rest[0] == "groups" and rest[2] == "members":
            return "graph.members", None
        if len(rest) == 2 and rest[0] == "users":
            return "graph.user", None
        return "graph.other", None
    if parts[0] in ("keyvault", "secrets", "deletedsecrets"):
        return "keyvault", None
    if parts[1:] == _TOKEN_PATH:
        return "token", parts[0]
    if parts[1:] == _DISCOVERY_PATH:
        return "discovery", parts[0]
    if parts[1:] == _CONSENT_PATH:
        return "adminconsent", parts[0]
    return "other", None


def _retry_after(fault: Fault) -> dict[str, str]:
    if fault.retry_after is None:
        return {}
    return {"Retry-After": f"{fault.retry_after:g}"}


def _entra_fault(fault: Fault, req: Request) -> Response:
    """A fault on the token or discovery path, as an Entra error (digits in `code` = AADSTS)."""
    if fault.code and fault.code.isdigit():
        code = int(fault.code)
    else:
        code = 90055 if fault.status == 429 else 90033  # TenantThrottlingError / service down
    if fault.status in (429, 503, 504):
        error = "temporarily_unavailable"
    else:
        error = "server_error" if fault.status >= 500 else "invalid_request"
    response = entra_error(req, fault.status, error, code, fault.error_message)
    response.headers.update(_retry_after(fault))
    return response


def fault_response(fault: Fault, kind: str, req: Request) -> Response:
    """The answer an injected fault gives, shaped like the service the path belongs to."""
    if fault.kind == "drop":
        return Response(0, drop=True)
    if kind in ("token", "discovery"):
        return _entra_fault(fault, req)
    if kind == "adminconsent":
        aadsts = int(fault.code) if fault.code and fault.code.isdigit() else 90033
        return consent.error_page(req, fault.status, aadsts, fault.error_message)
    headers = _retry_after(fault)
    if kind == "identity":
        response = identity.error(fault.status, fault.error_message)
        response.headers.update(headers)
        return response
    if kind.startswith("partnercenter"):
        code: int | str = int(fault.code) if fault.code and fault.code.isdigit() else fault.status
        return partner_center_error(fault.status, code, fault.error_message, headers)
    if kind == "keyvault":
        return vault_error(fault.status, fault.error_code, fault.error_message, headers)
    return graph_error(req, fault.status, fault.error_code, fault.error_message, headers)


class Simulator:
    """An offline stand-in for login.microsoftonline.com, graph.microsoft.com and a Key Vault.

    `Simulator(fixture)` validates the fixture (raises FixtureError); `start()` serves HTTPS
    on `base_url` with a certificate from a fresh CA whose PEM is at `ca_path`.
    """

    def __init__(self, fixture: dict[str, Any], host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = SimState(parse_fixture(fixture))
        partner_routes.load(self.state, fixture)
        self._host = host
        self._port = port
        self._server: TLSServer | None = None
        self._identity_server: TLSServer | None = None  # plain HTTP, managed identity only
        self._threads: list[threading.Thread] = []
        self._storage = blobhost.StorageHost(self.state)  # the host of export downloads
        self._tmpdir: str | None = None
        self._ca_path: str | None = None

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Generate the CA and certificate, bind, and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("simulator already started")
        ca = trustme.CA(organization_name="tenantsync simulator")
        cert = ca.issue_cert("127.0.0.1", "localhost")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(context)
        self._tmpdir = tempfile.mkdtemp(prefix="tenantsync-sim-")
        ca_file = Path(self._tmpdir) / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        self._ca_path = str(ca_file)
        self._server = make_server(self._host, self._port, context, self._dispatch)
        # azure-identity reaches IDENTITY_ENDPOINT without our CA (the Functions host serves
        # it over plain HTTP on localhost), so the identity endpoint has its own HTTP port.
        # Loopback only, whatever `host` is: the Functions host's endpoint is local too.
        self._identity_server = make_server("127.0.0.1", 0, None, self._dispatch_identity)
        self._threads = [
            threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=name,
                daemon=True,
            )
            for name, server in (
                ("simulator", self._server),
                ("simulator-identity", self._identity_server),
            )
        ]
        for thread in self._threads:
            thread.start()
        self._storage.start(self._host, context)
        logger.info("simulator serving at %s", self._server.base_url)

    def stop(self) -> None:
        """Stop serving, close open connections and remove the CA file. Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        self._storage.stop()
        self.state.subscriptions.notifier.close()
        for each in (server, self._identity_server):
            if each is not None:
                each.shutdown()
                each.close_connections()
                each.server_close()
        self._identity_server = None
        for thread in self._threads:
            thread.join(timeout=5)
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
        logger.info("simulator stopped")

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("simulator not started")
        return self._server.base_url

    @property
    def vault_url(self) -> str:
        """The Key Vault URL to give SecretClient (`{base_url}/keyvault`)."""
        return f"{self.base_url}{keyvault.PREFIX}"

    @property
    def partner_center_url(self) -> str:
        """The Partner Center base URL (`{base_url}/partnercenter`; real:
        https://api.partnercenter.microsoft.com)."""
        return f"{self.base_url}{partnercenter.PREFIX}"

    @property
    def identity_endpoint(self) -> str:
        """IDENTITY_ENDPOINT of the simulated Functions host (`http://127.0.0.1:PORT/msi/token`)."""
        if self._identity_server is None:
            raise RuntimeError("simulator not started")
        return f"{self._identity_server.base_url}{identity.PATH}"

    @property
    def identity_header(self) -> str:
        """IDENTITY_HEADER of the simulated Functions host (sent back as X-IDENTITY-HEADER)."""
        return self.state.identity_header

    @property
    def storage_url(self) -> str:
        """The base URL of the host serving export jobs' zips (`https://localhost:PORT`)."""
        return self._storage.url

    @property
    def ca_path(self) -> str:
        if self._ca_path is None:
            raise RuntimeError("simulator not started")
        return self._ca_path

    # --- control (the /_sim routes call the same SimState methods) ----------------------

    def add_member(self, tenant_id: str, group_id: str, member_id: str) -> None:
        self.state.change_members(tenant_id, group_id, [member_id], [])

    def remove_member(self, tenant_id: str, group_id: str, member_id: str) -> None:
        self.state.change_members(tenant_id, group_id, [], [member_id])

    def upsert_object(self, tenant_id: str, kind: str, obj: dict[str, Any]) -> None:
        self.state.upsert_object(tenant_id, kind, obj)

    def delete_object(self, tenant_id: str, kind: str, object_id: str) -> None:
        self.state.delete_object(tenant_id, kind, object_id)

    def set_roles(self, tenant_id: str, client_id: str, roles: list[str] | None) -> None:
        self.state.set_roles(tenant_id, client_id, roles)

    def set_app_secrets(self, client_id: str, secrets: list[dict[str, Any]]) -> None:
        self.state.set_app_secrets(client_id, secrets)

    def set_app_certificates(self, client_id: str, certificates: list[dict[str, Any]]) -> None:
        """Replace an app's certificate credentials (as in the fixture): rotation, expiry."""
        self.state.set_app_certificates(client_id, certificates)

    def set_federated_credentials(self, client_id: str, credentials: list[dict[str, Any]]) -> None:
        """Replace an app's federated credentials; new ones propagate for the set delay."""
        self.state.set_federated_credentials(client_id, credentials)

    def set_federation_delay(self, seconds: float) -> None:
        """Seconds a federated credential added from now on answers AADSTS70021 (0-3600)."""
        self.state.set_federation_delay(seconds)

    def set_admin_consent(self, tenant_id: str, decision: str) -> None:
        """What the tenant's admin answers at /adminconsent: "accept" or "refuse"."""
        self.state.set_admin_consent(tenant_id, decision)

    def set_signed_in_admin(self, tenant_id: str | None) -> None:
        """The tenant whose admin answers /organizations and /common (None: nobody)."""
        self.state.set_signed_in_admin(tenant_id)

    def subscriptions(self) -> list[dict[str, Any]]:
        """Every live Graph subscription, as Graph shows it (with the tenant it is in)."""
        return [{**s.as_json(), "tenantId": s.tenant_id}
                for s in self.state.subscriptions.live()]

    def notifications_sent(self) -> list[Any]:
        """Every POST made to a subscriber (handshakes excluded), oldest first."""
        return self.state.subscriptions.notifier.recorded()

    def set_notification_delay(self, seconds: float) -> None:
        """Seconds between a change and its notification (0: at once)."""
        self.state.subscriptions.set_delay(seconds)

    def set_subscription_quota(self, limit: int) -> None:
        """User (and group) subscriptions allowed per app and tenant (Graph: 100)."""
        self.state.subscriptions.set_quota(limit)

    def require_reauthorization(self, subscription_id: str) -> None:
        """Send the subscription's `reauthorizationRequired` lifecycle event."""
        self.state.subscriptions.require_reauthorization(subscription_id)

    def remove_subscription(self, subscription_id: str) -> None:
        """Graph deletes a subscription (as after a missed renewal)."""
        self.state.subscriptions.remove(subscription_id)

    def set_faults(self, faults: list[dict[str, Any]]) -> None:
        self.state.set_faults(faults)

    def clear_faults(self) -> None:
        self.state.clear_faults()

    def stats(self) -> dict[str, Any]:
        return self.state.stats()

    def reset_stats(self) -> None:
        self.state.reset_stats()

    def set_latency(self, seconds: float) -> None:
        self.state.set_latency(seconds)

    def set_throttling(self, throttling: dict[str, Any]) -> None:
        """Intune budgets, as the fixture's `throttling` (left-out keys take defaults)."""
        self.state.set_throttling(throttling)

    def set_export_jobs(self, config: dict[str, Any]) -> None:
        """How export jobs created from now on progress, as the fixture's `export_jobs`."""
        self.state.exports.configure(parse_export_config(config))

    def update_tenant(self, tenant_id: str, sections: dict[str, Any]) -> None:
        """Replace a tenant's organization, intune, gdap or partner_center (null removes)."""
        self.state.update_tenant(tenant_id, sections)

    # --- request dispatch -----------------------------------------------------------------

    def _dispatch(self, req: Request, client_host: str) -> Response:
        state = self.state
        if req.path == "/_sim" or req.path.startswith("/_sim/"):
            if not (client_host.startswith("127.") or client_host == "::1"):
                return graph_error(
                    req, 403, "Forbidden", "The control API answers loopback clients only."
                )
            return control.handle(state, req)
        kind, path_tenant = classify(req.path)
        state.count_request(req.method, kind)
        if not kind.startswith("graph."):
            return self._answer(req, kind, path_tenant)
        state.graph_started()
        try:
            return self._answer(req, kind, path_tenant)
        finally:
            state.graph_ended(req.arrived)

    def _dispatch_identity(self, req: Request, client_host: str) -> Response:
        self.state.count_request(req.method, "identity")
        return self._answer(req, "identity", None)

    def _answer(self, req: Request, kind: str, path_tenant: str | None) -> Response:
        state = self.state
        response, delay = self._outcome(req, kind, path_tenant)
        delay += state.latency
        # The latency is the request's time in the service, its own work included: the
        # answer leaves `delay` seconds after the request arrived (or at once, if the work
        # took longer).
        remaining = delay - (time.monotonic() - req.arrived)
        if remaining > 0:
            time.sleep(remaining)
        state.count_response(response.status)
        return response

    def _outcome(
        self, req: Request, kind: str, path_tenant: str | None
    ) -> tuple[Response, float]:
        """The faults' answer or the route's, and the seconds latency faults add."""
        state = self.state
        tenant = path_tenant.lower() if path_tenant else self._token_tenant(req)
        if kind.startswith("partnercenter"):
            page = partnercenter.page_of(state, req)
        else:
            page = paging.page_of(state.marker, req.query.get("$skiptoken"))
        with state.lock:
            outcome = evaluate(state.faults, req.method, req.path, tenant, page)
        if outcome.answer is not None:
            return fault_response(outcome.answer, kind, req), outcome.delay
        answer = self._route(kind, path_tenant, req)
        return relink(outcome.link, req, answer, partnercenter.PREFIX), outcome.delay

    def _batched(self, sub: Request) -> tuple[Response, float, str]:
        """One request of a $batch: its own faults and route (the batch has the latency)."""
        kind, path_tenant = classify(sub.path)
        response, delay = self._outcome(sub, kind, path_tenant)
        return response, delay, kind

    def _token_tenant(self, req: Request) -> str | None:
        claims = bearer_claims(self.state.signing_key, req.header("authorization"))
        tid = claims.get("tid") if claims else None
        return tid if isinstance(tid, str) else None

    def _route(self, kind: str, path_tenant: str | None, req: Request) -> Response:
        partner_side = partner_routes.route(self.state, kind, path_tenant, req)
        if partner_side is not None:
            return partner_side
        if kind == "token" and path_tenant is not None:
            if req.method != "POST":
                message = "The endpoint only accepts POST, OPTIONS requests. "
                message += f"Received a {req.method} request."
                return entra_error(req, 400, "invalid_request", 900561, message)
            return entra.token(self.state, req, path_tenant)
        if kind == "discovery" and path_tenant is not None:
            return entra.discovery(self.state, req, path_tenant)
        if kind == "adminconsent" and path_tenant is not None:
            return consent.handle(self.state, req, path_tenant)
        if kind == "identity":
            return identity.handle(self.state, req)
        if kind in intune.KINDS:
            return intune.handle(self.state, req, kind)
        if kind == "graph.batch":
            return batch.handle(self.state, req, self._batched)
        if kind == "graph.subscriptions":
            claims = graph.authenticate(self.state, req)
            if isinstance(claims, Response):
                return claims
            return subscriptions.handle(self.state, req, claims)
        if kind == "graph.exportJobs":
            return exports.handle(self.state, req)
        if kind == "graph.organization":
            return partner_graph.organization(self.state, req)
        if kind == "graph.gdap":
            return partner_graph.gdap(self.state, req)
        if kind == "graph.groups":
            return group_list.handle(self.state, req)
        if kind.startswith("partnercenter"):
            return partnercenter.handle(self.state, req)
        if kind.startswith("graph."):
            return graph.handle(self.state, req)
        if kind == "keyvault":
            return keyvault.handle(self.state, req)
        return graph_error(req, 404, "NotFound", f"The simulator has no endpoint at '{req.path}'.")
