"""The one way a request reaches Graph or Partner Center: the bearer token, the hosts it may
go to, retries under one budget, the process's request slots and the run's counts.

Every reader sends through a :class:`GraphSender` (a :class:`~functions.clients.graph.
GraphClient` holds one; paginators and ``$batch`` use it), so these rules live here only:

- the bearer token goes only to the configured host (Graph, or Partner Center for the
  partner discovery's client) and to the hosts its caller names; an absolute URL to any
  other host is refused (``graph_bad_next_link``) before anything is sent;
- a redirect is not followed (``graph_error``): the token would go where it points;
- 429, 503, 504 and dropped connections (an answer cut off included) are retried
  honouring ``Retry-After`` up to the policy's ``max_wait``; every retry spends from the
  :class:`RetryBudget` of the request or of the walk it belongs to.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlsplit

import orjson
import requests
import urllib3

from functions.clients.identity import send_settings
from functions.clients.retry import RetryBudget, RetryPolicy
from functions.core.errors import ErrorCode, GraphError, GraphThrottledError

log = logging.getLogger("tenantsync.graph")


@dataclass
class RequestStats:
    """Requests one client made, for a run's counts."""

    requests: int = 0
    throttled: int = 0
    retries: int = 0
    batched: int = 0  # requests sent inside $batch requests (each counts once above)


def retry_after_seconds(response: requests.Response) -> float | None:
    """Parse ``Retry-After`` as seconds; Graph sends seconds, possibly fractional."""
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def _error_fields(response: requests.Response) -> tuple[str, str, str]:
    """Graph's error code, message and request id from an error response."""
    request_id = response.headers.get("request-id", "")
    try:
        body = response.json()
    except ValueError:
        return "", response.reason or "", request_id
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(body, dict) and error is None and "description" in body:
        # Partner Center's error shape: {"code": N, "description": "...", "source": ...}.
        return str(body.get("code") or ""), str(body.get("description") or ""), request_id
    if not isinstance(error, dict):
        return "", response.reason or "", request_id
    inner = error.get("innerError") or {}
    if isinstance(inner, dict):
        request_id = inner.get("request-id") or request_id
    return str(error.get("code") or ""), str(error.get("message") or ""), request_id


def _read_all(response: requests.Response) -> bytes:
    """The whole body in one read (``Response.content`` reads it 10 kB at a time), decoded
    as requests would; the connection goes back to the pool once the body is read. A
    connection lost or timed out mid-body is a dropped connection (retried)."""
    try:
        content: bytes = response.raw.read(decode_content=True)
    except (urllib3.exceptions.ProtocolError, urllib3.exceptions.ReadTimeoutError,
            urllib3.exceptions.SSLError) as exc:
        raise requests.ConnectionError(f"The answer was cut off ({type(exc).__name__})",
                                       response=response) from None
    except urllib3.exceptions.DecodeError as exc:  # as Response.content raises it
        raise requests.exceptions.ContentDecodingError(exc, response=response) from None
    response._content = content  # what response.json() and .text read
    return content


def host_of(url: str) -> str:
    """``host:port`` of an https URL, lower case, the default port written out."""
    parts = urlsplit(url)
    return f"{(parts.hostname or '').lower()}:{parts.port or 443}"


class GraphSender:
    """Sends requests with the bearer token of one app in one tenant to the allowed hosts."""

    def __init__(
        self, base_url: str, token: Callable[[], str], session: requests.Session, *,
        retry: RetryPolicy, timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep, stats: RequestStats | None = None,
        slots: AbstractContextManager[Any] | None = None, hosts: Iterable[str] = (),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry
        self.stats = stats if stats is not None else RequestStats()
        self._hosts = frozenset({host_of(self.base_url), *(host_of(h) for h in hosts)})
        self._token = token
        self._session = session
        self._timeout = timeout
        self._sleep = sleep
        self._lock = threading.Lock()
        # Shared by every client of a process: at most that many Graph requests in flight,
        # whatever the number of tenants syncing. Held for the request only, never while a
        # retry waits, so a throttled tenant does not hold back the others.
        self._slots: AbstractContextManager[Any] = slots if slots is not None else nullcontext()

    def token(self) -> str:
        return self._token()

    # --- the host rule -------------------------------------------------------------------

    def url_for(self, path_or_url: str) -> str:
        """The absolute URL of a path (under the base URL) or of a link a service gave.

        Raises:
            GraphError: ``graph_bad_next_link`` for a URL that is not https or whose host is
            not one this sender may send its token to.
        """
        if "://" not in path_or_url:
            return self.base_url + ("" if path_or_url.startswith("/") else "/") + path_or_url
        if not path_or_url.startswith("https://") or host_of(path_or_url) not in self._hosts:
            # Our bearer token goes only to the configured host and the ones named for it.
            raise GraphError(
                f"A link to {urlsplit(path_or_url).hostname or 'an unknown host'} was refused: "
                "the bearer token goes only to the configured Graph or Partner Center host",
                status=0, code=ErrorCode.GRAPH_BAD_NEXT_LINK)
        return path_or_url

    def relative(self, link: str) -> str:
        """A link as a URL relative to the base URL (what a ``$batch`` request carries).

        Raises:
            GraphError: ``graph_bad_next_link`` for a link to another host or outside the
            base URL's version.
        """
        url = self.url_for(link)
        prefix = self.base_url + "/"
        if "://" in link and not url.startswith(prefix):
            raise GraphError("A link outside the Graph version in use was refused", status=0,
                             code=ErrorCode.GRAPH_BAD_NEXT_LINK)
        return url[len(self.base_url):]

    # --- counting ------------------------------------------------------------------------

    def count(self, *, throttled: bool = False, retry: bool = False) -> None:
        with self._lock:
            if throttled:
                self.stats.throttled += 1
            elif retry:
                self.stats.retries += 1
            else:
                self.stats.requests += 1

    def count_batched(self, count: int, *, throttled: int = 0) -> None:
        """Count requests answered inside a ``$batch`` (and how many of them were 429s)."""
        with self._lock:
            self.stats.batched += count
            self.stats.throttled += throttled

    # --- sending -------------------------------------------------------------------------

    def send(
        self, method: str, path_or_url: str, params: Mapping[str, str] | None = None, *,
        headers: Mapping[str, str] | None = None, body: bytes | None = None,
        digest: Any = None, budget: RetryBudget | None = None,
    ) -> dict[str, Any]:
        """Send one request (retried under ``budget``, a fresh one if None) and return its
        JSON answer; ``digest`` is updated with a successful answer's bytes.

        Raises:
            GraphError: ``graph_bad_next_link`` (a host the token may not go to), an error
            status, or ``graph_unreachable`` (a transport failure that did not clear).
            GraphThrottledError: still throttled when the budget ran out.
        """
        url = self.url_for(path_or_url)
        budget = budget if budget is not None else self.retry.budget()
        attempts = 0
        while True:
            attempts += 1
            self.count()
            try:
                response, content = self._exchange(method, url, params, headers, body)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if not budget.may_retry():
                    raise GraphError(
                        f"Graph could not be reached after {attempts} attempts "
                        f"({type(exc).__name__})", status=0, code="graph_unreachable",
                    ) from None
                self.count(retry=True)
                self._sleep(budget.spend(None))
                continue
            if 300 <= response.status_code < 400:
                # Not followed: where a redirect points is not a host this sender checked.
                raise GraphError(
                    f"Graph answered {response.status_code} (a redirect), which is not "
                    "followed: the bearer token goes only to the configured host",
                    status=response.status_code,
                    request_id=response.headers.get("request-id", ""))
            if response.status_code < 300:
                if digest is not None:
                    digest.update(content)  # the body as sent, for change checks
                # orjson: a page of 1,000 devices decodes in about half json's time.
                answer: dict[str, Any] = orjson.loads(content) if content else {}  # 204
                return answer
            graph_code, message, request_id = _error_fields(response)
            if (self.retry.retriable(response.status_code)
                    and budget.may_retry(status=response.status_code)):
                self.count(throttled=response.status_code == 429, retry=True)
                log.info("graph retry", extra={"status": response.status_code,
                                               "attempt": attempts, "request_id": request_id})
                # Graph's throttling guidance: wait the Retry-After seconds, then retry.
                self._sleep(budget.spend(retry_after_seconds(response)))
                continue
            if response.status_code == 429:
                self.count(throttled=True)
                raise GraphThrottledError(
                    f"Graph kept throttling (429 {graph_code or 'TooManyRequests'}) after "
                    f"{attempts} attempts; the next run will try again",
                    status=429, graph_code=graph_code, request_id=request_id,
                )
            raise GraphError(
                f"Graph answered {response.status_code} {graph_code}: {message}".rstrip(": "),
                status=response.status_code, graph_code=graph_code, request_id=request_id,
            )

    def _exchange(
        self, method: str, url: str, params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None, body: bytes | None,
    ) -> tuple[requests.Response, bytes]:
        # The session's headers first, the caller's over them, as Session.prepare_request
        # merges them; but prepared directly: a bearer-token API has no cookies, session
        # auth or .netrc to merge, and that merging was a fifth of a request's CPU.
        signed = {**self._session.headers, **(headers or {}),
                  "Authorization": f"Bearer {self._token()}"}
        if body is not None:
            signed["Content-Type"] = "application/json"
        # Prepared before taking a slot: a slot stands for a request on the wire (and in
        # Graph), not for requests' own work of building it. The session's verify wins over
        # REQUESTS_CA_BUNDLE, as in Session.request with verify given.
        # No query is given as "", not None: requests' check of None against its runtime
        # Protocol (_SupportsRead) is slow in Python 3.11, and this runs once a request.
        prepared = requests.PreparedRequest()
        prepared.prepare(method=method, url=url, headers=signed, data=body, params=params or "")
        sent = send_settings(self._session, prepared.url, verify=self._session.verify)
        # Sent with the session's own adapter (its pool, TLS trust and the proxies above),
        # not Session.send: it would store cookies, run hooks and follow redirects, none of
        # which a bearer-token API has; a redirect answer is refused in send().
        adapter = self._session.get_adapter(prepared.url or url)
        verify = sent["verify"]  # None only if the session's was: requests' default, True
        with self._slots:
            response = adapter.send(
                prepared, timeout=self._timeout, verify=True if verify is None else verify,
                cert=sent["cert"], proxies=sent["proxies"])
            return response, _read_all(response)

    def download(self, url: str, *, spool_bytes: int = 16 << 20) -> IO[bytes]:
        """Fetch a signed download URL (an export's zip on Azure Storage) into a file,
        rewound, and count it as a request. No bearer token is sent: the URL carries its own
        signature, and our token must never reach another host.

        Raises:
            GraphError: ``graph_<status>`` for an error answer (an expired URL is 403),
            ``graph_unreachable`` for a transport failure.
        """
        if not url.startswith("https://"):
            raise GraphError("A download URL that is not https was refused", status=0,
                             code=ErrorCode.GRAPH_BAD_NEXT_LINK)
        self.count()
        try:
            with self._slots, self._session.get(url, timeout=self._timeout,
                                                stream=True) as response:
                if response.status_code >= 400:
                    storage_code = response.headers.get("x-ms-error-code", "")
                    raise GraphError(
                        f"The download answered {response.status_code} {storage_code}".rstrip(),
                        status=response.status_code, graph_code=storage_code,
                    )
                # Returned open (rewound): the caller reads and closes it.
                spool: IO[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115
                    max_size=spool_bytes)
                for chunk in response.iter_content(chunk_size=1 << 16):
                    spool.write(chunk)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise GraphError(f"The download could not be read ({type(exc).__name__})",
                             status=0, code="graph_unreachable") from None
        spool.seek(0)
        return spool
