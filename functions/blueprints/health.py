"""The anonymous health function, registered beside the API's ASGI function.

The ASGI function answers every route (``{*route}``) with auth level FUNCTION. Health must
answer without a key, so it is a function of its own with a literal route and auth level
ANONYMOUS. Which of two matching functions gets a request is decided by the Functions host:
it adds HTTP routes to its route table in the order of the functions' names (ordinal), not
by ASP.NET's template precedence (azure-functions-host#9876; the fix proposed in
azure-webjobs-sdk-extensions#842 is not merged). So ``health`` answers /api/health because
its name sorts before the ASGI function's (``tenantsync_api``); tests/test_function_app.py
pins that order. Were it ever to lose, the ASGI app serves /api/health too, behind a key:
the endpoint would fail closed, not open.
"""

from __future__ import annotations

import azure.functions as func

from functions.api.health import check_health

bp = func.Blueprint()


@bp.function_name("health")
@bp.route(route="health", methods=[func.HttpMethod.GET], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    """Whether Table Storage and Key Vault are reachable: 200, else 503 (states and codes only)."""
    report = check_health()
    return func.HttpResponse(report.model_dump_json(), status_code=report.http_status,
                             mimetype="application/json")
