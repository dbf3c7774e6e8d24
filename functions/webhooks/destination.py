"""Where webhooks may go: HTTPS only, and never to an address inside the deployment's own
network (loopback, private, link-local, shared, multicast, reserved) unless the deployment
allows it, and never to a cloud metadata endpoint.

A name is checked where it matters: the address the connection actually reached (after DNS,
so a name that resolves to 127.0.0.1, or changes its answer between the check and the
request, is refused all the same). Addresses written in the URL are also refused at once
when a subscription is saved.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPSConnectionPool

from functions.core.errors import ErrorCode, InputError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance metadata and platform endpoints: never a webhook destination, allowed or not.
METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # Azure IMDS, AWS, GCP
    "168.63.129.16",  # Azure's platform (wire server)
    "100.100.100.200",  # Alibaba Cloud
    "fd00:ec2::254",  # AWS IMDS over IPv6
))
MAX_URL = 2048


class DestinationRefused(OSError):
    """The connection reached an address webhooks must not go to."""


def refusal(address: IPAddress, allow_private: bool) -> str | None:
    """Why ``address`` is no webhook destination, if it is not."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA:
        return "a cloud metadata address"
    if allow_private:
        return None
    for kind, test in (("a loopback", address.is_loopback), ("a link-local", address.is_link_local),
                       ("a private", address.is_private), ("a multicast", address.is_multicast),
                       ("an unspecified", address.is_unspecified)):
        if test:
            return f"{kind} address"
    if not address.is_global:
        return "a reserved or shared address"
    return None


def check_url(url: str, allow_private: bool) -> str:
    """The URL if it may be a webhook destination as written.

    Raises:
        InputError: ``invalid_url`` (not an absolute https URL without credentials) or
        ``destination_refused`` (an address or local name webhooks must not go to).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InputError("url: not a valid URL", code=ErrorCode.INVALID_URL) from None
    if (len(url) > MAX_URL or parts.scheme != "https" or not parts.hostname
            or parts.username is not None or parts.password is not None or parts.fragment
            or not url.isprintable() or " " in url):
        raise InputError("url: must be an https:// URL without credentials or fragment, at "
                         f"most {MAX_URL} characters", code=ErrorCode.INVALID_URL)
    host = parts.hostname.rstrip(".")
    if port == 0:
        raise InputError("url: port 0 is not a port", code=ErrorCode.INVALID_URL)
    try:
        address: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        why = refusal(address, allow_private)
    elif not allow_private and (host == "localhost" or "." not in host
                                or host.endswith((".localhost", ".internal"))):
        why = "a local name"
    else:
        why = None
    if why:
        raise InputError(f"url: the destination is {why}; webhooks go to public HTTPS "
                         "endpoints (a deployment for local tests may allow private ones "
                         "with TENANTSYNC_WEBHOOK_ALLOW_PRIVATE)",
                         code=ErrorCode.DESTINATION_REFUSED)
    return url


def _address(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%")[0])  # without an IPv6 zone


class _GuardedConnection(HTTPSConnection):
    allow_private = False

    def _new_conn(self) -> socket.socket:
        # Every address the name resolves to is checked before any connection is made,
        # then the address the socket reached (the name may answer differently the second
        # time), before a byte of TLS or HTTP is sent.
        try:
            found = socket.getaddrinfo(self._dns_host, self.port, type=socket.SOCK_STREAM)
        except OSError:
            found = []  # left to the connection itself to fail
        for *_, sockaddr in found:
            why = refusal(_address(str(sockaddr[0])), self.allow_private)
            if why:
                raise DestinationRefused(f"the destination resolved to {why}")
        sock = super()._new_conn()
        why = refusal(_address(str(sock.getpeername()[0])), self.allow_private)
        if why:
            sock.close()
            raise DestinationRefused(f"the destination resolved to {why}")
        return sock


class _GuardedConnectionAllowingPrivate(_GuardedConnection):
    allow_private = True


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, allow_private: bool, **kwargs: Any) -> None:
        self._connection = (_GuardedConnectionAllowingPrivate if allow_private
                            else _GuardedConnection)
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        connection = self._connection

        class Pool(HTTPSConnectionPool):
            ConnectionCls = connection

        self.poolmanager.pool_classes_by_scheme = {"https": Pool}


def guarded_session(*, allow_private: bool, verify: str | bool) -> requests.Session:
    """A session that speaks only HTTPS, follows no proxy from the environment and checks
    the address of every connection it makes (raising DestinationRefused inside)."""
    session = requests.Session()
    session.trust_env = False  # no proxy or CA bundle from the environment
    session.verify = verify
    session.mount("https://", _GuardedAdapter(allow_private, pool_connections=8,
                                              pool_maxsize=16, max_retries=0))
    session.mount("http://", HTTPAdapter(max_retries=0))  # never used: URLs are https
    return session


def refused_in(exc: BaseException) -> str | None:
    """The destination guard's reason inside a requests error, if it refused."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, DestinationRefused):
            return str(current)
        reason = getattr(current, "reason", None)
        stack.extend([current.__cause__, current.__context__,
                      *(a for a in getattr(current, "args", ()) if isinstance(a, BaseException)),
                      reason if isinstance(reason, BaseException) else None])
    return None
