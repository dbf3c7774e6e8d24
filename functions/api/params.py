"""Path parameters and the services every route works through."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Security
from fastapi.security import APIKeyHeader

from functions.api.models import Guid, RunId
from functions.services import Services, get_services


def services() -> Services:
    """The process-wide services (built from the app settings on first use)."""
    return get_services()


ServicesDep = Annotated[Services, Depends(services)]
TenantId = Annotated[Guid, Path(alias="tenantId", description="Directory (tenant) ID")]
RunIdPath = Annotated[RunId, Path(alias="runId", description="A run ID")]
PartnerId = Annotated[
    Guid, Path(alias="partnerTenantId", description="The partner's own tenant ID")
]

# Documents the function key in the OpenAPI document. The Functions host checks the key
# before a request reaches the app, so the app itself does not (and uvicorn needs none).
FUNCTION_KEY = APIKeyHeader(
    name="x-functions-key", scheme_name="functionKey", auto_error=False,
    description="A function key of the function app (or pass it as the `code` query "
                "parameter). Not checked when served locally by uvicorn.",
)
KEYED = [Security(FUNCTION_KEY)]
