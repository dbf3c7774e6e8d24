"""GET /api/health: anonymous in Azure (see functions/blueprints/health.py)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from functions.api.health import check_health
from functions.api.models import HealthReport

router = APIRouter(tags=["health"])


@router.get(
    "/health", response_model=HealthReport,
    responses={503: {"model": HealthReport, "description": "Storage or Key Vault unreachable"}},
)
def get_health() -> JSONResponse:
    """Whether Table Storage and Key Vault are reachable (200) or not (503)."""
    report = check_health()
    return JSONResponse(report.model_dump(), status_code=report.http_status)
