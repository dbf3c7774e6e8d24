"""Walks through paged collections: one class per paging style, each with a loop guard.

A walk is every page of one listing. Its requests share one retry budget, each link it
follows passes the sender's host rule, and a link it followed before ends the walk with
``graph_paging_loop`` instead of reading the same pages forever. A reader that meets any of
these errors treats the listing as incomplete, as it does any failed page.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from functions.clients.retry import RetryBudget
from functions.clients.sender import GraphSender
from functions.core.errors import ErrorCode, GraphError


class LinkGuard:
    """The links one walk followed: each must go to a host the token may go to, and none
    may come twice."""

    def __init__(self, sender: GraphSender) -> None:
        self._sender = sender
        self._seen: set[str] = set()

    def _once(self, key: str) -> None:
        if key in self._seen:
            raise GraphError(
                "The service returned a next link this listing had already followed; the "
                "read stops here rather than loop (nothing is concluded from it)",
                status=0, code=ErrorCode.GRAPH_PAGING_LOOP)
        self._seen.add(key)

    def follow(self, link: str, *, key: str = "") -> str:
        """The absolute URL of ``link`` (``key``, if given, names the page for the loop
        check: a link whose meaning is also in its headers).

        Raises:
            GraphError: ``graph_bad_next_link`` (another host) or ``graph_paging_loop``.
        """
        url = self._sender.url_for(link)
        self._once(key or url)
        return url

    def follow_relative(self, link: str) -> str:
        """``link`` relative to the Graph version, for a request inside a ``$batch``.

        Raises:
            GraphError: ``graph_bad_next_link`` (another host) or ``graph_paging_loop``.
        """
        url = self._sender.relative(link)
        self._once(url)
        return url


@dataclass(frozen=True)
class PageRequest:
    """The request for one page: a path or an absolute link, its query and headers."""

    url: str
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


class PageWalk(ABC):
    """Iterating a walk yields each page's items; ``bodies`` yields the whole answers.

    ``before_page`` is called before each page is requested (a pacer's grant, say).
    """

    def __init__(
        self, sender: GraphSender, path: str, params: Mapping[str, str] | None = None, *,
        digest: Any = None, before_page: Callable[[], object] | None = None,
    ) -> None:
        self._sender = sender
        self._first = PageRequest(path, params)
        self._digest = digest
        self._before_page = before_page
        self.budget: RetryBudget = sender.retry.budget()  # one for every page of the walk
        self.links = LinkGuard(sender)

    def bodies(self) -> Iterator[dict[str, Any]]:
        """Each page's JSON answer, in order.

        Raises:
            GraphError: a page failed, a link went to another host, or a link repeated.
        """
        request: PageRequest | None = self._first
        while request is not None:
            if self._before_page is not None:
                self._before_page()
            body = self._sender.send("GET", request.url, request.params,
                                     headers=request.headers or None, digest=self._digest,
                                     budget=self.budget)
            yield body
            request = self.advance(body)

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        for body in self.bodies():
            yield self.items(body)

    @abstractmethod
    def advance(self, body: dict[str, Any]) -> PageRequest | None:
        """The request for the page after ``body``; None after the last page."""

    @abstractmethod
    def items(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The items of one page."""


class ODataPages(PageWalk):
    """Graph's paging: follow ``@odata.nextLink`` until a page has none. The link already
    carries the query, so it is requested as it is."""

    def advance(self, body: dict[str, Any]) -> PageRequest | None:
        link = body.get("@odata.nextLink")
        return PageRequest(self.links.follow(str(link))) if link else None

    def items(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return list(body.get("value") or [])


class SeekPages(PageWalk):
    """Partner Center's paging: ``links.next`` gives a seek uri and the headers (the
    ``MS-ContinuationToken``) to send with it; the last page has no ``next``."""

    def advance(self, body: dict[str, Any]) -> PageRequest | None:
        following = (body.get("links") or {}).get("next")
        if not following:
            return None
        headers = {str(h["key"]): str(h["value"]) for h in following.get("headers") or []}
        uri = str(following["uri"])
        # The seek uri repeats from page to page: a page is its uri with its headers.
        key = uri + "\n" + "\n".join(f"{k}:{v}" for k, v in sorted(headers.items()))
        return PageRequest(self.links.follow(uri, key=key), None, headers)

    def items(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return list(body.get("items") or [])
