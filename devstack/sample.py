"""The sample tenant's onboarding, shared by the demo and ``scripts/serve.sh``.

Both serve the API under uvicorn on a loopback port and onboard the TinyMDM example tenant
the way a customer's admin does: a consent link, opened as a browser would, whose redirect
lands on the API's callback, which tests the connection, stores the tenant and queues its
first sync.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import uvicorn

ROOT = Path(__file__).resolve().parent.parent
TENANTSYNC = [str(ROOT / ".venv" / "bin" / "tenantsync")]


@dataclass(frozen=True)
class SampleTenant:
    """The fixture's TinyMDM example tenant and its level-0 group."""

    tenant_id: str
    group_id: str

    @classmethod
    def of(cls, fixture: Mapping[str, Any]) -> SampleTenant:
        tenant_id = next(t for t, v in fixture["tenants"].items()
                         if v["display_name"] == "Contoso")
        groups = fixture["tenants"][tenant_id]["groups"]
        return cls(tenant_id, next(g for g, v in groups.items() if v["displayName"] == "TinyMDM"))


def serve_api(app: Any, port: int, log_level: str = "warning") -> uvicorn.Server:
    """Serve ``app`` on ``127.0.0.1:port`` from a daemon thread; returns once it listens."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level=log_level, lifespan="off"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit("the API did not start")
        time.sleep(0.05)
    return server


def admin_opens(url: str, ca_path: str) -> str:
    """What the customer's admin's browser does: open the link and follow Entra's redirect to
    tenantsync's callback. Returns the hops and the text of the page it answers."""
    browser = requests.Session()
    browser.trust_env = False
    page = browser.get(url, verify=ca_path, timeout=60)
    hops = " -> ".join(r.url.split("?")[0] for r in [*page.history, page])
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text.split("</style>")[-1]))
    return f"browser: {hops} ({page.status_code})\npage: {html.unescape(text).strip()}"


def onboard_by_consent_link(tenantsync: Callable[..., str], sample: SampleTenant,
                            ca_path: str, show: Callable[[str], None] = print) -> None:
    """A directory consent link for the sample tenant (``tenantsync consent link``), opened as
    its admin's browser would: the callback stores the tenant and queues its first sync."""
    link = json.loads(tenantsync("consent", "link", "--kind", "directory", "--tenant-id",
                                 sample.tenant_id, "--group-id", sample.group_id, "--json",
                                 capture=True))
    show(link["url"])
    show(admin_opens(link["url"], ca_path))


def cli_runner(env: Mapping[str, str], echo: bool = True) -> Callable[..., str]:
    """``tenantsync(*args, expect=0, capture=False)``: run the command line with ``env``."""

    def tenantsync(*args: str, expect: int = 0, capture: bool = False) -> str:
        if echo:
            print(f"$ tenantsync {' '.join(args)}", flush=True)
        result = subprocess.run([*TENANTSYNC, *args], env=dict(env), check=False, text=True,
                                capture_output=capture)
        if result.returncode != expect:
            raise SystemExit(f"tenantsync {args[0]} exited with {result.returncode}: "
                             f"{result.stderr or ''}")
        return result.stdout if capture else ""

    return tenantsync
