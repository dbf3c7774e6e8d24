"""What a Graph request carries now that it is prepared without the session's merging and
sent with the session's adapter: the token, headers and query, the environment's proxy
and the session's trust; a redirect refused, an answer cut off retried (pure: a requests
adapter that answers in place of the network)."""

from __future__ import annotations

import hashlib
import http.client
import io
from typing import Any

import pytest
import requests
import urllib3

from functions.clients.retry import RetryPolicy
from functions.clients.sender import GraphSender
from functions.core.errors import GraphError


class _Socket:
    """What http.client reads an answer from: the bytes given, then the end."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(io.BytesIO(self._data))  # type: ignore[arg-type]


class Recorder(requests.adapters.BaseAdapter):
    """Keeps each prepared request and answers each with the next of ``answers`` (status,
    headers, body; 200 with a JSON body when none is left), its body unread as an
    HTTPAdapter's is; ``cut`` answers' bodies break off after their first bytes."""

    def __init__(self, *answers: tuple[int, dict[str, str], bytes], cut: int = 0) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []
        self.settings: list[dict[str, Any]] = []  # what each send was given besides
        self._answers = list(answers)
        self._cut = cut

    def send(self, request: requests.PreparedRequest, **settings: Any) -> requests.Response:
        self.sent.append(request)
        self.settings.append(settings)
        status, headers, body = (self._answers.pop(0) if self._answers
                                 else (200, {}, b'{"value": [1, 2]}'))
        if self._cut:
            self._cut -= 1
            # The server promised more than it sent: the connection closed mid-body.
            headers = {**headers, "Content-Length": str(len(body) + 100)}
            raw = http.client.HTTPResponse(_Socket(b"HTTP/1.1 200 OK\r\n" + b"".join(
                f"{k}: {v}\r\n".encode() for k, v in headers.items()) + b"\r\n" + body))
            raw.begin()
            stream = urllib3.HTTPResponse(body=raw, headers=headers, status=status,
                                          preload_content=False, original_response=raw)
        else:
            stream = urllib3.HTTPResponse(body=io.BytesIO(body), headers=headers,
                                          status=status, preload_content=False)
        return requests.adapters.HTTPAdapter().build_response(request, stream)

    def close(self) -> None:
        pass


def _sender(recorder: Recorder | None = None) -> tuple[GraphSender, Recorder]:
    session = requests.Session()
    session.trust_env = False
    session.headers["User-Agent"] = "tenantsync-test"
    session.headers["Accept"] = "application/json"
    recorder = recorder or Recorder()
    session.mount("https://", recorder)
    return GraphSender("https://graph.example/v1.0", lambda: "T0KEN", session,
                       retry=RetryPolicy(), sleep=lambda _: None), recorder


def test_a_get_carries_the_token_the_session_headers_and_the_query() -> None:
    sender, recorder = _sender()
    digest = hashlib.sha256()
    body = sender.send("GET", "/deviceManagement/managedDevices",
                       {"$select": "id,deviceName", "$top": "1000"},
                       headers={"Accept": "application/json;odata.metadata=none"}, digest=digest)
    assert body == {"value": [1, 2]}
    assert digest.hexdigest() == hashlib.sha256(b'{"value": [1, 2]}').hexdigest()
    (sent,) = recorder.sent
    assert sent.method == "GET"
    assert sent.url == ("https://graph.example/v1.0/deviceManagement/managedDevices"
                        "?%24select=id%2CdeviceName&%24top=1000")
    assert sent.headers["Authorization"] == "Bearer T0KEN"
    assert sent.headers["User-Agent"] == "tenantsync-test"  # the session's, kept
    assert sent.headers["Accept"] == "application/json;odata.metadata=none"  # caller's wins
    assert "Cookie" not in sent.headers and "Content-Type" not in sent.headers


def test_a_post_carries_its_json_body_and_type() -> None:
    sender, recorder = _sender()
    sender.send("POST", "/$batch", body=b'{"requests": []}')
    (sent,) = recorder.sent
    assert sent.method == "POST" and sent.body == b'{"requests": []}'
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["Content-Length"] == "16"
    assert sent.headers["Authorization"] == "Bearer T0KEN"


def test_a_redirect_is_not_followed_and_names_why() -> None:
    sender, recorder = _sender(Recorder(
        (302, {"Location": "https://elsewhere.example/steal", "request-id": "r-302"}, b"")))
    with pytest.raises(GraphError) as caught:
        sender.send("GET", "/organization")
    assert caught.value.status == 302 and caught.value.request_id == "r-302"
    assert "not followed" in str(caught.value) and "T0KEN" not in str(caught.value)
    assert len(recorder.sent) == 1  # nothing went to the Location


def test_an_answer_cut_off_mid_body_is_retried_as_a_dropped_connection() -> None:
    sender, recorder = _sender(Recorder((200, {}, b'{"value": [1'), cut=1))
    assert sender.send("GET", "/organization") == {"value": [1, 2]}
    assert len(recorder.sent) == 2
    assert (sender.stats.requests, sender.stats.retries) == (2, 1)


def test_an_error_answer_is_read_once_and_its_graph_code_kept() -> None:
    error = b'{"error": {"code": "Forbidden", "message": "No permission"}}'
    sender, _ = _sender(Recorder((403, {"request-id": "r-403"}, error)))
    with pytest.raises(GraphError) as caught:
        sender.send("GET", "/deviceManagement/managedDevices")
    assert (caught.value.status, caught.value.graph_code) == (403, "Forbidden")
    assert "No permission" in str(caught.value)


def test_the_environment_s_proxy_is_used_and_the_session_s_trust_wins(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/elsewhere.pem")
    sender, recorder = _sender()
    sender._session.trust_env = True  # as TrustingSession sets it when a proxy is set
    sender._session.verify = "/etc/tenantsync/ca.pem"
    sender.send("GET", "/organization")
    (settings,) = recorder.settings
    assert settings["proxies"].get("https") == "http://proxy.example:3128"
    assert settings["verify"] == "/etc/tenantsync/ca.pem"
    assert settings["timeout"] == 60.0


def test_without_the_environment_the_session_s_own_proxies_trust_and_certificate_are_used(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://ignored.example:3128")  # trust_env is off
    sender, recorder = _sender()
    sender._session.proxies = {"https": "http://proxy.example:8080", "http": None}  # type: ignore[dict-item]
    sender._session.verify = "/etc/tenantsync/ca.pem"
    sender._session.cert = "/etc/tenantsync/client.pem"
    sender.send("GET", "/organization")
    (sent,), (settings,) = recorder.sent, recorder.settings
    assert settings["proxies"] == {"https": "http://proxy.example:8080"}  # None left out
    assert (settings["verify"], settings["cert"]) == ("/etc/tenantsync/ca.pem",
                                                      "/etc/tenantsync/client.pem")
    assert sent.url == "https://graph.example/v1.0/organization"  # no query: no "?"
