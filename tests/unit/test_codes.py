"""Error codes have one definition and one table, and every code used is in both."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from functions.api.errors import _CUSTOM_TYPES, _FIELD_CODES, status_for, validation_code
from functions.core.codes import OUTCOMES, STANDING, exit_code, outcome
from functions.core.errors import (
    AuthenticationError,
    ConflictError,
    ErrorCode,
    GraphError,
    InputError,
    TenantSyncError,
)
from functions.core.model import Health

ROOT = Path(__file__).resolve().parents[2]


def test_every_code_has_an_outcome_and_the_table_has_no_stray_key() -> None:
    assert set(OUTCOMES) == set(ErrorCode)


def _code_literals() -> set[tuple[str, str]]:
    """Every string given as a code in the production code: ``code="..."`` arguments and
    ``*.error_code = "..."`` / ``code = "..."`` assignments."""
    found = set()
    for path in (ROOT / "functions").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            values: list[ast.expr] = []
            if isinstance(node, ast.keyword) and node.arg in ("code", "error_code"):
                values.append(node.value)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    name = target.attr if isinstance(target, ast.Attribute) else (
                        target.id if isinstance(target, ast.Name) else "")
                    if name in ("code", "error_code"):
                        values.append(node.value)
            found.update((str(path.relative_to(ROOT)), v.value) for v in values
                         if isinstance(v, ast.Constant) and isinstance(v.value, str))
    return found


def test_every_code_written_in_the_code_is_a_member_of_the_enum() -> None:
    literals = _code_literals()
    assert literals, "the scan found no code at all: it is looking in the wrong place"
    unknown = {(path, code) for path, code in literals if code not in set(ErrorCode)}
    assert not unknown


def test_an_unknown_code_fails_where_it_is_raised() -> None:
    with pytest.raises(ValueError, match="not_a_code"):
        TenantSyncError("x", code="not_a_code")


def test_the_api_validation_codes_are_codes_of_the_table() -> None:
    for code in {*_CUSTOM_TYPES, *_FIELD_CODES.values(), "invalid_json", "invalid_request"}:
        assert outcome(ErrorCode(code)).status == 400


@pytest.mark.parametrize(("errors", "code"), [
    ([{"type": "invalid_guid", "loc": ("path", "tenantId")}], "invalid_guid"),
    ([{"type": "int_parsing", "loc": ("query", "pageSize")}], "invalid_page_size"),
    ([{"type": "json_invalid", "loc": ("body",)}], "invalid_json"),
    ([{"type": "missing", "loc": ("body", "tenantId")}], "invalid_request"),
])
def test_validation_errors_map_to_one_code(errors: list[dict[str, object]], code: str) -> None:
    assert validation_code(errors) == code


def test_statuses_follow_the_kind_of_failure() -> None:
    # input and state errors are the caller's (4xx); dependencies and our own are 5xx
    assert status_for(InputError("x", code="invalid_guid")) == 400
    assert status_for(ConflictError("x", code="sync_running")) == 409
    assert status_for(AuthenticationError("x", code="invalid_secret")) == 422
    assert status_for(AuthenticationError("x", code="authority_unreachable")) == 502
    assert status_for(AuthenticationError("x", code="authority_throttled")) == 503
    assert status_for(TenantSyncError("x", code="key_vault_error")) == 503
    assert status_for(GraphError("x", status=500)) == 502
    # a throttled or unreachable dependency never says the admin's input was wrong
    for code in ("authority_unreachable", "authority_throttled", "key_vault_error",
                 "storage_unavailable", "graph_throttled", "graph_unreachable"):
        assert outcome(code).status >= 500, code


def test_standing_reasons_are_neither_failures_nor_http_successes() -> None:
    for code in ("excluded", "inactive", "unsupported"):
        assert outcome(code).health in STANDING
        assert outcome(code).status == 409


def test_runs_of_our_own_bookkeeping_leave_health_alone() -> None:
    for code in ("duplicate_delivery", "run_not_started", "enqueue_failed"):
        assert outcome(code).health is None
    assert outcome("run_abandoned").health == Health.FAILING


def test_exit_codes_say_whether_the_caller_must_change_something() -> None:
    assert exit_code("invalid_secret") == 2
    assert exit_code("unknown_tenant") == 2
    assert exit_code("configuration") == 2
    assert exit_code("storage_unavailable") == 1
    assert exit_code("authority_throttled") == 1
    assert exit_code("made_up") == 1  # not a code: an internal error
