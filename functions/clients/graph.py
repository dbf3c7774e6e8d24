"""A small Microsoft Graph client on ``requests``: single requests and walks of pages, all
through one :class:`~functions.clients.sender.GraphSender` (token, host rule, retries)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from typing import IO, Any

import orjson
import requests

from functions.clients.claims import token_roles
from functions.clients.paging import ODataPages, SeekPages
from functions.clients.retry import RetryPolicy
from functions.clients.sender import GraphSender, RequestStats, retry_after_seconds
from functions.core.config import Settings

__all__ = ["GraphClient", "RequestStats", "retry_after_seconds"]


class GraphClient:
    """Requests to Graph (or Partner Center) as one app in one tenant.

    Retries 429, 503 and 504 (and dropped connections) honouring ``Retry-After``, capped at
    ``max_retry_wait`` with a little jitter, under one budget per request or per walk of
    pages; other errors raise :class:`GraphError` at once. The bearer token goes only to
    ``base_url``'s host and to ``hosts``.
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
        slots: AbstractContextManager[Any] | None = None,
        hosts: Iterable[str] = (),
    ) -> None:
        self.sender = GraphSender(
            base_url, token, session, retry=RetryPolicy(max_retries, max_retry_wait),
            timeout=timeout, sleep=sleep, stats=stats, slots=slots, hosts=hosts)
        self.base_url = self.sender.base_url
        self.stats = self.sender.stats

    @classmethod
    def configured(
        cls, settings: Settings, token: Callable[[], str], session: requests.Session,
        *, base_url: str | None = None, max_retries: int | None = None,
        stats: RequestStats | None = None, slots: AbstractContextManager[Any] | None = None,
    ) -> GraphClient:
        """A client with the deployment's endpoint (or ``base_url``: Partner Center's, for
        the partner discovery), retry budget and timeout."""
        return cls(
            base_url or settings.graph_url, token, session,
            max_retries=settings.graph_max_retries if max_retries is None else max_retries,
            max_retry_wait=settings.graph_max_retry_wait, timeout=settings.graph_timeout,
            stats=stats, slots=slots,
        )

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy of every request of this client, ``$batch``'s included."""
        return self.sender.retry

    def count_batched(self, count: int, *, throttled: int = 0) -> None:
        """Count requests answered inside a ``$batch`` (and how many of them were 429s)."""
        self.sender.count_batched(count, throttled=throttled)

    def roles(self) -> frozenset[str]:
        """The application permissions the app has in this tenant (its token's ``roles``).

        Raises:
            AuthenticationError: no token could be had.
        """
        return token_roles(self.sender.token())

    def get(
        self, path_or_url: str, params: Mapping[str, str] | None = None,
        *, headers: Mapping[str, str] | None = None, digest: Any = None,
    ) -> dict[str, Any]:
        """GET one Graph resource (a path, or a link Graph gave) and return its JSON body.

        Raises:
            GraphThrottledError: still throttled after the retry budget.
            GraphError: any other error status, a transport failure that did not clear, or
            ``graph_bad_next_link`` for a URL to a host the token may not go to.
        """
        return self.sender.send("GET", path_or_url, params, headers=headers, digest=digest)

    def post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST a JSON body to Graph (``$batch``, export jobs) and return the JSON answer.

        Retried as a GET is: 429, 503 and 504 (and transport failures), honouring
        ``Retry-After``. Raises as :meth:`get` does.
        """
        return self.sender.send("POST", path, None, body=orjson.dumps(body))

    def delete(self, path: str) -> None:
        """DELETE a Graph object (a removal of what tenantsync consented); retried and
        raising as :meth:`get` does (404: it is gone already)."""
        self.sender.send("DELETE", path)

    def download(self, url: str, *, spool_bytes: int = 16 << 20) -> IO[bytes]:
        """Fetch a signed download URL into a rewound file, without the bearer token (see
        :meth:`GraphSender.download`)."""
        return self.sender.download(url, spool_bytes=spool_bytes)

    def pages(
        self, path: str, params: Mapping[str, str] | None = None, *, digest: Any = None,
        before_page: Callable[[], object] | None = None,
    ) -> ODataPages:
        """A walk of a collection's pages (each page's ``value``), following
        ``@odata.nextLink``, with one retry budget and a loop guard."""
        return ODataPages(self.sender, path, params, digest=digest, before_page=before_page)

    def seek_pages(self, path: str, params: Mapping[str, str] | None = None) -> SeekPages:
        """A walk of a Partner Center collection's pages (each page's ``items``)."""
        return SeekPages(self.sender, path, params)
