"""Intune report export jobs: their lifecycle settings, the jobs, and their download URLs.

A job moves notStarted -> inProgress -> completed (or failed), either by the number of
times it was read or by the time since it was created; then its `url` points at the
simulator's storage host, signed like a SAS URL (`se` = expiry, `sig` = an HMAC of the blob
path and expiry), and refused after it expires. See docs/simulator.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from .model import ExportConfig, Intune
from .reports import ReportPlan, render_zip
from .validate import boolean, fail, mapping, number

_KEYS = (
    "advance",
    "not_started",
    "in_progress",
    "outcome",
    "url_lifetime_seconds",
    "read_permissions_create",
)
NO_DATE = "0001-01-01T00:00:00Z"  # expirationDateTime of a job not yet completed (doc example)
SAS_VERSION = "2019-02-02"  # the sv of the URL in Microsoft's export example


def parse_export_config(raw: object, path: str = "export_jobs") -> ExportConfig:
    """Export settings; a key left out keeps its default. Raises FixtureError."""
    entry = mapping(raw, path, _KEYS)
    base = ExportConfig()
    advance = entry.get("advance", base.advance)
    if advance not in ("polls", "seconds"):
        fail(f"{path}.advance", "must be 'polls' or 'seconds'")
    outcome = entry.get("outcome", base.outcome)
    if outcome not in ("completed", "failed"):
        fail(f"{path}.outcome", "must be 'completed' or 'failed'")
    return ExportConfig(
        advance=str(advance),
        not_started=number(entry.get("not_started", 0), f"{path}.not_started", 0, 86400),
        in_progress=number(entry.get("in_progress", 1), f"{path}.in_progress", 0, 86400),
        outcome=str(outcome),
        url_lifetime_seconds=number(
            entry.get("url_lifetime_seconds", base.url_lifetime_seconds),
            f"{path}.url_lifetime_seconds",
            0.1,
            7 * 86400,
        ),
        read_permissions_create=boolean(
            entry.get("read_permissions_create", False), f"{path}.read_permissions_create"
        ),
    )


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f0Z")  # Graph's 7 fractional digits


@dataclass
class ExportJob:
    """One export job of a tenant. `intune` is the tenant's data when the job was created."""

    id: str
    tenant: str
    request: dict[str, Any]  # reportName, filter, select, format, snapshotId, localizationType
    plan: ReportPlan
    intune: Intune
    config: ExportConfig
    requested: datetime
    created: float  # time.monotonic() at creation
    container: str = field(default_factory=lambda: str(uuid.uuid4()))
    polls: int = 0
    expires: datetime | None = None  # set when the job is first seen done
    blob: bytes | None = None  # the zip, rendered at its first download

    @property
    def blob_name(self) -> str:
        return f"{self.container}/{self.id}.zip"


class ExportStore:
    """Every tenant's export jobs, and the settings new jobs take (thread-safe)."""

    def __init__(self, config: ExportConfig, key: bytes) -> None:
        self._lock = threading.Lock()
        self._config = config
        self._key = key
        self._jobs: dict[str, ExportJob] = {}
        self._blobs: dict[str, ExportJob] = {}  # by blob name
        self.blob_base = ""  # the storage host's base URL, set when the simulator starts

    @property
    def config(self) -> ExportConfig:
        return self._config

    def configure(self, config: ExportConfig) -> None:
        """Settings for jobs created from now on."""
        with self._lock:
            self._config = config

    def create(
        self, tenant: str, request: dict[str, Any], plan: ReportPlan, intune: Intune
    ) -> ExportJob:
        job = ExportJob(
            id=f"{plan.name}_{uuid.uuid4()}",  # as in Microsoft's example: Devices_05e62361-...
            tenant=tenant,
            request=request,
            plan=plan,
            intune=intune,
            config=self._config,
            requested=datetime.now(UTC),
            created=time.monotonic(),
        )
        with self._lock:
            self._jobs[job.id.lower()] = job
            self._blobs[job.blob_name] = job
        return job

    def get(self, tenant: str, job_id: str) -> ExportJob | None:
        with self._lock:
            job = self._jobs.get(job_id.lower())
        return job if job is not None and job.tenant == tenant else None

    def poll(self, job: ExportJob) -> str:
        """The job's status now; a read of the job counts as one poll."""
        with self._lock:
            job.polls += 1
            config = job.config
            step = job.polls if config.advance == "polls" else time.monotonic() - job.created
            if step <= config.not_started:
                return "notStarted"
            if step <= config.not_started + config.in_progress:
                return "inProgress"
            if job.expires is None:
                # A SAS expiry (`se`) is whole seconds: rounded up, so that a URL lives at
                # least its lifetime rather than up to a second less.
                ends = datetime.now(UTC) + timedelta(seconds=config.url_lifetime_seconds)
                job.expires = ends.replace(microsecond=0) + timedelta(
                    seconds=1 if ends.microsecond else 0)
            return config.outcome

    def url(self, job: ExportJob) -> str:
        """The signed download URL of a completed job."""
        assert job.expires is not None
        expiry = job.expires.strftime("%Y-%m-%dT%H:%M:%SZ")
        query = (
            f"sv={SAS_VERSION}&sr=b&sig={quote(self.signature(job.blob_name, expiry), safe='')}"
            f"&se={quote(expiry, safe='')}&sp=r"
        )
        return f"{self.blob_base}/{job.blob_name}?{query}"

    def signature(self, blob_name: str, expiry: str) -> str:
        digest = hmac.new(self._key, f"{blob_name}\n{expiry}".encode(), hashlib.sha256)
        return base64.b64encode(digest.digest()).decode("ascii")

    def blob(self, blob_name: str) -> ExportJob | None:
        with self._lock:
            return self._blobs.get(blob_name)

    def content(self, job: ExportJob) -> bytes:
        """The job's zip (rendered once; concurrent first downloads may both render it)."""
        if job.blob is None:
            fmt = str(job.request["format"])
            job.blob = render_zip(job.id, job.intune, job.plan, fmt)
        return job.blob
