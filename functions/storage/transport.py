"""The HTTP transport of every storage client: azure-core's ``RequestsTransport`` over a
session that hands each prepared request straight to its adapter.

azure-core sends a request with ``Session.request``, which merges the session's cookies,
auth, hooks and settings into it and, once answered, stores the answer's cookies: a fifth of
a storage request's CPU (py-spy of the MSP benchmark), none of it of use here. A storage
request carries its own signature or bearer token (the pipeline's policies put them in),
storage sets no cookies, and azure-core never lets requests follow a redirect. What the
pipeline asks of the transport is unchanged: the same ``requests`` adapter (its pool, TLS
and no retries of its own, as azure-core mounts it), its errors, its responses.
"""

from __future__ import annotations

import uuid
from typing import Any

import requests
from azure.core.pipeline.transport import RequestsTransport
from requests.structures import CaseInsensitiveDict
from urllib3.util.retry import Retry

from functions.clients.identity import BareAdapter, send_settings


class DirectSession(requests.Session):
    """A session whose ``request`` prepares a plain request itself and sends it with the
    mounted adapter; a request that needs what ``Session.request`` adds (cookies, auth,
    hooks, JSON, redirects) goes the usual way."""

    def request(
        self, method: str | bytes, url: str | bytes, params: Any = None, data: Any = None,
        headers: Any = None, cookies: Any = None, files: Any = None, auth: Any = None,
        timeout: Any = None, allow_redirects: bool = True, proxies: Any = None,
        hooks: Any = None, stream: bool | None = None, verify: Any = None, cert: Any = None,
        json: Any = None,
    ) -> requests.Response:
        if (cookies or auth or hooks or json is not None or allow_redirects or self.cookies
                or self.auth or isinstance(method, bytes) or isinstance(url, bytes)):
            return super().request(
                method, url, params=params, data=data, headers=headers, cookies=cookies,
                files=files, auth=auth, timeout=timeout, allow_redirects=allow_redirects,
                proxies=proxies, hooks=hooks, stream=stream, verify=verify, cert=cert,
                json=json)
        merged: CaseInsensitiveDict[Any] = CaseInsensitiveDict(self.headers)
        merged.update(headers or {})
        prepared = requests.PreparedRequest()
        # As Session.prepare_request would: the session's headers under the request's
        # (a header set to None is left out), the method upper case.
        prepared.prepare(method=method.upper(), url=url, files=files, data=data or {},
                         params=params or {},
                         headers={k: v for k, v in merged.items() if v is not None})
        # Proxies and trust from the environment only where the session trusts it (azure-core
        # sets trust_env from the client's use_env_settings), as Session.request does.
        settings = send_settings(self, prepared.url, proxies=proxies, stream=stream,
                                 verify=verify, cert=cert)
        adapter = self.get_adapter(prepared.url or "")
        verify = settings["verify"]  # the session's (True unless set) under the request's
        response: requests.Response = adapter.send(
            prepared, stream=settings["stream"], timeout=timeout, cert=settings["cert"],
            verify=True if verify is None else verify, proxies=settings["proxies"])
        if not settings["stream"]:
            response.content  # noqa: B018 - read now, as Session.send does when not streaming
        return response


def request_id() -> str:
    """A client request id (``x-ms-client-request-id``) for a request we build. Given, it
    keeps azure-core's RequestIdPolicy from making one with ``uuid1``, which on Linux first
    asks the uuidd daemon over a socket on every call (and fails where none runs)."""
    return str(uuid.uuid4())


def storage_transport(*, use_env_settings: bool) -> RequestsTransport:
    """A transport for one storage client (it owns and closes its session)."""
    session = DirectSession()
    session.trust_env = use_env_settings
    # What azure-core mounts on a session it makes: an adapter that never retries (the
    # pipeline's retry policy does) and does not raise on a status.
    adapter = BareAdapter(max_retries=Retry(total=False, redirect=False, raise_on_status=False))
    for scheme in ("http://", "https://"):
        session.mount(scheme, adapter)
    return RequestsTransport(session=session, session_owner=True)
