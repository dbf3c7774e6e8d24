"""The HTTP API as an ASGI app (FastAPI): served by the Functions host through
``func.AsgiFunctionApp`` in Azure, and by uvicorn locally (scripts/serve.sh)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI

from functions.api import (
    routes_consent,
    routes_devices,
    routes_directory,
    routes_health,
    routes_partners,
    routes_runs,
    routes_software,
    routes_tenants,
)
from functions.api.errors import BodyLimit, ErrorBoundary, install_error_handlers
from functions.api.urls import API_PREFIX

# The name of the ASGI function in the function app. It must sort after "health": see
# functions/blueprints/health.py.
API_FUNCTION_NAME = "tenantsync_api"
MAX_BODY_BYTES = 64 * 1024
VERSION = "0.1.0"

# One router per concept; a new one is one more entry.
ROUTERS: tuple[APIRouter, ...] = (
    routes_health.router,
    routes_tenants.router,
    routes_partners.router,
    routes_directory.router,
    routes_devices.router,
    routes_software.router,
    routes_runs.router,
    routes_consent.router,
)

DESCRIPTION = """\
Onboard Microsoft tenants and partner connections, start directory and device syncs, and
read what they stored: users, groups, devices, software, runs and health.

Every error answers `{"error": {"code": "...", "message": "..."}}`; the codes are listed in
docs/api.md. In Azure every endpoint but `/api/health` needs a function key
(`x-functions-key` header or `code` query parameter).
"""


def create_app() -> FastAPI:
    """Build the API. Nothing is read or connected until the first request."""
    app = FastAPI(
        title="tenantsync", version=VERSION, description=DESCRIPTION,
        openapi_url=f"{API_PREFIX}/openapi.json", docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(ErrorBoundary)  # added last: the outermost layer

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _without_validation_422(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _without_validation_422(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop FastAPI's generated 422 "HTTPValidationError" answers: ours are 400 error bodies."""
    generated = "#/components/schemas/HTTPValidationError"
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            answer = operation.get("responses", {}).get("422", {})
            ref = answer.get("content", {}).get("application/json", {}).get("schema", {})
            if ref.get("$ref") == generated:
                del operation["responses"]["422"]
    schemas = schema.get("components", {}).get("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    return schema
