"""Start and stop Azurite and the simulator as child processes."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
AZURITE = ROOT / "node_modules" / ".bin" / "azurite"
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development account key (public, documented; not a secret).
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def _die_with_parent() -> None:
    """In a child, before exec: ask Linux to send it SIGTERM when its parent dies, however
    it dies (SIGKILL included), so that no Azurite or simulator outlives the stack that
    started it. (prctl(PR_SET_PDEATHSIG) survives exec; elsewhere this does nothing.)"""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def exit_on_sigterm() -> None:
    """Make SIGTERM end this process as Ctrl-C does, through its ``finally`` blocks and
    context managers (so a stack's children are stopped), not at once."""
    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} while starting")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout:.0f} s")


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


class AzuriteProcess:
    """Azurite's table and queue services, in memory, on free ports."""

    def __init__(self) -> None:
        self.table_port = free_port()
        self.queue_port = free_port()
        self.blob_port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> AzuriteProcess:
        if not AZURITE.exists():
            raise RuntimeError("Azurite is not installed: run scripts/bootstrap.sh (npm ci)")
        self._process = subprocess.Popen(
            [str(AZURITE), "--inMemoryPersistence", "--disableTelemetry", "--silent",
             "--skipApiVersionCheck", "--blobPort", str(self.blob_port),
             "--queuePort", str(self.queue_port), "--tablePort", str(self.table_port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tempfile.gettempdir(),
            preexec_fn=_die_with_parent,
        )
        _wait_for_port(self.table_port, self._process, "Azurite", 30)
        _wait_for_port(self.queue_port, self._process, "Azurite", 30)
        return self

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.blob_port}/{ACCOUNT};"
            f"QueueEndpoint=http://127.0.0.1:{self.queue_port}/{ACCOUNT};"
            f"TableEndpoint=http://127.0.0.1:{self.table_port}/{ACCOUNT};"
        )

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def stop(self) -> None:
        _stop(self._process)


class SimulatorProcess:
    """The Microsoft simulator (``python -m simulator serve``) on a free port."""

    def __init__(self, fixture: Path) -> None:
        self.fixture = fixture
        self._dir = Path(tempfile.mkdtemp(prefix="tenantsync-sim-"))
        self._process: subprocess.Popen[bytes] | None = None
        self.base_url = ""
        self.ca_path = ""
        self.identity_endpoint = ""
        self.identity_header = ""

    def start(self) -> SimulatorProcess:
        ready = self._dir / "ready.json"
        self._process = subprocess.Popen(
            [sys.executable, "-m", "simulator", "serve", "--fixture", str(self.fixture),
             "--port", "0", "--ready-file", str(ready)],
            cwd=ROOT, preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + 30
        while not ready.exists():
            if self._process.poll() is not None:
                raise RuntimeError(f"the simulator exited with code {self._process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("the simulator did not start within 30 s")
            time.sleep(0.05)
        info: dict[str, Any] = json.loads(ready.read_text())
        self.base_url, self.ca_path = info["base_url"], info["ca_path"]
        self.identity_endpoint = info.get("identity_endpoint", "")
        self.identity_header = info.get("identity_header", "")
        return self

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def stop(self) -> None:
        _stop(self._process)
        shutil.rmtree(self._dir, ignore_errors=True)


def local_settings(
    *, storage_connection: str, sim_base_url: str, ca_path: str, operator: dict[str, str],
    table_prefix: str = "ts", identity: dict[str, str] | None = None,
) -> dict[str, str]:
    """Environment variables that point tenantsync at Azurite and the simulator.

    ``operator`` is the simulator's stand-in for the function's identity towards Key Vault
    (``tenant_id``, ``client_id``, ``secret``). ``identity`` is what the Functions host
    gives the app for its user-assigned managed identity (``endpoint``, ``header``,
    ``client_id``), used for federated credentials.
    """
    env = {
        "TENANTSYNC_STORAGE_CONNECTION": storage_connection,
        "TENANTSYNC_TABLE_PREFIX": table_prefix,
        "TENANTSYNC_KEY_VAULT_URL": f"{sim_base_url}/keyvault/",
        "TENANTSYNC_VAULT_AUTH": "client-secret",
        "TENANTSYNC_VAULT_VERIFY_CHALLENGE": "false",
        "AZURE_TENANT_ID": operator["tenant_id"],
        "AZURE_CLIENT_ID": operator["client_id"],
        "AZURE_CLIENT_SECRET": operator["secret"],
        "TENANTSYNC_AUTHORITY_HOST": sim_base_url,
        "TENANTSYNC_INSTANCE_DISCOVERY": "false",
        "TENANTSYNC_GRAPH_URL": f"{sim_base_url}/v1.0",
        "TENANTSYNC_PARTNER_CENTER_URL": f"{sim_base_url}/partnercenter",
        "TENANTSYNC_CA_BUNDLE": ca_path,
        "TENANTSYNC_DIRECTORY_SCHEDULE": "0 */30 * * * *",
        "TENANTSYNC_DIRECTORY_QUEUE": "tenantsync-directory",
        "TENANTSYNC_DEVICES_SCHEDULE": "0 15 */6 * * *",
        "TENANTSYNC_DEVICES_QUEUE": "tenantsync-devices",
        "TENANTSYNC_WEBHOOK_QUEUE": "tenantsync-webhooks",
        "TENANTSYNC_NOTIFICATION_QUEUE": "tenantsync-notifications",
    }
    if identity:
        # What the Functions host sets for the app's managed identity (App Service protocol).
        env.update(IDENTITY_ENDPOINT=identity["endpoint"], IDENTITY_HEADER=identity["header"],
                   TENANTSYNC_MANAGED_IDENTITY_CLIENT_ID=identity["client_id"])
    return env


# What each of the deployment's own apps is recognised by in a fixture: a permission only it
# asks for (the apps that trust the managed identity with a federated credential).
_DEPLOYMENT_APPS = {"DIRECTORY": "GroupMember.Read.All",
                    "INVENTORY": "DeviceManagementManagedDevices.Read.All",
                    "PARTNER": "DelegatedAdminRelationship.Read.All"}


def deployment_settings(fixture: dict[str, Any]) -> dict[str, str]:
    """TENANTSYNC_<KIND>_APP_ID of each of the deployment's own apps a fixture has: the apps
    with a federated credential that trusts one of its managed identities."""
    principals = {mi["principal_id"] for mi in fixture.get("managed_identities", {}).values()}
    env: dict[str, str] = {}
    for app_id, app in fixture.get("applications", {}).items():
        trusted = any(fic.get("subject") in principals
                      for fic in app.get("federated_credentials", []))
        for kind, role in _DEPLOYMENT_APPS.items():
            if trusted and role in app.get("required_roles", []):
                env[f"TENANTSYNC_{kind}_APP_ID"] = app_id
    return env


def operator_of(fixture: dict[str, Any]) -> dict[str, str]:
    """The fixture's Key Vault principal: the identity the app uses for the vault."""
    client_id = fixture["key_vault"]["principals"][0]
    app = fixture["applications"][client_id]
    return {"tenant_id": app["home_tenant"], "client_id": client_id,
            "secret": app["secrets"][0]["value"]}


SAMPLE_HOST = "http://127.0.0.1:7071"
SAMPLE_CALLBACK = f"{SAMPLE_HOST}/api/consent/callback"


def with_callback(fixture_path: Path, public_url: str) -> Path:
    """A copy of a fixture whose apps also accept their callbacks at ``public_url`` (the
    consent callback, the partner sign-in's) as redirect URIs (Entra redirects only to a
    registered one; the samples register port 7071)."""
    fixture = json.loads(fixture_path.read_text())
    for app in fixture["applications"].values():
        uris = app.get("redirect_uris", [])
        uris.extend([public_url + uri[len(SAMPLE_HOST):] for uri in uris
                     if uri.startswith(SAMPLE_HOST + "/")])
    path = Path(tempfile.mkdtemp(prefix="tenantsync-fixture-")) / fixture_path.name
    path.write_text(json.dumps(fixture))
    return path


class LocalStack:
    """Azurite + simulator, started together; ``env`` is what tenantsync needs."""

    def __init__(self, fixture_path: Path, public_url: str | None = None) -> None:
        """``public_url``: where the API will be served (consent links return there)."""
        self.public_url = public_url
        self.fixture_path = fixture_path
        self.fixture = json.loads(fixture_path.read_text())
        self.azurite = AzuriteProcess()
        self.simulator = SimulatorProcess(fixture_path)
        self.env: dict[str, str] = {}

    def __enter__(self) -> LocalStack:
        try:
            self.azurite.start()
            self.simulator.start()
        except BaseException:
            self.__exit__()
            raise
        identities = list(self.fixture.get("managed_identities", {}))
        self.env = local_settings(
            storage_connection=self.azurite.connection_string,
            sim_base_url=self.simulator.base_url, ca_path=self.simulator.ca_path,
            operator=operator_of(self.fixture),
            identity={"endpoint": self.simulator.identity_endpoint,
                      "header": self.simulator.identity_header,
                      "client_id": identities[0]} if identities else None,
        )
        self.env.update(deployment_settings(self.fixture))
        if self.public_url:
            self.env["TENANTSYNC_PUBLIC_URL"] = self.public_url
        return self

    def __exit__(self, *exc: object) -> None:
        self.simulator.stop()
        self.azurite.stop()

    def environ(self) -> dict[str, str]:
        return {**os.environ, **self.env}
