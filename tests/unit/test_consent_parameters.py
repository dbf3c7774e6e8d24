"""The consent callback's query: only Entra's parameters, once each, in shape and size."""

from __future__ import annotations

import pytest

from functions.core.errors import InputError
from functions.onboarding.consent_state import callback_parameters

TENANT = "25b63d92-1477-5a00-9551-36a5a3eea82a"


def test_a_success_and_an_error_answer_parse() -> None:
    ok = callback_parameters(f"admin_consent=True&tenant={TENANT}&scope=https%3A%2F%2F"
                             "graph.microsoft.com%2F.default&state=c1.abc")
    assert ok["tenant"] == TENANT
    assert ok["scope"] == "https://graph.microsoft.com/.default"
    refused = callback_parameters("admin_consent=True&error=consent_required&error_description="
                                  "AADSTS65004%3A+denied.%0D%0ATrace+ID%3A+x&state=c1.abc")
    assert refused["error_description"].startswith("AADSTS65004: denied.\r\n")


@pytest.mark.parametrize("query", [
    "state=a&state=b",
    "tenant=x",
    "unknown=1",
    "error=Not-Snake",
    "error_description=%00",
    "admin_consent=yes",
    "error_uri=http://not-https.example",
    "state=" + "s" * 129,
    "x" * 9000,
    "&".join(f"state{i}=1" for i in range(20)),
])
def test_anything_else_is_invalid_request(query: str) -> None:
    with pytest.raises(InputError) as caught:
        callback_parameters(query)
    assert caught.value.code == "invalid_request"
    assert "s" * 50 not in caught.value.message
