"""The storage host behind export jobs' `url`s: a second HTTPS listener, like Azure Blob
Storage serving a blob through a SAS URL.

It answers only `GET`/`HEAD /{container}/{job id}.zip?sv=..&sr=b&sig=..&se=..&sp=r`, with
Azure Storage's XML errors: a request carrying an `Authorization` header (a bearer token
leaking to storage), a missing, forged or expired signature, or another method is refused.
Faults and the simulated latency apply here too; requests count as `storage.export`.
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape

from .faults import evaluate
from .server import TLSServer, make_server
from .state import SimState
from .wire import Request, Response

KIND = "storage.export"
_AUTH_FAILED = (
    "Server failed to authenticate the request. Make sure the value of Authorization header "
    "is formed correctly including the signature."
)


def storage_error(
    req: Request, status: int, code: str, message: str, detail: str | None = None
) -> Response:
    """An Azure Storage error: XML `<Error><Code/><Message/>...</Error>` and x-ms-error-code."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
    text = f"{message}\nRequestId:{req.request_id}\nTime:{stamp}"
    extra = ""
    if detail is not None:
        extra = f"<AuthenticationErrorDetail>{escape(detail)}</AuthenticationErrorDetail>"
    body = (
        '<?xml version="1.0" encoding="utf-8"?><Error>'
        f"<Code>{escape(code)}</Code><Message>{escape(text)}</Message>{extra}</Error>"
    )
    headers = {"Content-Type": "application/xml", "x-ms-error-code": code}
    return Response(status, body.encode("utf-8"), headers)


def _http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


def _download(state: SimState, req: Request) -> Response:
    query = req.query
    name = req.path.lstrip("/")
    if req.header("authorization"):
        # A bearer token sent to a SAS URL: storage does not take both (status and code (?)).
        return storage_error(
            req,
            400,
            "InvalidAuthenticationInfo",
            "Authentication information is not given in the correct format. Check the value "
            "of Authorization header.",
        )
    signature, expiry = query.get("sig"), query.get("se")
    if signature is None or expiry is None:
        # An anonymous request for a blob of a private container looks like a missing blob.
        return storage_error(req, 404, "ResourceNotFound", "The specified resource does not exist.")
    expected = state.exports.signature(name, expiry)
    intact = query.get("sr") == "b" and query.get("sp") == "r" and query.get("sv")
    if not intact or not hmac.compare_digest(signature, expected):
        return storage_error(
            req, 403, "AuthenticationFailed", _AUTH_FAILED, "Signature did not match."
        )
    now = datetime.now(UTC)
    ends = datetime.strptime(expiry, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    if now >= ends:
        detail = (
            "Signature not valid in the specified time frame: Start [] - Expiry "
            f"[{_http_date(ends)}] - Current [{_http_date(now)}]"
        )
        return storage_error(req, 403, "AuthenticationFailed", _AUTH_FAILED, detail)
    if req.method not in ("GET", "HEAD"):
        return storage_error(
            req,
            403,
            "AuthorizationPermissionMismatch",
            "This request is not authorized to perform this operation using this permission.",
        )
    job = state.exports.blob(name)
    if job is None:
        return storage_error(req, 404, "BlobNotFound", "The specified blob does not exist.")
    content = state.exports.content(job)
    headers = {
        "Content-Type": "application/octet-stream",
        "x-ms-blob-type": "BlockBlob",
        "x-ms-version": str(query.get("sv")),
        "ETag": f'"0x{hashlib.sha256(job.id.encode()).hexdigest()[:15].upper()}"',
        "Last-Modified": _http_date(job.requested),
    }
    return Response(200, content, headers)


def dispatch(state: SimState, req: Request) -> Response:
    """Answer one request to the storage host: faults, then the download, then latency."""
    state.count_request(req.method, KIND)
    with state.lock:
        outcome = evaluate(state.faults, req.method, req.path, None, 1)
        delay = state.latency + outcome.delay
    fault = outcome.answer
    if fault is not None and fault.kind == "drop":
        return Response(0, drop=True)
    if fault is not None:
        response = storage_error(req, fault.status, fault.error_code, fault.error_message)
        if fault.retry_after is not None:
            response.headers["Retry-After"] = f"{fault.retry_after:g}"
    else:
        response = _download(state, req)
    remaining = delay - (time.monotonic() - req.arrived)
    if remaining > 0:
        time.sleep(remaining)
    state.count_response(response.status)
    return response


class StorageHost:
    """The storage listener: another host than Graph's, as a storage account's is
    (`localhost`, which the certificate names too, on a port of its own)."""

    def __init__(self, state: SimState) -> None:
        self._state = state
        self._server: TLSServer | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("simulator not started")
        return self._server.base_url

    def start(self, host: str, context: ssl.SSLContext) -> None:
        """Bind a free port on `host` and serve in a daemon thread."""
        server = make_server(host, 0, context, lambda req, _client: dispatch(self._state, req))
        server.base_url = f"https://localhost:{server.server_address[1]}"
        self._state.exports.blob_base = server.base_url
        self._server = server
        threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="simulator-storage",
            daemon=True,
        ).start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.close_connections()
            server.server_close()
