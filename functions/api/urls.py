"""Where things live in the API, for Location headers and status URLs."""

from __future__ import annotations

# The Functions host serves HTTP functions under /api (host.json routePrefix); the ASGI app
# gets the full path, so its routes carry the same prefix and URLs match under uvicorn.
API_PREFIX = "/api"


def tenant_url(tenant_id: str) -> str:
    return f"{API_PREFIX}/tenants/{tenant_id}"


def run_url(tenant_id: str, run_id: str) -> str:
    return f"{API_PREFIX}/tenants/{tenant_id}/runs/{run_id}"


def partner_url(partner_tenant_id: str) -> str:
    return f"{API_PREFIX}/partners/{partner_tenant_id}"
