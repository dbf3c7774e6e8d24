"""The HTTP API as an ASGI app (FastAPI): served by the Functions host through
``func.AsgiFunctionApp`` in Azure, and by uvicorn locally (scripts/serve.sh)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from functions.api import (
    routes_changes,
    routes_consent,
    routes_devices,
    routes_directory,
    routes_health,
    routes_notifications,
    routes_partner_consent,
    routes_partners,
    routes_runs,
    routes_software,
    routes_tenants,
    routes_webhooks,
)
from functions.api.errors import BodyLimit, ErrorBoundary, install_error_handlers
from functions.api.strict import StrictPaths, known_query
from functions.api.urls import API_PREFIX

# The name of the ASGI function in the function app. It must sort after "health": see
# functions/blueprints/health.py.
API_FUNCTION_NAME = "tenantsync_api"
MAX_BODY_BYTES = 64 * 1024
BODY_TIMEOUT_SECONDS = 20.0
DOCS_ASSETS = f"{API_PREFIX}/docs/assets"
VERSION = "0.1.0"

# One router per concept; a new one is one more entry.
ROUTERS: tuple[APIRouter, ...] = (
    routes_health.router,
    routes_tenants.router,
    routes_partners.router,
    routes_partner_consent.router,
    routes_directory.router,
    routes_devices.router,
    routes_software.router,
    routes_runs.router,
    routes_changes.router,
    routes_webhooks.router,
    routes_consent.router,
    routes_notifications.router,
)
# Endpoints only Microsoft calls (Graph's change notifications): no command of their own.
CALLBACK_ROUTERS: tuple[APIRouter, ...] = (routes_notifications.graph_router,)

DESCRIPTION = """\
Onboard Microsoft tenants and partner connections, start directory and device syncs, and
read what they stored: users, groups, devices, software, runs and health.

Every error answers `{"error": {"code": "...", "message": "..."}}`; the codes are listed in
docs/api.md. In Azure every endpoint but `/api/health` needs a function key
(`x-functions-key` header or `code` query parameter).
"""


def operation_id(route: APIRoute) -> str:
    """Short operation ids for generated clients: the route function's name in camelCase
    (``list_users`` -> ``listUsers``)."""
    head, *rest = route.name.split("_")
    return head + "".join(part.title() for part in rest)


def create_app(*, body_timeout: float = BODY_TIMEOUT_SECONDS) -> FastAPI:
    """Build the API. Nothing is read or connected until the first request."""
    app = FastAPI(
        title="tenantsync", version=VERSION, description=DESCRIPTION,
        openapi_url=f"{API_PREFIX}/openapi.json", docs_url=None, redoc_url=None,
        # Unknown query parameters are refused (a typo must not pass as "no filter"), and a
        # trailing slash is an error, not a redirect.
        dependencies=[Depends(known_query)], redirect_slashes=False,
        generate_unique_id_function=operation_id,
    )
    for router in (*ROUTERS, *CALLBACK_ROUTERS):
        app.include_router(router, prefix=API_PREFIX)
    _offline_docs(app)
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES, timeout=body_timeout)
    app.add_middleware(StrictPaths)
    app.add_middleware(ErrorBoundary)  # added last: the outermost layer

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _without_validation_422(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _offline_docs(app: FastAPI) -> None:
    """Swagger UI from the pinned swagger-ui-bundle-v2 package: the docs work offline (no
    CDN), in Azure behind the function key as everything else."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get(f"{API_PREFIX}/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{API_PREFIX}/openapi.json", title="tenantsync API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png")


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
