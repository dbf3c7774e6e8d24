"""Graph v1.0 `deviceManagement/reports/exportJobs`: create a report export, poll it.

Checks run in this order: token (401), method (405), request body (400), Intune licence
(400), permission (403, Intune's wrapped message), then the job. Creating a job needs a
ReadWrite permission, as the v1.0 "Create deviceManagementExportJob" page lists (unless the
settings accept Read.All, as the real service did); reading one, any of six.
"""

from __future__ import annotations

import json
import re
from typing import Any

from . import reports
from .export_jobs import NO_DATE, ExportJob, iso
from .graph import authenticate, bad_segment
from .intune import NOT_APPLICABLE, forbidden, not_found
from .state import SimState
from .wire import GRAPH_JSON, Request, Response, graph_error, json_response

CREATE = (
    "DeviceManagementConfiguration.ReadWrite.All",
    "DeviceManagementApps.ReadWrite.All",
    "DeviceManagementManagedDevices.ReadWrite.All",
)
READ = (
    "DeviceManagementApps.Read.All",
    "DeviceManagementApps.ReadWrite.All",
    "DeviceManagementConfiguration.Read.All",
    "DeviceManagementConfiguration.ReadWrite.All",
    "DeviceManagementManagedDevices.Read.All",
    "DeviceManagementManagedDevices.ReadWrite.All",
)
SERVICE = "ReportingService/StatelessReportingFEService"  # as in a real 403's Url
_TYPE = "microsoft.graph.deviceManagementExportJob"
_BODY_KEYS = (
    "@odata.type",
    "reportName",
    "filter",
    "select",
    "format",
    "snapshotId",
    "localizationType",
)
_LOCALIZATION = {
    "localizedvaluesasadditionalcolumn": "localizedValuesAsAdditionalColumn",
    "replacelocalizablevalues": "replaceLocalizableValues",
}
_KEYED = re.compile(r"^exportJobs\('([^']+)'\)$", re.IGNORECASE)


def is_export_path(segments: list[str]) -> bool:
    """Whether lower-cased segments after v1.0 are deviceManagement/reports/exportJobs..."""
    return (
        len(segments) >= 3
        and segments[:2] == ["devicemanagement", "reports"]
        and (segments[2] == "exportjobs" or segments[2].startswith("exportjobs("))
    )


def _bad(req: Request, message: str) -> Response:
    return graph_error(req, 400, "BadRequest", message)


def _request_body(req: Request) -> dict[str, Any] | str:
    """The job request, normalised, or why it is refused."""
    try:
        body = json.loads(req.body.decode("utf-8") or "null")
    except (UnicodeDecodeError, ValueError):
        return "The request body is not JSON."
    if not isinstance(body, dict):
        return "The request body must be a deviceManagementExportJob object."
    for key in body:
        if key not in _BODY_KEYS:
            return (
                f"The property '{key}' does not exist on type '{_TYPE}'. Make sure to "
                "only use property names that are defined by the type."
            )
    name = body.get("reportName")
    if not isinstance(name, str) or not name:
        return "reportName is required."
    select = body.get("select")
    if select is not None and (
        not isinstance(select, list) or not all(isinstance(c, str) for c in select)
    ):
        return "select must be a list of column names."
    fmt = str(body.get("format") or "csv").lower()
    if fmt not in ("csv", "json"):
        return f"The format '{body.get('format')}' is not simulated (csv or json)."
    localization = _LOCALIZATION.get(
        str(body.get("localizationType") or "localizedValuesAsAdditionalColumn").lower()
    )
    if localization is None:
        return f"The localizationType '{body.get('localizationType')}' is not valid."
    if body.get("snapshotId") is not None:
        return "snapshotId is not simulated."
    filter_text = body.get("filter")
    if filter_text is not None and not isinstance(filter_text, str):
        return "filter must be a string."
    return {
        "reportName": name,
        "filter": filter_text or "",
        "select": list(select or []),
        "format": fmt,
        "snapshotId": None,
        "localizationType": localization,
    }


def _job_id(segments: list[str]) -> str | None:
    """The job id in the path (`exportJobs/{id}` or `exportJobs('{id}')`), or None."""
    keyed = _KEYED.match(segments[2])
    if keyed is not None:
        return keyed.group(1) if len(segments) == 3 else None
    if len(segments) == 4:
        return segments[3]
    return None


def handle(state: SimState, req: Request) -> Response:
    """POST .../reports/exportJobs and GET .../reports/exportJobs/{id}."""
    segments = req.path[len("/v1.0/") :].strip("/").split("/")
    claims = authenticate(state, req)
    if isinstance(claims, Response):
        return claims
    job_id = _job_id(segments)
    listing = len(segments) == 3 and segments[2].lower() == "exportjobs"
    if job_id is None and not listing:
        return bad_segment(req, segments[-1])
    if req.method == "GET" and listing:
        # Listing the jobs is documented but answers this (microsoft-graph-docs #20380).
        return _bad(req, "No method match route template")
    if req.method != ("POST" if listing else "GET"):
        return graph_error(
            req, 405, "BadRequest", "Specified HTTP method is not allowed for the request uri."
        )
    body = _request_body(req) if job_id is None else {}
    if isinstance(body, str):
        return _bad(req, body)
    plan: reports.ReportPlan | None = None
    if job_id is None:
        checked = reports.plan(body["reportName"], body["select"] or None, body["filter"] or None)
        if isinstance(checked, str):
            return _bad(req, checked)
        plan = checked
    tenant_id = str(claims["tid"])
    with state.lock:
        tenant = state.tenant(tenant_id)
        intune = tenant.intune if tenant else None
    if intune is None or not intune.licensed:
        return graph_error(req, 400, "BadRequest", NOT_APPLICABLE)
    roles = set(claims.get("roles") or [])
    store = state.exports
    needed = READ if job_id is not None or store.config.read_permissions_create else CREATE
    if not roles & set(needed):
        return forbidden(req, needed, SERVICE)
    if plan is not None:
        job = store.create(tenant_id, body, plan, intune)
        return _job_response(req, job, "notStarted", None, 201)
    found = store.get(tenant_id, str(job_id))
    if found is None:
        return not_found(req, str(job_id), SERVICE)
    status = store.poll(found)
    url = store.url(found) if status == "completed" else None
    return _job_response(req, found, status, url, 200)


def _job_response(
    req: Request, job: ExportJob, status: str, url: str | None, code: int
) -> Response:
    body: dict[str, Any] = {
        "@odata.context": f"{req.base_url}/v1.0/$metadata#deviceManagement/reports/exportJobs"
        "/$entity",
        "id": job.id,
        **job.request,
        "status": status,
        "url": url,
        "requestDateTime": iso(job.requested),
        "expirationDateTime": iso(job.expires) if job.expires and url else NO_DATE,
    }
    return json_response(code, body, content_type=GRAPH_JSON)
