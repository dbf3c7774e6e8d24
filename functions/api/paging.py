"""Paged lists: every list takes a bounded page size and a continuation token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000  # Table Storage returns at most 1,000 entities per request.
MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True)
class PageRequest:
    size: int
    token: str | None


def page_request(
    page_size: Annotated[int, Query(
        alias="pageSize", ge=1, le=MAX_PAGE_SIZE,
        description=f"Items per page, 1 to {MAX_PAGE_SIZE}",
    )] = DEFAULT_PAGE_SIZE,
    continuation_token: Annotated[str | None, Query(
        alias="continuationToken", min_length=1, max_length=MAX_TOKEN_LENGTH,
        description="The previous page's continuationToken",
    )] = None,
) -> PageRequest:
    return PageRequest(page_size, continuation_token)


PageParams = Annotated[PageRequest, Depends(page_request)]
