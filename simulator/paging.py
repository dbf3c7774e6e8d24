"""Opaque skip tokens for paged listings (Graph members, Key Vault lists)."""

from __future__ import annotations

import binascii
from dataclasses import dataclass

from .tokens import b64url, b64url_decode


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts (`offset`) and which page it is (1-based)."""

    offset: int
    page: int


def encode(marker: str, cursor: Cursor) -> str:
    """An opaque token; `marker` ties it to one simulator instance."""
    return b64url(f"sim1|{marker}|{cursor.page}|{cursor.offset}".encode("ascii"))


def decode(marker: str, token: str) -> Cursor | None:
    """The cursor in `token`, or None if the token is not one of ours."""
    try:
        text = b64url_decode(token).decode("ascii")
    except (binascii.Error, ValueError):
        return None
    parts = text.split("|")
    if len(parts) != 4 or parts[0] != "sim1" or parts[1] != marker:
        return None
    if not (parts[2].isdigit() and parts[3].isdigit()):
        return None
    page, offset = int(parts[2]), int(parts[3])
    return Cursor(offset=offset, page=page) if page >= 2 else None


def start_of(marker: str, token: str | None) -> Cursor | None:
    """Where a request's page starts: the first page without a token, None if the token is
    not one of ours."""
    return Cursor(offset=0, page=1) if token is None else decode(marker, token)


def page_of(marker: str, token: str | None) -> int | None:
    """Page number of a request: 1 without a token, None if the token is invalid."""
    start = start_of(marker, token)
    return start.page if start else None
