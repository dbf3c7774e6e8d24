"""What a Graph request carries now that it is prepared without the session's merging, and
when the storage clients read proxies from the environment (pure: a requests adapter that
answers in place of the network)."""

from __future__ import annotations

import hashlib
from typing import Any

import requests

from functions.clients.retry import RetryPolicy
from functions.clients.sender import GraphSender


class Recorder(requests.adapters.BaseAdapter):
    """Keeps each prepared request and answers 200 with a JSON body."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **_: Any) -> requests.Response:
        self.sent.append(request)
        response = requests.Response()
        response.status_code, response._content = 200, b'{"value": [1, 2]}'
        response.request, response.url = request, str(request.url)
        return response

    def close(self) -> None:
        pass


def _sender() -> tuple[GraphSender, Recorder]:
    session = requests.Session()
    session.trust_env = False
    session.headers["User-Agent"] = "tenantsync-test"
    session.headers["Accept"] = "application/json"
    recorder = Recorder()
    session.mount("https://", recorder)
    return GraphSender("https://graph.example/v1.0", lambda: "T0KEN", session,
                       retry=RetryPolicy()), recorder


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
