"""A tenant's security groups by name, so that a portal chooses the level-0 group of a tenant
consented without one (no pasting of object IDs)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from functions.clients.graph import GraphClient
from functions.core.errors import GraphError, InputError, TenantError

# "List groups" (v1.0): GroupMember.Read.All, which the directory sync has, lists groups.
SELECT = "id,displayName,description"


@dataclass(frozen=True)
class GroupChoice:
    id: str
    name: str
    description: str


GroupPage = tuple[list[GroupChoice], str | None]  # (groups, next page's token)


def security_groups(graph: GraphClient, tenant_id: str, *, name_prefix: str | None,
                    page_size: int, continuation: str | None) -> GroupPage:
    """One page of the tenant's security groups (``name_prefix``: whose name starts with it,
    in any case) and the next page's token.

    Raises:
        InputError: ``invalid_continuation`` (a token that is not ours).
        TenantError: Graph refused (``permission_missing``) or failed.
    """
    if continuation:
        url = _decode(continuation, graph.base_url)
        params = None
    else:
        flt = "securityEnabled eq true"
        if name_prefix:
            # OData string literal: a single quote is written twice.
            flt += f" and startswith(displayName,'{name_prefix.replace(chr(39), chr(39) * 2)}')"
        # "List groups": pages of at most 999.
        url, params = "/groups", {"$filter": flt, "$select": SELECT,
                                  "$top": str(min(page_size, 999))}
    try:
        body = graph.get(url, params)
    except GraphError as exc:
        if exc.status in (401, 403):
            raise TenantError(
                f"The app may not list the groups of tenant {tenant_id}: give it the "
                "application permission GroupMember.Read.All and grant admin consent.",
                code="permission_missing") from None
        raise TenantError(f"Listing the groups of tenant {tenant_id} failed: {exc.message}",
                          code=exc.code) from None
    groups = [GroupChoice(str(g.get("id") or "").lower(), str(g.get("displayName") or ""),
                          str(g.get("description") or ""))
              for g in body.get("value") or []]
    next_link = body.get("@odata.nextLink")
    return groups, _encode(str(next_link)) if next_link else None


def _encode(next_link: str) -> str:
    return base64.urlsafe_b64encode(next_link.encode()).decode().rstrip("=")


def _decode(token: str, graph_url: str) -> str:
    try:
        url = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, binascii.Error):
        url = ""
    # A token must be a nextLink of /groups (the sender's host rule guards the token too).
    if len(token) > 4096 or not url.startswith(graph_url + "/groups?"):
        raise InputError("continuationToken is not one this list gave: start from the first "
                         "page", code="invalid_continuation")
    return url
