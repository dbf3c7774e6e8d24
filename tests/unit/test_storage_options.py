"""Storage clients read proxy settings from the environment only when it has some."""

from __future__ import annotations

import pytest

from functions.storage.meter import client_options
from functions.storage.transport import DirectSession

PROXIES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def test_without_proxy_variables_the_environment_is_not_scanned_on_each_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in PROXIES:
        monkeypatch.delenv(name, raising=False)
    options = client_options()
    assert options["use_env_settings"] is False
    assert callable(options["raw_request_hook"])  # still metered
    # Its own transport, whose session sends without Session.request's merging and does
    # not read the environment either.
    session = options["transport"].session
    assert isinstance(session, DirectSession) and session.trust_env is False


def test_a_proxy_variable_makes_storage_use_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in PROXIES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    options = client_options()
    assert options["use_env_settings"] is True
    assert options["transport"].session.trust_env is True
