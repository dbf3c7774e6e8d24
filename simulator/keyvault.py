"""Azure Key Vault secrets (data plane), with the challenge-based authentication."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote, urlencode

from . import paging
from .fixture import SECRET_NAME
from .state import SimState
from .tokens import VAULT, bearer_claims, is_expired
from .vault_store import RECOVERABLE_DAYS, RECOVERY_LEVEL, SecretEntry, SecretVersion, VaultConflict
from .wire import Request, Response, json_response, vault_error

PREFIX = "/keyvault"
_MAX_RESULTS = 25


def _not_found(name: str, version: str = "") -> Response:
    shown = f"{name}/{version}" if version else name
    return vault_error(
        404,
        "SecretNotFound",
        f"A secret with (name/id) {shown} was not found in this key vault. If you recently "
        "deleted this secret you may be able to recover it using the correct recovery command. "
        "For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182",
    )


def _bad(message: str) -> Response:
    return vault_error(400, "BadParameter", message)


def _attributes(version: SecretVersion) -> dict[str, Any]:
    attrs: dict[str, Any] = {"enabled": version.enabled}
    if version.nbf is not None:
        attrs["nbf"] = version.nbf
    if version.exp is not None:
        attrs["exp"] = version.exp
    attrs.update(
        created=version.created,
        updated=version.updated,
        recoveryLevel=RECOVERY_LEVEL,
        recoverableDays=RECOVERABLE_DAYS,
    )
    return attrs


def _item(
    base: str, entry: SecretEntry, version: SecretVersion, *, versioned: bool
) -> dict[str, Any]:
    """A SecretItem (no value). `base` is the vault URL used in ids."""
    suffix = f"/{version.version}" if versioned else ""
    out: dict[str, Any] = {
        "id": f"{base}/secrets/{entry.name}{suffix}",
        "attributes": _attributes(version),
    }
    if version.content_type is not None:
        out["contentType"] = version.content_type
    if version.tags:
        out["tags"] = dict(version.tags)
    return out


def _bundle(
    base: str, entry: SecretEntry, version: SecretVersion, *, with_value: bool
) -> dict[str, Any]:
    out = _item(base, entry, version, versioned=True)
    if with_value:
        out = {"value": version.value, **out}
    return out


def _deleted_bundle(base: str, entry: SecretEntry) -> dict[str, Any]:
    deleted_at = entry.deleted_at or int(time.time())
    return {
        "recoveryId": f"{base}/deletedsecrets/{entry.name}",
        "deletedDate": deleted_at,
        "scheduledPurgeDate": deleted_at + RECOVERABLE_DAYS * 86400,
        **_bundle(base, entry, entry.latest, with_value=False),
    }


def _authenticate(state: SimState, req: Request) -> Response | None:
    """None if the request carries a valid vault token, else the 401/403 Key Vault sends."""
    with state.lock:
        tenant = state.vault_tenant()
        principals = set(state.world.vault_principals)
    challenge = {
        "WWW-Authenticate": f'Bearer authorization="{req.base_url}/{tenant}", resource="{VAULT}"'
    }
    header = req.header("authorization")
    if not header:
        return vault_error(
            401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.", challenge
        )
    claims = bearer_claims(state.signing_key, header)
    if claims is None:
        return vault_error(401, "Unauthorized", "AKV10022: Invalid token signature.", challenge)
    if is_expired(claims):
        return vault_error(401, "Unauthorized", "AKV10022: Token is expired.", challenge)
    if claims.get("aud") != VAULT:
        return vault_error(401, "Unauthorized", "AKV10022: Invalid audience.", challenge)
    if claims.get("tid") != tenant:
        return vault_error(
            401, "Unauthorized", "AKV10032: Invalid issuer. Expected the vault's tenant.", challenge
        )
    if claims.get("appid") not in principals:
        return vault_error(
            403,
            "Forbidden",
            "Caller is not authorized to perform action on resource. "
            f"Caller: appid={claims.get('appid')}.",
        )
    return None


def _page_bounds(state: SimState, req: Request) -> tuple[int, int, int] | Response:
    """(offset, page, size) of a list request, or a 400."""
    raw = req.query.get("maxresults", str(_MAX_RESULTS))
    if not raw.isdigit() or not 1 <= int(raw) <= _MAX_RESULTS:
        return _bad(f"Invalid value for maxresults: '{raw}'. Must be between 1 and {_MAX_RESULTS}.")
    token = req.query.get("$skiptoken")
    if token is None:
        return 0, 1, int(raw)
    cursor = paging.decode(state.marker, token)
    if cursor is None:
        return _bad("The $skiptoken is not valid.")
    return cursor.offset, cursor.page, int(raw)


def _list(
    state: SimState, req: Request, items: list[dict[str, Any]], bounds: tuple[int, int, int]
) -> Response:
    offset, page, size = bounds
    body: dict[str, Any] = {"value": items[offset : offset + size], "nextLink": None}
    if offset + size < len(items):
        params = [
            ("api-version", req.query.get("api-version", "")),
            ("$skiptoken", paging.encode(state.marker, paging.Cursor(offset + size, page + 1))),
            ("maxresults", str(size)),
        ]
        body["nextLink"] = (
            f"{req.base_url}{req.path}?{urlencode(params, safe='$', quote_via=quote)}"
        )
    return json_response(200, body)


def _parse_attributes(raw: object) -> dict[str, Any] | Response:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        return _bad("'attributes' must be an object.")
    out: dict[str, Any] = {}
    if "enabled" in raw and raw["enabled"] is not None:
        if not isinstance(raw["enabled"], bool):
            return _bad("'attributes.enabled' must be a boolean.")
        out["enabled"] = raw["enabled"]
    for name in ("nbf", "exp"):
        if name in raw:
            value = raw[name]
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                return _bad(f"'attributes.{name}' must be a Unix time in seconds.")
            out[name] = value
    return out


def _parse_tags(raw: object) -> dict[str, str] | Response:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        return _bad("'tags' must be an object of strings.")
    if len(raw) > 15:
        return _bad("A secret can have at most 15 tags.")
    return {str(k): v for k, v in raw.items()}


def _body(req: Request) -> dict[str, Any] | Response:
    try:
        body = req.json_body()
    except ValueError:
        return _bad("The request body is not valid JSON.")
    if not isinstance(body, dict):
        return _bad("The request body must be a JSON object.")
    return body


def handle(state: SimState, req: Request) -> Response:
    """Route a Key Vault request (under /keyvault, or at the root as in real vault URLs)."""
    denied = _authenticate(state, req)
    if denied is not None:
        return denied
    if not req.query.get("api-version"):
        return _bad("The 'api-version' query parameter is missing.")
    path = req.path[len(PREFIX) :] if req.path.startswith(PREFIX + "/") else req.path
    segments = path.lstrip("/").split("/")
    if len(segments) == 2 and segments[1] == "":
        segments.pop()  # "/secrets/" is the collection; "/secrets/{name}/" is the latest version
    collection = segments[0]
    name = segments[1] if len(segments) > 1 else None
    if name is not None and not SECRET_NAME.match(name):
        return _bad(f"The request URI contains an invalid name: {name}")
    base = req.base_url  # ids use the root: the SDK parses them as /secrets/{name}/{version}
    with state.lock:
        if collection == "secrets":
            return _secrets(state, req, base, segments)
        if collection == "deletedsecrets":
            return _deleted(state, req, base, segments)
    return vault_error(
        404, "NotFound", f"The requested path '{req.path}' is not part of the simulated vault."
    )


def _secrets(state: SimState, req: Request, base: str, segments: list[str]) -> Response:
    method = req.method
    if len(segments) == 1:
        if method != "GET":
            return vault_error(405, "MethodNotAllowed", f"{method} is not allowed here.")
        bounds = _page_bounds(state, req)
        if isinstance(bounds, Response):
            return bounds
        entries = list(state.vault.live.values())
        return _list(
            state, req, [_item(base, e, e.latest, versioned=False) for e in entries], bounds
        )
    name = segments[1]
    if len(segments) == 2 and method == "PUT":
        return _set(state, req, base, name)
    entry = state.vault.get(name)
    if len(segments) == 2 and method == "DELETE":
        deleted = state.vault.delete(name)
        return (
            _not_found(name)
            if deleted is None
            else json_response(200, _deleted_bundle(base, deleted))
        )
    if entry is None:
        return _not_found(name)
    if len(segments) == 3 and segments[2] == "versions" and method == "GET":
        bounds = _page_bounds(state, req)
        if isinstance(bounds, Response):
            return bounds
        return _list(
            state, req, [_item(base, entry, v, versioned=True) for v in entry.versions], bounds
        )
    version_id = segments[2] if len(segments) == 3 else ""
    if len(segments) > 3:
        return vault_error(404, "NotFound", "Unknown path.")
    version = entry.find(version_id)
    if version is None:
        return _not_found(name, version_id)
    if method == "GET":
        if not version.enabled:
            return vault_error(
                403, "Forbidden", "Operation get is not allowed on a disabled secret."
            )
        return json_response(200, _bundle(base, entry, version, with_value=True))
    if method == "PATCH":
        return _update(req, base, entry, version)
    return vault_error(405, "MethodNotAllowed", f"{method} is not allowed here.")


def _set(state: SimState, req: Request, base: str, name: str) -> Response:
    body = _body(req)
    if isinstance(body, Response):
        return body
    value = body.get("value")
    if not isinstance(value, str):
        return _bad("'value' is required and must be a string.")
    if len(value.encode("utf-8")) > 25 * 1024:
        return _bad("The secret value is larger than 25 KB.")
    content_type = body.get("contentType")
    if content_type is not None and not isinstance(content_type, str):
        return _bad("'contentType' must be a string.")
    attrs = _parse_attributes(body.get("attributes"))
    tags = _parse_tags(body.get("tags"))
    if isinstance(attrs, Response):
        return attrs
    if isinstance(tags, Response):
        return tags
    try:
        entry, version = state.vault.set(
            name,
            value,
            content_type,
            tags,
            attrs.get("enabled", True),
            attrs.get("nbf"),
            attrs.get("exp"),
        )
    except VaultConflict:
        return vault_error(
            409,
            "Conflict",
            f"Secret {name} is currently in a deleted but recoverable state, and its name cannot "
            "be reused; in this state, the secret can only be recovered or purged.",
        )
    return json_response(200, _bundle(base, entry, version, with_value=True))


def _update(req: Request, base: str, entry: SecretEntry, version: SecretVersion) -> Response:
    body = _body(req)
    if isinstance(body, Response):
        return body
    attrs = _parse_attributes(body.get("attributes"))
    if isinstance(attrs, Response):
        return attrs
    if "tags" in body:
        tags = _parse_tags(body["tags"])
        if isinstance(tags, Response):
            return tags
        version.tags = tags
    if "contentType" in body:
        if body["contentType"] is not None and not isinstance(body["contentType"], str):
            return _bad("'contentType' must be a string.")
        version.content_type = body["contentType"]
    version.enabled = attrs.get("enabled", version.enabled)
    version.nbf = attrs.get("nbf", version.nbf)
    version.exp = attrs.get("exp", version.exp)
    version.updated = int(time.time())
    return json_response(200, _bundle(base, entry, version, with_value=False))


def _deleted(state: SimState, req: Request, base: str, segments: list[str]) -> Response:
    method = req.method
    if len(segments) == 1 and method == "GET":
        bounds = _page_bounds(state, req)
        if isinstance(bounds, Response):
            return bounds
        return _list(
            state, req, [_deleted_bundle(base, e) for e in state.vault.deleted.values()], bounds
        )
    if len(segments) < 2:
        return vault_error(405, "MethodNotAllowed", f"{method} is not allowed here.")
    name = segments[1]
    entry = state.vault.get_deleted(name)
    if entry is None:
        return vault_error(404, "SecretNotFound", f"Deleted Secret not found: {name}")
    if len(segments) == 2 and method == "GET":
        return json_response(200, _deleted_bundle(base, entry))
    if len(segments) == 2 and method == "DELETE":
        state.vault.purge(name)
        return Response(204)
    if len(segments) == 3 and segments[2] == "recover" and method == "POST":
        recovered = state.vault.recover(name)
        assert recovered is not None
        return json_response(200, _bundle(base, recovered, recovered.latest, with_value=False))
    return vault_error(405, "MethodNotAllowed", f"{method} is not allowed here.")
