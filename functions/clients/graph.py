"""A small Microsoft Graph client on ``requests``: paging, retries and typed errors."""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlsplit

import orjson
import requests

from functions.clients.claims import token_roles
from functions.clients.retry import RETRIABLE_STATUSES, RetryPolicy
from functions.core.config import Settings
from functions.core.errors import GraphError, GraphThrottledError

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
    if not isinstance(error, dict):
        return "", response.reason or "", request_id
    inner = error.get("innerError") or {}
    if isinstance(inner, dict):
        request_id = inner.get("request-id") or request_id
    return str(error.get("code") or ""), str(error.get("message") or ""), request_id


class GraphClient:
    """GET requests to Graph with bearer tokens, nextLink paging and bounded retries.

    Retries 429, 503 and 504 (and dropped connections) honouring ``Retry-After``, capped at
    ``max_retry_wait`` with a little jitter; other errors raise :class:`GraphError` at once.
    """

    def __init__(
        self,
        base_url: str,
        token: Callable[[], str],
        session: requests.Session,
        *,
        max_retries: int = 6,
        max_retry_wait: float = 60.0,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        stats: RequestStats | None = None,
        slots: threading.Semaphore | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._host = urlsplit(self.base_url).netloc
        self._token = token
        self._session = session
        self._max_retries = max_retries
        self._max_retry_wait = max_retry_wait
        self._retry = RetryPolicy(max_retries, max_retry_wait)
        self._timeout = timeout
        self._sleep = sleep
        self._lock = threading.Lock()
        self.stats = stats if stats is not None else RequestStats()
        # Shared by every client of a process: at most that many Graph requests in flight,
        # whatever the number of tenants syncing. Held for the request only, never while a
        # retry waits, so a throttled tenant does not hold back the others.
        self._slots: AbstractContextManager[Any] = slots if slots is not None else nullcontext()

    @classmethod
    def configured(
        cls, settings: Settings, token: Callable[[], str], session: requests.Session,
        *, base_url: str | None = None, max_retries: int | None = None,
        stats: RequestStats | None = None, slots: threading.Semaphore | None = None,
    ) -> GraphClient:
        """A client with the deployment's endpoint, retry budget and timeout."""
        return cls(
            base_url or settings.graph_url, token, session,
            max_retries=settings.graph_max_retries if max_retries is None else max_retries,
            max_retry_wait=settings.graph_max_retry_wait, timeout=settings.graph_timeout,
            stats=stats, slots=slots,
        )

    def _count(self, *, throttled: bool = False, retry: bool = False) -> None:
        with self._lock:
            if throttled:
                self.stats.throttled += 1
            elif retry:
                self.stats.retries += 1
            else:
                self.stats.requests += 1

    def _wait(self, attempt: int, hinted: float | None) -> None:
        self._sleep(self._retry.wait(attempt, hinted))

    def count_batched(self, count: int, *, throttled: int = 0) -> None:
        """Count requests answered inside a ``$batch`` (and how many of them were 429s)."""
        with self._lock:
            self.stats.batched += count
            self.stats.throttled += throttled

    def roles(self) -> frozenset[str]:
        """The application permissions the app has in this tenant (its token's ``roles``).

        Raises:
            AuthenticationError: no token could be had.
        """
        return token_roles(self._token())

    def get(
        self, path_or_url: str, params: Mapping[str, str] | None = None,
        *, headers: Mapping[str, str] | None = None, digest: Any = None,
    ) -> dict[str, Any]:
        """GET one Graph resource and return its JSON body.

        Raises:
            GraphThrottledError: still throttled after the retry budget.
            GraphError: any other error status, or a transport failure that did not clear.
        """
        return self._send("GET", path_or_url, params, headers=headers, digest=digest)

    def post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST a JSON body to Graph (``$batch``, export jobs) and return the JSON answer.

        Retried as a GET is: 429, 503 and 504 (and transport failures), honouring
        ``Retry-After``. Raises as :meth:`get` does.
        """
        return self._send("POST", path, None, body=orjson.dumps(body))

    def _send(
        self, method: str, path_or_url: str, params: Mapping[str, str] | None, *,
        headers: Mapping[str, str] | None = None, body: bytes | None = None,
        digest: Any = None,
    ) -> dict[str, Any]:
        url = path_or_url if path_or_url.startswith("https://") else self.base_url + path_or_url
        attempt = 0
        while True:
            self._count()
            auth = {**(headers or {}), "Authorization": f"Bearer {self._token()}"}
            if body is not None:
                auth["Content-Type"] = "application/json"
            try:
                # Prepared before taking a slot: a slot stands for a request on the wire (and
                # in Graph), not for requests' own work of building it. The session's verify
                # wins over REQUESTS_CA_BUNDLE, as in Session.request with verify given.
                prepared = self._session.prepare_request(
                    requests.Request(method, url, params=params, headers=auth, data=body))
                sent = self._session.merge_environment_settings(
                    prepared.url, {}, None, self._session.verify, None)
                with self._slots:
                    response = self._session.send(prepared, timeout=self._timeout, **sent)
                content = response.content
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt >= self._max_retries:
                    raise GraphError(
                        f"Graph could not be reached after {attempt + 1} attempts "
                        f"({type(exc).__name__})",
                        status=0,
                        code="graph_unreachable",
                    ) from None
                self._count(retry=True)
                self._wait(attempt, None)
                attempt += 1
                continue
            if response.status_code < 400:
                if digest is not None:
                    digest.update(content)  # the body as sent, for change checks
                # orjson: a page of 1,000 devices decodes in about half json's time.
                answer: dict[str, Any] = orjson.loads(content)
                return answer
            graph_code, message, request_id = _error_fields(response)
            if (response.status_code in RETRIABLE_STATUSES
                    and self._retry.may_retry(attempt, status=response.status_code)):
                self._count(throttled=response.status_code == 429, retry=True)
                log.info(
                    "graph retry",
                    extra={"status": response.status_code, "attempt": attempt + 1,
                           "request_id": request_id},
                )
                self._wait(attempt, retry_after_seconds(response))
                attempt += 1
                continue
            if response.status_code == 429:
                self._count(throttled=True)
                raise GraphThrottledError(
                    f"Graph kept throttling (429 {graph_code or 'TooManyRequests'}) after "
                    f"{attempt + 1} attempts; the next run will try again",
                    status=429, graph_code=graph_code, request_id=request_id,
                )
            raise GraphError(
                f"Graph answered {response.status_code} {graph_code}: {message}".rstrip(": "),
                status=response.status_code, graph_code=graph_code, request_id=request_id,
            )

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
                             code="graph_bad_next_link")
        self._count()
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

    def pages(
        self, path: str, params: Mapping[str, str] | None = None, *, digest: Any = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield each page's ``value`` of a collection, following ``@odata.nextLink``.

        The nextLink already carries the query, so it is requested as is.
        """
        body = self.get(path, params, digest=digest)
        while True:
            yield list(body.get("value") or [])
            next_link = body.get("@odata.nextLink")
            if not next_link:
                return
            # Our bearer token goes only to the configured Graph host.
            if urlsplit(str(next_link)).netloc != self._host:
                raise GraphError(
                    "Graph returned a nextLink to another host; refusing to follow it",
                    status=0, code="graph_bad_next_link",
                )
            body = self.get(str(next_link), digest=digest)
